"""The connections pages' forms: they only turn what was posted into what the connections services take.
A credential is read, handed to the service and never shown again."""

from __future__ import annotations

from typing import Any

from causeway.connections.sdk import Connector
from causeway.web.forms import ListField, PageForm, text


class ToggleForm(PageForm):
    enabled = text()

    def on(self) -> bool:
        return self.cleaned_data.get("enabled") == "1"


class DocumentForm(PageForm):
    document = text()


class ChooseForm(PageForm):
    """Which connector, and which of its auth methods, the connect form is for."""

    connector = text(strip=True)
    auth_method = text(strip=True)


class ConnectionForm(PageForm):
    """A new connection: its kind and name, the connector's settings (`setting:NAME`), the auth method's
    fields (`cred:KEY`), and the scopes and actions ticked."""

    kind = text(strip=True)
    name = text(strip=True)
    scope = ListField()
    action = ListField()

    def __init__(self, *args: Any, connector: Connector | None = None, auth: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if connector is None:
            return
        for name in connector.settings.model_fields:
            self.fields[f"setting:{name}"] = text(strip=True)
            self.renamed[f"settings.{name}"] = f"setting:{name}"
        method = connector.auth_method(auth)
        for item in method.fields if method is not None else ():
            self.fields[f"cred:{item.key}"] = text()
            self.renamed[f"credentials.{item.key}"] = f"cred:{item.key}"

    def settings(self) -> dict[str, str]:
        return {k[8:]: v for k, v in self.cleaned_data.items() if k.startswith("setting:") and v != ""}

    def credentials(self) -> dict[str, str]:
        return {k[5:]: v for k, v in self.cleaned_data.items() if k.startswith("cred:")}


class ScopesForm(PageForm):
    scope = ListField()
    action = ListField()


class LinkForm(PageForm):
    link = text()


class BudgetForm(PageForm):
    """A rate budget: requests per period; an empty limit removes it."""

    limit = text(strip=True)
    period_seconds = text(strip=True)

    @staticmethod
    def _number(value: str) -> int | str:
        return int(value) if value.isdigit() else value

    def limit_value(self) -> int | str | None:
        given = self.cleaned_data.get("limit", "")
        return self._number(given) if given else None

    def period_value(self) -> int | str:
        return self._number(self.cleaned_data.get("period_seconds", "") or "60")
