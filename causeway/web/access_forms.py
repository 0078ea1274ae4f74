"""The forms of the roles, groups, recipe access, environment policy and service account pages."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from causeway.web.forms import ListField, PageForm, text


class RoleForm(PageForm):
    name = text()
    permissions = ListField()
    scope = text()
    projects = ListField()
    ids = "role-%s"

    def clean_scope(self) -> bool:
        """Whether the role holds over all projects (the default) rather than chosen ones."""
        return bool(self.posted("scope", "all") == "all")

    def values(self) -> dict[str, Any]:
        """What the role service takes."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "permissions": data["permissions"],
            "all_projects": data["scope"],
            "project_ids": data["projects"],
        }

    def shown(self) -> dict[str, Any]:
        """What the page shows again in the form after a refusal."""
        data = self.cleaned_data
        return {
            "name": self["name"].value() or "",
            "permissions": self["permissions"].value() or [],
            "all_projects": data.get("scope", True),
            "projects": self["projects"].value() or [],
        }


class NameForm(PageForm):
    """A form that only names what it creates: a group, a service account."""

    name = text()


class GroupRolesForm(PageForm):
    roles = ListField()


class GroupMappingForm(PageForm):
    """A value of an identity provider's group claim, and the group it puts members into."""

    provider = text()
    claim = text()
    value = text()
    group = text()
    ids = "mapping-%s"


class GroupMemberForm(PageForm):
    """A member to add, posted as `user:<id>` or `service_account:<id>`."""

    member = text()

    def who(self) -> dict[str, str | None]:
        kind, _, ref = self.cleaned_data["member"].partition(":")
        return {
            "user": ref if kind == "user" else None,
            "service_account": ref if kind == "service_account" else None,
        }


class GrantForm(PageForm):
    GRANTEE_TYPES = (
        ("user", "User (email)"),
        ("group", "Group (name)"),
        ("service_account", "Service account (name)"),
    )
    grantee_type = text()
    grantee = text(strip=True)
    capabilities = ListField()
    ids = "id_grant_%s"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("grantee_type") not in dict(self.GRANTEE_TYPES):
            raise ValidationError({"grantee": "choose a user, a service account or a group"})
        return data

    def grantee_kwargs(self) -> dict[str, str]:
        """The grantee as the grant service takes it: `user=`, `service_account=` or `group=`."""
        return {self.cleaned_data["grantee_type"]: self.cleaned_data["grantee"]}


class CapabilitiesForm(PageForm):
    capabilities = ListField()


class EnabledForm(PageForm):
    active = text()

    def clean_active(self) -> bool:
        return self.cleaned_data.get("active") == "on"


class ServiceAccountTokenForm(PageForm):
    name = text()
    expires_in_days = text(strip=True)

    def clean_expires_in_days(self) -> int:
        # Anything but a whole number is no number of days: the service names the range it takes.
        try:
            return int(self.cleaned_data["expires_in_days"])
        except ValueError:
            return 0
