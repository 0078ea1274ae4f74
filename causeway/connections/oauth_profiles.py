"""A workspace's own OAuth clients (OAuth profiles): created, changed and removed by Admins (rule 3, like
connector enablement), each audited; seen by members, who choose one when they connect. The client
secret is sealed (rule 10) and never shown or returned again (rule 13)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import httpx
from django.core.exceptions import ValidationError
from django.db import transaction

from causeway.access.errors import NotFound
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.connections import registry
from causeway.connections.models import Connection, OAuthProfile
from causeway.connections.policy import require_admin, require_member
from causeway.connections.sdk import Connector
from causeway.db import conflict_named
from causeway.vault.masking import register_value
from causeway.workspaces.models import Workspace

MAX_LOGO = 20_000
MAX_SECRET = 2_000


def _connector(workspace: Workspace, key: Any) -> Connector:
    try:
        connector = registry.get_for(workspace.id, str(key))
    except registry.UnknownConnector as exc:
        raise ValidationError({"connector": str(exc)}) from None
    if connector.auth_method("oauth2_code") is None:
        raise ValidationError({"connector": f"{connector.name} does not sign in with OAuth 2.0"})
    return connector


def _endpoint(value: Any, field: str, *, required: bool) -> str:
    if value is None or value == "":
        if required:
            raise ValidationError({field: "this field is required"})
        return ""
    try:
        url = httpx.URL(str(value).strip())
    except (httpx.InvalidURL, TypeError):
        raise ValidationError({field: "not a URL"}) from None
    if url.scheme not in ("http", "https") or not url.host or url.userinfo or url.fragment:
        raise ValidationError({field: "an https URL with a host (no credentials or fragment in it)"})
    if len(str(url)) > 500:
        raise ValidationError({field: "at most 500 characters"})
    return str(url)


def _text(value: Any, field: str, *, limit: int, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError({field: "this field is required"})
    if len(value.strip()) > limit:
        raise ValidationError({field: f"at most {limit} characters"})
    return value.strip()


def _logo(value: Any) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not value.lstrip().startswith("<svg") or len(value) > MAX_LOGO:
        raise ValidationError({"logo": f"an SVG document (<svg ...>) of at most {MAX_LOGO} characters"})
    return value.strip()


def _scopes(connector: Connector, given: Any) -> list[str]:
    if given is None:
        return []
    if isinstance(given, str) or not isinstance(given, list | tuple):
        raise ValidationError({"default_scopes": "a list of scope keys"})
    offered = [s.key for s in connector.scopes]
    unknown = sorted({str(s) for s in given} - set(offered))
    if unknown:
        raise ValidationError({"default_scopes": f"{connector.name} offers no scope {', '.join(unknown)}"})
    return [key for key in offered if key in given]


def _details(profile: OAuthProfile) -> dict[str, Any]:
    return {
        "connector": profile.connector_key,
        "client_id": profile.client_id,
        "authorize_url": profile.authorize_url,
        "token_url": profile.token_url,
        "revoke_url": profile.revoke_url,
        "default_scopes": list(profile.default_scopes),
    }


def oauth_profiles(
    *, actor: Actor, workspace: Workspace, connector_key: str | None = None
) -> list[OAuthProfile]:
    """The workspace's profiles (every member sees them, to choose one when connecting; never a secret)."""
    require_member(actor, workspace)
    rows = OAuthProfile.objects.filter(workspace=workspace).defer("client_secret")
    if connector_key is not None:
        rows = rows.filter(connector_key=connector_key)
    return list(rows)


def oauth_profile_get(*, actor: Actor, workspace: Workspace, profile_id: Any) -> OAuthProfile:
    require_member(actor, workspace)
    try:
        pk = uuid.UUID(str(profile_id))
    except ValueError:
        raise NotFound("OAuth profile") from None
    found = OAuthProfile.objects.filter(workspace=workspace, pk=pk).first()
    if found is None:
        raise NotFound("OAuth profile")
    return found


