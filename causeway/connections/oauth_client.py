"""OAuth 2.0 on the client side, through Authlib: which client a connection signs in with, the token
requests (code exchange, client credentials, refresh) and RFC 7009 revocation, every one of them sent
through the outbound rules (rule 20) like any other call a connection makes.

Refreshing is where two workers meet. A provider that rotates refresh tokens honours each one once, and
may revoke the whole grant when one is spent twice; so a refresh holds the connection's row (a row lock on
PostgreSQL; on SQLite the database's single writer, taken by writing the row first), reads the tokens
again under it, and refreshes only if nobody did meanwhile. The other worker waits, then finds the new
tokens and uses them. A refresh the provider refuses marks the connection "needs re-authorisation", and
every job that needs it fails with that reason until its owner signs in again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.client import OAuth2Client
from django.conf import settings as django_settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F
from django.urls import reverse

from causeway import mail
from causeway.connections import outbound
from causeway.connections.connectors.http import base_url as http_url
from causeway.connections.models import Connection, Health, OAuthProfile
from causeway.connections.sdk import OAUTH_KINDS, ActionFailed, Connector
from causeway.vault.masking import mask_text, register_value
from causeway.workspaces.models import Workspace

# A token is refreshed this long before the provider said it expires, so no request carries one that
# dies on the way.
LEEWAY_SECONDS = 60
TOKEN_TIMEOUT = 15.0
# Provider errors that mean the grant itself is gone: only a new sign-in helps.
GRANT_GONE = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"})


class TokenAnswerRefused(Exception):
    """The token endpoint refused or answered something that is not a token; the message is safe to show."""

    def __init__(self, message: str, *, grant_gone: bool = False, transient: bool = False) -> None:
        super().__init__(message)
        self.grant_gone = grant_gone
        self.transient = transient


class ReauthorisationNeeded(ActionFailed):
    """The connection's tokens are no longer honoured: its owner signs in again."""


@dataclass(frozen=True)
class Client:
    """The OAuth client a connection signs in with: a workspace's profile, or the connector's own."""

    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    revoke_url: str
    authorize_params: tuple[tuple[str, str], ...] = ()
    profile: OAuthProfile | None = None
    client_authentication: str = "client_secret_basic"


class NoClient(LookupError):
    """Neither a profile nor a built-in client: the message says what an Admin does about it."""


def builtin_clients() -> dict[str, dict[str, str]]:
    """The installation's own clients, by connector key, from `CAUSEWAY_OAUTH_CLIENTS_FILE` (see docs)."""
    return dict(getattr(django_settings, "OAUTH_CLIENTS", {}) or {})


# `{name}` in an endpoint URL, as written or as a URL parser left it (percent-encoded braces).
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]{0,39})\}|%7B([a-z][a-z0-9_]{0,39})%7D", re.IGNORECASE)


