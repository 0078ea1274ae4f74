"""The OAuth 2.0 connect flow: a person chooses scopes, is sent to the provider, and comes back.

`oauth_start` checks everything a new connection (or a re-authorisation of one) needs, keeps what the
callback will need in the person's browser session under a fresh `state`, and answers the provider's
authorization URL (authorization code with PKCE, S256). `oauth_finish` takes the provider's redirect:
the `state` must be one this browser session started, and it is spent at once, whatever follows (single
use); then the code is exchanged for tokens at the exact redirect URI the start named, and the
connection is written with its tokens sealed (rule 10). A wrong or spent `state`, a provider's error
redirect, a token endpoint that answers an error or nonsense: each is refused with its reason, and
nothing is written.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from authlib.common.security import generate_token
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from causeway.access.errors import NotFound
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.connections import oauth_client, registry
from causeway.connections.models import Connection, Health, Kind, OAuthProfile
from causeway.connections.oauth_profiles import oauth_profile_get
from causeway.connections.policy import EDIT, connection_get, require_admin, require_personal_create
from causeway.connections.sdk import Connector
from causeway.connections.services import (
    _clean_actions,
    _clean_name,
    _clean_scopes,
    _clean_settings,
    _connector,
    _details,
    connector_enabled,
)
from causeway.vault.masking import mask_text
from causeway.workspaces.models import Workspace

SESSION_KEY = "causeway.oauth.pending"
# A sign-in left unfinished this long is forgotten; at most this many wait at once per browser session.
PENDING_SECONDS = 15 * 60
MAX_PENDING = 5


def redirect_uri(workspace: Workspace) -> str:
    """The one redirect URI for the workspace, exactly as the provider must have it registered."""
    path = reverse("web:oauth_callback", kwargs={"workspace": workspace.slug})
    return str(django_settings.BASE_URL).rstrip("/") + path


def authorize_origins(workspace: Workspace) -> list[str]:
    """The origins a connect form of this workspace may send the browser to: its OAuth profiles' and the
    installed connectors' authorization endpoints (pages add them to their CSP `form-action`)."""
    urls = list(OAuthProfile.objects.filter(workspace=workspace).values_list("authorize_url", flat=True))
    urls += [c.oauth.authorize_url for c in registry.for_workspace(workspace.id).values() if c.oauth]
    found: set[str] = set()
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            found.add(f"{parts.scheme}://{parts.netloc}")
    return sorted(found)


def _pending(session: MutableMapping[str, Any]) -> dict[str, dict[str, Any]]:
    now = time.time()
    kept = {k: v for k, v in dict(session.get(SESSION_KEY) or {}).items() if v.get("until", 0) > now}
    return kept


def oauth_start(
    *,
    actor: Actor,
    workspace: Workspace,
    session: MutableMapping[str, Any],
    connector_key: str = "",
    kind: str = Kind.PERSONAL,
    name: str = "",
    settings: Mapping[str, Any] | None = None,
    scopes: Iterable[str] | None = None,
    enabled_actions: Iterable[str] | None = None,
    profile_id: Any = None,
    connection_id: Any = None,
) -> str:
    """Begin signing in at the provider; the URL to send the browser to. With `connection_id`, the
    owner (or an Admin, for a company connection) signs an existing connection in again, with the scopes
    now chosen: the way to widen them (rule 7) or to recover one that needs re-authorisation."""
    if not isinstance(actor, User):
        raise ValidationError({"connection": "signing in at a provider is a person's act, in a browser"})
    existing: Connection | None = None
    if connection_id is not None:
        existing = connection_get(actor, workspace, connection_id, need=EDIT)
        if existing.auth_method != "oauth2_code":
            raise ValidationError({"connection": "this connection does not sign in with OAuth 2.0"})
        connector = _connector(workspace, existing.connector_key)
        kind, profile = existing.kind, existing.oauth_profile
        clean_name, clean_settings = existing.name, dict(existing.settings)
        actions = list(existing.enabled_actions)
    else:
        if kind == Kind.PERSONAL:
            require_personal_create(actor, workspace)
        elif kind == Kind.COMPANY:
            require_admin(actor, workspace)
        else:
            raise ValidationError({"kind": "personal or company"})
        connector = _connector(workspace, connector_key)
        if connector.auth_method("oauth2_code") is None:
            raise ValidationError({"auth_method": f"{connector.name} does not sign in with OAuth 2.0"})
        profile = _profile(actor, workspace, connector, profile_id)
        clean_name = _clean_name(name)
        clean_settings = _clean_settings(connector, dict(settings or {}))
        actions = _clean_actions(connector, list(enabled_actions) if enabled_actions is not None else None)
    if not connector_enabled(workspace, connector.key):
        raise ValidationError({"connector": f"{connector.name} is not enabled in this workspace"})
    asked = _clean_scopes(connector, list(scopes) if scopes is not None else None)
    try:
        client = oauth_client.client_for(workspace, connector, profile, clean_settings)
    except oauth_client.NoClient as exc:
        raise ValidationError({"profile": str(exc)}) from None
    state = generate_token(43)
    verifier = generate_token(64)
    pending = _pending(session)
    while len(pending) >= MAX_PENDING:
        pending.pop(min(pending, key=lambda k: pending[k]["until"]))
    pending[state] = {
        "user": str(actor.pk),
        "workspace": str(workspace.id),
        "connector": connector.key,
        "kind": kind,
        "name": clean_name,
        "settings": clean_settings,
        "scopes": asked,
        "actions": actions,
        "profile": str(profile.id) if profile is not None else "",
        "connection": str(existing.id) if existing is not None else "",
        "verifier": verifier,
        "until": time.time() + PENDING_SECONDS,
    }
    session[SESSION_KEY] = pending
    scope_params = connector.oauth.scope_params if connector.oauth is not None else None
    extra = dict(client.authorize_params)
    if scope_params is not None:
        extra.update(scope_params(asked, clean_settings))
    session_client = oauth_client.authlib_client(
        workspace,
        client,
        redirect_uri=redirect_uri(workspace),
        scope=None if scope_params is not None else " ".join(asked) or None,
    )
    url, _ = session_client.create_authorization_url(
        client.authorize_url, state=state, code_verifier=verifier, **extra
    )
    return str(url)