@transaction.atomic
def oauth_profile_create(
    *,
    actor: Actor,
    workspace: Workspace,
    connector_key: str,
    display_name: str,
    client_id: str,
    client_secret: str,
    authorize_url: str,
    token_url: str,
    revoke_url: str = "",
    default_scopes: Iterable[str] | None = None,
    logo: str = "",
) -> OAuthProfile:
    """A new OAuth client for a connector in this workspace (Admins; audited)."""
    require_admin(actor, workspace)
    connector = _connector(workspace, connector_key)
    profile = OAuthProfile(
        workspace=workspace,
        connector_key=connector.key,
        display_name=_text(display_name, "display_name", limit=100),
        logo=_logo(logo),
        client_id=_text(client_id, "client_id", limit=300),
        client_secret=_text(client_secret, "client_secret", limit=MAX_SECRET, required=False),
        authorize_url=_endpoint(authorize_url, "authorize_url", required=True),
        token_url=_endpoint(token_url, "token_url", required=True),
        revoke_url=_endpoint(revoke_url, "revoke_url", required=False),
        default_scopes=_scopes(connector, list(default_scopes) if default_scopes is not None else None),
        created_by=actor if isinstance(actor, User) else None,
    )
    with conflict_named(OAuthProfile, "display_name", f"a profile named {profile.display_name!r} exists"):
        profile.save(force_insert=True)
    if profile.client_secret:
        register_value(f"oauth_profile.{profile.display_name}.client_secret", profile.client_secret)
    audit_record(
        actor=actor,
        action="oauth_profile.created",
        target=profile,
        workspace_id=workspace.id,
        details=_details(profile),
    )
    return profile


@transaction.atomic
def oauth_profile_update(
    *,
    actor: Actor,
    workspace: Workspace,
    profile_id: Any,
    display_name: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    authorize_url: str | None = None,
    token_url: str | None = None,
    revoke_url: str | None = None,
    default_scopes: Iterable[str] | None = None,
    logo: str | None = None,
) -> OAuthProfile:
    """Change a profile; a given client secret replaces the old one (Admins; audited). Connections
    signed in through it keep their tokens and refresh with its new client from then on."""
    require_admin(actor, workspace)
    found = oauth_profile_get(actor=actor, workspace=workspace, profile_id=profile_id)
    profile = OAuthProfile.objects.select_for_update().get(pk=found.pk)
    connector = _connector(workspace, profile.connector_key)
    changed: list[str] = []

    def put(field: str, value: Any) -> None:
        if value != getattr(profile, field):
            setattr(profile, field, value)
            changed.append(field)

    if display_name is not None:
        put("display_name", _text(display_name, "display_name", limit=100))
    if client_id is not None:
        put("client_id", _text(client_id, "client_id", limit=300))
    if authorize_url is not None:
        put("authorize_url", _endpoint(authorize_url, "authorize_url", required=True))
    if token_url is not None:
        put("token_url", _endpoint(token_url, "token_url", required=True))
    if revoke_url is not None:
        put("revoke_url", _endpoint(revoke_url, "revoke_url", required=False))
    if default_scopes is not None:
        put("default_scopes", _scopes(connector, list(default_scopes)))
    if logo is not None:
        put("logo", _logo(logo))
    if client_secret is not None and client_secret != "":
        profile.client_secret = _text(client_secret, "client_secret", limit=MAX_SECRET)
        register_value(f"oauth_profile.{profile.display_name}.client_secret", profile.client_secret)
        changed.append("client_secret")
    if not changed:
        return profile
    with conflict_named(OAuthProfile, "display_name", f"a profile named {profile.display_name!r} exists"):
        profile.save(update_fields=[*changed, "updated_at"])
    audit_record(
        actor=actor,
        action="oauth_profile.changed",
        target=profile,
        workspace_id=workspace.id,
        details={"changed": changed, **_details(profile)},
    )
    return profile


@transaction.atomic
def oauth_profile_delete(*, actor: Actor, workspace: Workspace, profile_id: Any) -> None:
    """Remove a profile no connection signed in through (Admins; audited); its secret is destroyed."""
    require_admin(actor, workspace)
    found = oauth_profile_get(actor=actor, workspace=workspace, profile_id=profile_id)
    using = Connection.objects.filter(oauth_profile=found).count()
    if using:
        raise ValidationError({"profile": f"{using} connection(s) signed in through it: revoke them first"})
    target, details = found.audit_target, _details(found)
    found.delete()
    audit_record(
        actor=actor, action="oauth_profile.deleted", target=target, workspace_id=workspace.id, details=details
    )