def endpoint_for(url: str, settings: Mapping[str, Any], connector: Connector) -> str:
    """An endpoint URL with each `{setting}` it names replaced by the connection's value, URL-quoted so
    that a value can never reach another path or host; NoClient when a named setting has no value."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        given = settings.get(name)
        if given in (None, ""):
            raise NoClient(f"{connector.name}'s sign-in needs the connection's setting {name!r}")
        return quote(str(given), safe="")

    return _PLACEHOLDER.sub(value, url)


def client_for(
    workspace: Workspace,
    connector: Connector,
    profile: OAuthProfile | None,
    settings: Mapping[str, Any] | None = None,
) -> Client:
    """The client a connection signs in with; `settings` (the connection's) fill its endpoints' `{...}`."""
    oauth = connector.oauth
    if oauth is None:
        raise NoClient(f"{connector.name} does not sign in with OAuth 2.0")
    given = dict(settings or {})
    if profile is not None:
        if profile.workspace_id != workspace.id or profile.connector_key != connector.key:
            raise NoClient(f"that OAuth profile is not one of this workspace's {connector.name} profiles")
        return Client(
            client_id=profile.client_id,
            client_secret=profile.client_secret or "",
            authorize_url=endpoint_for(profile.authorize_url, given, connector),
            token_url=endpoint_for(profile.token_url, given, connector),
            revoke_url=endpoint_for(profile.revoke_url, given, connector),
            authorize_params=oauth.authorize_params,
            profile=profile,
            client_authentication=oauth.client_authentication,
        )
    own = builtin_clients().get(connector.key)
    if not own or not oauth.authorize_url or not oauth.token_url:
        raise NoClient(
            f"{connector.name} has no built-in OAuth client in this installation: an Admin adds an "
            "OAuth profile for it (client id and secret registered at the provider)"
        )
    return Client(
        client_id=own.get("client_id", ""),
        client_secret=own.get("client_secret", ""),
        authorize_url=endpoint_for(oauth.authorize_url, given, connector),
        token_url=endpoint_for(oauth.token_url, given, connector),
        revoke_url=endpoint_for(oauth.revoke_url, given, connector),
        authorize_params=oauth.authorize_params,
        client_authentication=oauth.client_authentication,
    )


class _OutboundSession:
    """What Authlib's client sends its token requests with: Causeway's outbound client for the workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def post(self, url: str, data: Any = None, headers: Any = None, auth: Any = None, **_: Any) -> Any:
        body = urlencode(list((data or {}).items()))
        sent = dict(headers or {})
        if auth is not None:
            url, sent, body = auth.prepare("POST", url, sent, body)
        return outbound.request(
            workspace=self.workspace,
            method="POST",
            url=url,
            headers=sent,
            content=body,
            timeout=TOKEN_TIMEOUT,
            carries_secrets=True,
        )


def authlib_client(
    workspace: Workspace, client: Client, *, redirect_uri: str | None = None, scope: str | None = None
) -> OAuth2Client:
    return OAuth2Client(
        _OutboundSession(workspace),
        client_id=client.client_id,
        client_secret=client.client_secret or None,
        token_endpoint_auth_method=client.client_authentication if client.client_secret else "none",
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge_method="S256",
    )


def remember(name: str, credentials: Mapping[str, str]) -> None:
    """Mask the tokens in everything this process logs or answers from now on (rule 13)."""
    for key in ("access_token", "refresh_token", "client_secret"):
        value = credentials.get(key, "")
        if value:
            register_value(f"connection.{name}.{key}", value)


def token_request(send: Callable[[], Any], connector: Connector | None = None) -> dict[str, Any]:
    """Run one Authlib token request; its answer as a dict (in RFC 6749's shape, through the connector's
    `token_answer` when it has one), or TokenAnswerRefused saying what went wrong."""
    try:
        answer = send()
    except OAuth2Error as exc:
        error = str(exc.error or "error")
        described = f": {exc.description}" if exc.description else ""
        raise TokenAnswerRefused(
            mask_text(f"the provider refused the token request ({error}{described})")[:300],
            grant_gone=error in GRANT_GONE or (connector is not None and _gone(connector, error)),
        ) from None
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        raise TokenAnswerRefused(
            f"the provider's token endpoint answered HTTP {status}", transient=status >= 500 or status == 429
        ) from None
    except ValueError:
        raise TokenAnswerRefused(
            "the provider's token endpoint answered something that is not a token"
        ) from None
    except outbound.DestinationRefused as exc:
        raise TokenAnswerRefused(str(exc)) from None
    except httpx.HTTPError as exc:
        raise TokenAnswerRefused(
            f"the provider's token endpoint could not be reached ({type(exc).__name__})", transient=True
        ) from None
    return dict(answer)


def _gone(connector: Connector, error: str) -> bool:
    return connector.oauth is not None and error in connector.oauth.grant_gone


def provider_answer(
    connector: Connector, answer: Mapping[str, Any], settings: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The token answer in RFC 6749's shape: as given, or as the connector's `token_answer` reads it."""
    adapt = connector.oauth.token_answer if connector.oauth is not None else None
    if adapt is None:
        return dict(answer)
    try:
        return dict(adapt(answer, dict(settings or {})))
    except ValueError as exc:
        raise TokenAnswerRefused(mask_text(f"the provider's token answer: {exc}")[:300]) from None


def tokens_from(
    answer: Mapping[str, Any],
    *,
    previous_refresh: str = "",
    urls: tuple[str, ...] = (),
    previous: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The credentials an OAuth connection keeps, from a token endpoint's answer (RFC 6749 section 5.1),
    with the answer's `urls` fields the connector keeps (or the `previous` ones, when a refresh leaves
    them out)."""
    access = answer.get("access_token")
    if not isinstance(access, str) or not access or len(access) > 8192:
        raise TokenAnswerRefused("the provider's token endpoint answered without an access token")
    kind = answer.get("token_type", "Bearer")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise TokenAnswerRefused(
            f"the provider gave a token of type {str(kind)[:20]!r}; Causeway sends bearer tokens"
        )
    refresh = answer.get("refresh_token") or previous_refresh
    if not isinstance(refresh, str) or len(refresh) > 8192:
        raise TokenAnswerRefused("the provider's token endpoint answered with a malformed refresh token")
    expires_in = answer.get("expires_in")
    expires_at = ""
    if expires_in not in (None, ""):
        try:
            expires_at = str(int(time.time()) + int(str(expires_in)))
        except ValueError:
            raise TokenAnswerRefused("the provider's token endpoint gave a malformed expires_in") from None
    kept = {
        "access_token": access,
        "refresh_token": refresh,
        "expires_at": expires_at,
        "token_type": "Bearer",
    }
    for name in urls:
        given = answer.get(name) or (previous or {}).get(name, "")
        if not isinstance(given, str) or not given:
            raise TokenAnswerRefused(f"the provider's token endpoint answered without {name}")
        try:
            kept[name] = http_url(given)
        except ValueError:
            raise TokenAnswerRefused(f"the provider's token endpoint gave a malformed {name}") from None
    return kept


def granted_scopes(answer: Mapping[str, Any], asked: list[str], offered: list[str]) -> list[str]:
    """What the provider granted: its `scope` answer if any (it may grant less, or nothing: an empty
    one), else what was asked (RFC 6749 section 5.1: an answer without `scope` granted what was asked)."""
    given = answer.get("scope")
    if isinstance(given, str):
        names = set(given.split())
        return [key for key in offered if key in names]
    return list(asked)


def expiring(credentials: Mapping[str, str], now: float | None = None) -> bool:
    if not credentials.get("access_token"):
        return True
    expires_at = credentials.get("expires_at", "")
    if not expires_at:
        return False
    return int(expires_at) - LEEWAY_SECONDS <= (now if now is not None else time.time())


def _lock(pk: Any) -> Connection:
    """The connection's row, held until the transaction ends, with its tokens as they are now."""
    if db_connection.vendor == "sqlite":
        # A write first: SQLite grants its one writer to this transaction before anything is read, so
        # another process's refresh waits here and then reads what this one wrote.
        Connection.objects.filter(pk=pk).update(updated_at=F("updated_at"))
    return Connection.objects.select_for_update().get(pk=pk)


def _new_tokens(workspace: Workspace, connector: Connector, connection: Connection) -> dict[str, str]:
    credentials = dict(connection.credentials or {})
    if connection.auth_method == "oauth2_client":
        client = Client(
            client_id=credentials.get("client_id", ""),
            client_secret=credentials.get("client_secret", ""),
            authorize_url="",
            token_url=_token_url(workspace, connector, connection),
            revoke_url="",
        )
        session = authlib_client(workspace, client, scope=" ".join(connection.granted_scopes) or None)
        answer = token_request(lambda: session.fetch_token(client.token_url, grant_type="client_credentials"))
        fresh = tokens_from(answer)
        fresh.pop("refresh_token", None)
        return {"client_id": client.client_id, "client_secret": client.client_secret, **fresh}
    refresh = credentials.get("refresh_token", "")
    if not refresh:
        raise TokenAnswerRefused(
            "the provider gave no refresh token, and the access token expired", grant_gone=True
        )
    try:
        client = client_for(workspace, connector, connection.oauth_profile, connection.settings)
    except NoClient as exc:
        raise TokenAnswerRefused(str(exc)) from None
    session = authlib_client(workspace, client)
    answer = token_request(lambda: session.refresh_token(client.token_url, refresh_token=refresh), connector)
    answer = provider_answer(connector, answer, connection.settings)
    urls = connector.oauth.token_urls if connector.oauth is not None else ()
    return tokens_from(answer, previous_refresh=refresh, urls=urls, previous=credentials)


def _token_url(workspace: Workspace, connector: Connector, connection: Connection) -> str:
    settings = dict(connection.settings or {})
    try:
        if connection.oauth_profile is not None:
            return endpoint_for(connection.oauth_profile.token_url, settings, connector)
        if connector.oauth is not None and connector.oauth.token_url:
            return endpoint_for(connector.oauth.token_url, settings, connector)
    except NoClient as exc:
        raise TokenAnswerRefused(str(exc)) from None
    # A connector with no endpoints of its own (the generic one) takes it from the connection's settings.
    given = (connection.settings or {}).get("token_url")
    if isinstance(given, str) and given:
        return given
    raise TokenAnswerRefused(f"{connector.name} has no token endpoint for this connection")


def fresh_credentials(
    workspace: Workspace,
    connector: Connector,
    connection: Connection,
    *,
    refused: str | None = None,
    opened: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The connection's credentials with an access token worth sending: the stored one (`opened`, when the
    job already opened them from this very row), unless it is expiring or is the one the provider just
    `refused`; then refreshed, once for every worker.

    Raises ReauthorisationNeeded (the connection is marked so) when the provider refuses the refresh,
    ActionFailed when the token endpoint cannot be reached or answers nonsense.
    """
    stored = dict(opened) if opened is not None else dict(connection.credentials or {})
    if refused is None and not expiring(stored):
        remember(connection.name, stored)
        return stored
    failure: TokenAnswerRefused | None = None
    with transaction.atomic():
        row = _lock(connection.pk)
        current = dict(row.credentials or {})
        someone_else = current.get("access_token") and current.get("access_token") != (
            refused if refused is not None else stored.get("access_token")
        )
        if row.health == Health.REAUTH:
            failure = TokenAnswerRefused("its owner has not signed in again yet", grant_gone=True)
        elif someone_else and not expiring(current):
            remember(row.name, current)
            return current
        else:
            try:
                fresh = _new_tokens(workspace, connector, row)
            except TokenAnswerRefused as exc:
                failure = exc
            else:
                row.credentials = fresh
                row.save(update_fields=["credentials", "updated_at"])
                remember(row.name, fresh)
                return fresh
        if failure.grant_gone and row.health != Health.REAUTH:
            row.health = Health.REAUTH
            row.health_message = mask_text(f"needs re-authorisation: {failure}")[:300]
            row.save(update_fields=["health", "health_message", "updated_at"])
            _reauthorisation_notice(workspace, row)
    label = f"connection {connection.name!r}"
    if failure.grant_gone:
        raise ReauthorisationNeeded(f"{label} needs re-authorisation: {failure}")
    raise ActionFailed(f"{label}: {failure}", transient=failure.transient)


def _reauthorisation_notice(workspace: Workspace, connection: Connection) -> None:
    """Tell the person who can sign the connection in again (its owner, or the Admin who set up a
    company connection), once, when it starts needing it; sent only if the change commits."""
    person = connection.owner if connection.owner_id is not None else connection.created_by
    if person is None or not person.is_active:
        return
    path = reverse("web:connection", kwargs={"workspace": workspace.slug, "connection": str(connection.pk)})
    link = django_settings.BASE_URL.rstrip("/") + path
    mail.notify(
        to=str(person.email),
        subject=f"Connection {connection.name} needs you to sign in again",
        body=(
            f"The connection {connection.name} in the workspace {workspace.name} can no longer act: "
            "the service it connects to refused to renew its access. Jobs that use it fail until "
            f"you sign in to that service again from the connection's page:\n\n{link}\n"
        ),
    )


def uses_oauth(connection: Connection) -> bool:
    return connection.auth_method in OAUTH_KINDS


def revoke_at_provider(workspace: Workspace, connector: Connector, connection: Connection) -> str:
    """RFC 7009: ask the provider to forget the connection's tokens, where it offers revocation. Returns
    what happened, as a sentence for the audit event; never raises, since disconnecting must not depend
    on the provider being up (the tokens are destroyed here either way)."""
    if connection.auth_method != "oauth2_code":
        return "nothing to revoke"
    try:
        client = client_for(workspace, connector, connection.oauth_profile, connection.settings)
    except NoClient:
        return "no OAuth client to revoke with"
    if not client.revoke_url:
        return "the provider offers no revocation"
    credentials = dict(connection.credentials or {})
    session = authlib_client(workspace, client)
    outcome = []
    for hint in ("refresh_token", "access_token"):
        token = credentials.get(hint, "")
        if not token:
            continue
        try:
            answer = session.revoke_token(client.revoke_url, token=token, token_type_hint=hint)
        except (outbound.DestinationRefused, httpx.HTTPError) as exc:
            outcome.append(f"{hint}: not reached ({type(exc).__name__})")
            continue
        outcome.append(f"{hint}: HTTP {answer.status_code}")
    return "; ".join(outcome) or "no token to revoke"
