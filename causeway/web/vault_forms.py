"""The Vault page's forms. A secret's value is read, handed to the vault and never shown again."""

from __future__ import annotations

import re

from causeway.web.forms import PageForm, text

_HOST_SEPARATORS = re.compile(r"[\s,]+")


class SecretForm(PageForm):
    """A new secret (`form=new`) or a new value for one (`form=replace`, from the secret's row)."""

    form = text()
    name = text(strip=True)
    value = text()
    allowed_hosts = text()

    def replaces(self) -> bool:
        return self.cleaned_data.get("form") == "replace"

    def hosts(self) -> list[str]:
        """Host names separated by spaces or commas."""
        return [host for host in _HOST_SEPARATORS.split(self.cleaned_data["allowed_hosts"].strip()) if host]


class SecretDeleteForm(PageForm):
    name = text()