def _profile(
    actor: Actor, workspace: Workspace, connector: Connector, profile_id: Any
) -> OAuthProfile | None:
    if profile_id in (None, ""):
        return None
    try:
        found = oauth_profile_get(actor=actor, workspace=workspace, profile_id=profile_id)
    except NotFound:
        raise ValidationError({"profile": "there is no such OAuth profile in this workspace"}) from None
    if found.connector_key != connector.key:
        raise ValidationError({"profile": f"that OAuth profile is not for {connector.name}"})
    return found


def oauth_finish(
    *, actor: Actor, workspace: Workspace, session: MutableMapping[str, Any], params: Mapping[str, str]
) -> Connection:
    """Take the provider's redirect back: refused, with nothing written, for a `state` this browser did
    not start or already spent, a provider's error, or a token endpoint that answers no usable token."""
    state = str(params.get("state") or "")
    pending = _pending(session)
    started = pending.pop(state, None) if state else None
    # Spent before anything else happens, so the same redirect can never be replayed.
    session[SESSION_KEY] = pending
    if (
        started is None
        or not isinstance(actor, User)
        or started["user"] != str(actor.pk)
        or started["workspace"] != str(workspace.id)
    ):
        raise ValidationError(
            {"state": "this sign-in was not started in this browser, or was used already: start again"}
        )
    if params.get("error"):
        described = f": {params['error_description']}" if params.get("error_description") else ""
        raise ValidationError(
            {"provider": mask_text(f"the provider refused the sign-in ({params['error']}{described})")[:300]}
        )
    code = str(params.get("code") or "")
    if not code:
        raise ValidationError({"provider": "the provider sent no authorization code back"})
    connector = _connector(workspace, started["connector"])
    existing: Connection | None = None
    if started["connection"]:
        existing = connection_get(actor, workspace, started["connection"], need=EDIT)
    profile = (
        existing.oauth_profile
        if existing is not None
        else _profile(actor, workspace, connector, started["profile"])
    )
    settings = existing.settings if existing is not None else started["settings"]
    try:
        client = oauth_client.client_for(workspace, connector, profile, settings)
    except oauth_client.NoClient as exc:
        raise ValidationError({"profile": str(exc)}) from None
    session_client = oauth_client.authlib_client(workspace, client, redirect_uri=redirect_uri(workspace))
    try:
        answer = oauth_client.token_request(
            lambda: session_client.fetch_token(
                client.token_url,
                grant_type="authorization_code",
                code=code,
                code_verifier=started["verifier"],
                redirect_uri=redirect_uri(workspace),
            ),
            connector,
        )
        answer = oauth_client.provider_answer(connector, answer, settings)
        tokens = oauth_client.tokens_from(answer, urls=connector.oauth.token_urls if connector.oauth else ())
    except oauth_client.TokenAnswerRefused as exc:
        raise ValidationError({"provider": str(exc)}) from None
    offered = [s.key for s in connector.scopes]
    granted = oauth_client.granted_scopes(answer, started["scopes"], offered)
    return _save(actor, workspace, connector, started, existing, profile, tokens, granted)


@transaction.atomic
def _save(
    actor: User,
    workspace: Workspace,
    connector: Connector,
    started: Mapping[str, Any],
    existing: Connection | None,
    profile: OAuthProfile | None,
    tokens: dict[str, str],
    granted: list[str],
) -> Connection:
    signed_in = profile.display_name if profile is not None else "built-in client"
    if existing is not None:
        connection = Connection.objects.select_for_update().get(pk=existing.pk)
        connection.credentials = tokens
        connection.granted_scopes = granted
        connection.health, connection.health_message = Health.HEALTHY, "signed in again"
        connection.save(
            update_fields=["credentials", "granted_scopes", "health", "health_message", "updated_at"]
        )
        action = "connection.reauthorised"
    else:
        if started["kind"] == Kind.PERSONAL:
            require_personal_create(actor, workspace)
        else:
            require_admin(actor, workspace)
        connection = Connection(
            workspace=workspace,
            kind=started["kind"],
            owner=actor if started["kind"] == Kind.PERSONAL else None,
            name=started["name"],
            connector_key=connector.key,
            auth_method="oauth2_code",
            settings=dict(started["settings"]),
            credentials=tokens,
            granted_scopes=granted,
            enabled_actions=list(started["actions"]),
            oauth_profile=profile,
            health=Health.HEALTHY,
            health_message="signed in",
            created_by=actor,
        )
        connection.save(force_insert=True)
        action = "connection.created"
    oauth_client.remember(connection.name, tokens)
    audit_record(
        actor=actor,
        action=action,
        target=connection,
        workspace_id=workspace.id,
        details={
            **_details(connection),
            "signed_in_with": signed_in,
            "asked_scopes": list(started["scopes"]),
        },
    )
    return connection
