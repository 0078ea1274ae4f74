"""The forms of the members, settings, platform and invitation pages."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from causeway.accounts.models import UserType
from causeway.web.forms import PageForm, text


class InviteForm(PageForm):
    email = text()
    role = text()
    ids = "invite-%s"


class RoleChoiceForm(PageForm):
    role = text()


class SettingsSectionForm(PageForm):
    """Which of the settings page's forms was posted."""

    section = text()

    def clean_section(self) -> str:
        return str(self.posted("section", "general"))


class WorkspaceSettingsForm(PageForm):
    name = text()
    session_timeout = text()

    def clean_session_timeout(self) -> int | None:
        raw = self.cleaned_data["session_timeout"].strip()
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            raise ValidationError("must be a whole number of minutes") from None

    mfa_required = text()

    def clean_mfa_required(self) -> bool | None:
        raw = str(self.cleaned_data["mfa_required"]).strip()
        if not raw:
            return None
        if raw not in ("yes", "no"):
            raise ValidationError("Require two-factor authentication: choose yes or no.")
        return raw == "yes"


class NotificationsForm(PageForm):
    interval_minutes = text()
    ids = "id_notify_%s"


class OutboundHostsForm(PageForm):
    outbound_hosts = text()
    service_names = {"hosts": "outbound_hosts"}

    def hosts(self) -> list[str]:
        """One host a line (commas also separate), blank lines left out."""
        raw = self.cleaned_data["outbound_hosts"]
        return [line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip()]


class PlatformInviteForm(PageForm):
    email = text()
    staff = text()
    ids = "platform-invite-%s"

    def clean_staff(self) -> str:
        return UserType.STAFF if self.cleaned_data.get("staff") == "on" else UserType.STANDARD


class WorkspaceCreateForm(PageForm):
    name = text()
    slug = text()
    admin_email = text()
    ids = "workspace-%s"


class InvitationAcceptForm(PageForm):
    """Accepting an invitation; a new account also gives its name and password (twice)."""

    first_name = text()
    last_name = text()
    password = text()
    password2 = text()

    def __init__(self, *args: Any, signing_up: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.signing_up = signing_up

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.signing_up and data.get("password") != data.get("password2"):
            self.add_error("password2", "Password (again) does not match the password.")
        return data

    def values(self) -> dict[str, str]:
        """What the service takes: the names and the password."""
        return {key: self.cleaned_data[key] for key in ("first_name", "last_name", "password")}
