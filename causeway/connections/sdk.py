"""The connector SDK: what one connector module declares, and what Causeway hands its actions at run time.

A connector is one module exposing a `Connector`: its key, name and icon, the auth methods it accepts
(each with the fields a person fills in, secret or not), the settings every connection of it has (a
pydantic model: a base URL, a region), the scopes it offers (each with a sentence a person
understands), its actions (typed input and output models, the scopes each needs, whether it changes
anything at the provider) and triggers, and a "test connection" call.

Causeway finds connectors through the `causeway.connectors` entry point group (see `registry`), so a
package adds one by declaring `my_key = "my_package.my_module:connector"` in that group.

An action never opens a socket itself: it is given a `Call` whose `request` goes through Causeway's
outbound rules (rule 20: destinations checked after DNS resolution and on every redirect, time-outs,
capped bodies), with the connection's credentials applied by `Call.authorize`. The credentials reach
the action only inside the `Call`, only for the action's own run, and are masked wherever they would
surface (rule 13).
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from hashlib import sha256
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict

KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

AuthKind = Literal["none", "api_key", "basic", "bearer", "oauth2_code", "oauth2_client"]
OAUTH_KINDS: frozenset[str] = frozenset({"oauth2_code", "oauth2_client"})


@dataclass(frozen=True)
class CredentialField:
    """One thing a person types when connecting: a user name, a key. `secret`: never shown again."""

    key: str
    label: str
    secret: bool = True
    # A closed set of values (an API key's placement: header or query); empty: free text.
    choices: tuple[str, ...] = ()
    default: str = ""
    help: str = ""


@dataclass(frozen=True)
class AuthMethod:
    """A way to authenticate with the provider, and the fields a connection of that kind holds."""

    kind: AuthKind
    label: str
    fields: tuple[CredentialField, ...] = ()

    def field(self, key: str) -> CredentialField | None:
        return next((f for f in self.fields if f.key == key), None)


NO_AUTH = AuthMethod("none", "No authentication")
API_KEY = AuthMethod(
    "api_key",
    "API key",
    (
        CredentialField("placement", "Sent in", secret=False, choices=("header", "query"), default="header"),
        CredentialField("name", "Header or parameter name", secret=False, default="X-API-Key"),
        CredentialField("key", "API key"),
    ),
)
BASIC = AuthMethod(
    "basic",
    "User name and password (HTTP Basic)",
    (CredentialField("username", "User name", secret=False), CredentialField("password", "Password")),
)
BEARER = AuthMethod("bearer", "Bearer token", (CredentialField("token", "Token"),))
# Signing in at the provider: nothing is typed; the tokens the provider gives are the credentials.
OAUTH2_CODE = AuthMethod("oauth2_code", "Sign in with OAuth 2.0 (authorization code with PKCE)")
# A machine's own client at the provider: its id and secret are typed; tokens are fetched with them.
OAUTH2_CLIENT = AuthMethod(
    "oauth2_client",
    "OAuth 2.0 client credentials",
    (
        CredentialField("client_id", "Client id", secret=False),
        CredentialField("client_secret", "Client secret"),
    ),
)
# What an OAuth connection keeps besides (never shown, sealed with the rest of its credentials).
TOKEN_FIELDS = ("access_token", "refresh_token", "expires_at", "token_type")


@dataclass(frozen=True)
class OAuth:
    """A connector's OAuth 2.0 endpoints. Empty URLs: the connector has no built-in client, so a
    workspace's OAuth profile gives them (the generic OAuth 2.0 connector). The scopes offered are the
    connector's `scopes`, whose keys are the provider's scope names.

    A URL may name one of the connector's settings in braces (`https://login.microsoftonline.com/
    {tenant}/oauth2/v2.0/token`): each connection's own value is put there, URL-quoted, so one client
    signs people in to the authority of the connection's tenant. A workspace's OAuth profile may do
    the same in its URLs."""

    authorize_url: str = ""
    token_url: str = ""
    # RFC 7009 revocation; empty when the provider offers none (disconnecting then only forgets).
    revoke_url: str = ""
    # Extra query parameters the provider's authorize endpoint wants (such as access_type=offline).
    authorize_params: tuple[tuple[str, str], ...] = ()
    # Fields of the token endpoint's answer kept with the tokens, each an http(s) URL (Salesforce's
    # `instance_url`, where the connection's API lives). A refresh that leaves one out keeps the old one.
    token_urls: tuple[str, ...] = ()
    # How the chosen scopes go into the authorization URL, given them and the connection's settings; by
    # default RFC 6749's space-separated `scope`. (Slack: bot scopes in `scope`, a person's in
    # `user_scope`, each comma-separated.)
    scope_params: Callable[[list[str], Mapping[str, Any]], Mapping[str, str]] | None = None
    # The token endpoint's answer in RFC 6749's shape (section 5.1: `access_token`, `token_type`,
    # space-separated `scope`, ...), for a provider that answers its own way; given the answer and the
    # connection's settings. Raises ValueError with a sentence when the answer holds no usable token.
    token_answer: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]] | None = None
    # The provider's own error codes, beyond RFC 6749's, that mean the grant is gone.
    grant_gone: frozenset[str] = frozenset()
    # How the client authenticates at the token endpoint (RFC 6749 section 2.3.1): HTTP Basic, or its id
    # and secret in the form, for a provider that takes only that (GitHub).
    client_authentication: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"


# A user name and password that a connector sends its own way (a database's or a mail server's sign-in).
USER_PASSWORD = AuthMethod("basic", "User name and password", BASIC.fields)

_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


def host_setting(value: str) -> str:
    """A server's host as a connection's setting: a host name (lower-cased) or an IP address, without a
    scheme, port or path. For connectors that reach a server by host and port (`Call.address`)."""
    text = value.strip()
    try:
        return ipaddress.ip_address(text.strip("[]")).compressed
    except ValueError:
        pass
    if not _HOST_NAME.match(text.lower()):
        raise ValueError("a host name or an IP address, without a scheme, port or path")
    return text.lower()


@dataclass(frozen=True)
class Scope:
    """A permission a connection may be granted, described for the person granting it. `implies`: the
    narrower scopes it covers at the provider (Google's `spreadsheets` covers `spreadsheets.readonly`),
    so an action needing one of those may run on a connection granted this one."""

    key: str
    description: str
    implies: tuple[str, ...] = ()


class Transport(Protocol):
    """How an action calls out: Causeway's outbound client, already bound to the workspace."""

    def __call__(
        self,
        *,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        content: str | bytes | None = None,
        json: Any = None,
        timeout: float = 30.0,
    ) -> httpx.Response: ...


@dataclass(frozen=True)
class Call:
    """What an action or a connection test is given: the connection's settings and credentials, and
    the one way to reach the provider."""

    settings: BaseModel
    auth: AuthKind
    credentials: Mapping[str, str]
    transport: Transport
    # `<job>:<step path>` for a job's step (the same on every try); empty for a connection test.
    idempotency_key: str = ""
    timeout: float = 30.0
    # The hosts this call sent requests to, for the connection's usage history.
    hosts: list[str] = field(default_factory=list)
    # Renders a template (a string, or JSON whose strings are templates) in the recipe sandbox over a
    # context: given by the job runtime to declarative connectors; None outside a job's step.
    render: Callable[[Any, dict[str, Any]], Any] | None = None
    # An OAuth connection's refresher: given the access token the provider refused, it returns fresh
    # credentials (refreshed once for every worker, under the connection's lock). None otherwise.
    refresh: Callable[[str], Mapping[str, str]] | None = None
    # Checks a host and port against the workspace's outbound rules (rule 20) and gives the address to
    # open a socket to: for connectors that speak another protocol than HTTP (a database, mail).
    resolve: Callable[[str, int, float], str] | None = None

    def address(self, host: str, port: int) -> str:
        """The checked address to connect to for host:port, resolved once so that a second lookup cannot
        send the connection elsewhere; raises the outbound rules' refusal when the host may not be
        reached. The host is recorded for the connection's usage history."""
        self.hosts.append(host)
        if self.resolve is None:
            raise ActionFailed("this call may not open connections")
        return self.resolve(host, port, self.timeout)

    def authorize(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        """Put the connection's credentials where its auth method says, in place."""
        creds = self.credentials
        if self.auth == "api_key":
            if creds.get("placement") == "query":
                params[creds.get("name") or "api_key"] = creds.get("key", "")
            else:
                headers[creds.get("name") or "X-API-Key"] = creds.get("key", "")
        elif self.auth == "basic":
            pair = f"{creds.get('username', '')}:{creds.get('password', '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        elif self.auth == "bearer":
            headers["Authorization"] = f"Bearer {creds.get('token', '')}"
        elif self.auth in OAUTH_KINDS:
            headers["Authorization"] = f"Bearer {creds.get('access_token', '')}"

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: str | bytes | None = None,
        signed: bool = True,
    ) -> httpx.Response:
        """Send one request with the connection's credentials through the outbound rules; `signed=False`
        sends it without them (to a pre-signed upload URL a provider handed out)."""
        try:
            self.hosts.append(httpx.URL(url).host)
        except (httpx.InvalidURL, TypeError):
            self.hosts.append("")
        response = self._send(method, url, headers, params, json, content, signed)
        # An OAuth provider that refuses the access token (revoked, or expired before its time) gets
        # one more try with a refreshed one; a second 401 is the provider's answer.
        if signed and response.status_code == 401 and self.renew():
            response = self._send(method, url, headers, params, json, content, signed)
        return response

    def renew(self) -> bool:
        """Refresh the OAuth access token the provider just refused, for the calls that follow; False
        when the connection has no token to refresh. For a provider that says so in its own way (Slack's
        HTTP 200 with `token_expired`); `request` does it by itself for a 401."""
        if self.refresh is None:
            return False
        refused = str(self.credentials.get("access_token", ""))
        object.__setattr__(self, "credentials", dict(self.refresh(refused)))
        return True

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
        json: Any,
        content: str | bytes | None,
        signed: bool = True,
    ) -> httpx.Response:
        sent_headers = dict(headers or {})
        sent_params = dict(params or {})
        if signed:
            self.authorize(sent_headers, sent_params)
        if self.idempotency_key:
            sent_headers.setdefault("Idempotency-Key", self.idempotency_key)
        return self.transport(
            method=method,
            url=url,
            headers=sent_headers,
            params=sent_params or None,
            json=json,
            content=content,
            timeout=self.timeout,
        )


class ActionFailed(Exception):
    """The provider refused or failed; the message is shown to people (masked). `transient`: a later
    try may succeed (a time-out, a 429 or a 5xx)."""

    def __init__(
        self, message: str, *, transient: bool = False, output: Any = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.output = output
        # The provider asked to wait this many seconds (a 429's Retry-After): the connection is paused
        # for every worker until then.
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header's delay in seconds (it may be a number or an HTTP date); None when absent or
    unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, math.ceil((when - (now or datetime.now(UTC))).total_seconds()))


class ActionInput(BaseModel):
    """Base of actions' input models: unknown fields are refused, so a typo is named, not ignored."""

    model_config = ConfigDict(extra="forbid")


class ActionOutput(BaseModel):
    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class Action:
    key: str
    name: str
    description: str
    input: type[BaseModel]
    output: type[BaseModel]
    run: Callable[[Call, Any], BaseModel]
    # Every scope here must have been granted to the connection (rule 7).
    scopes: frozenset[str] = frozenset()
    # Whether it changes anything at the provider (a write), as opposed to only reading.
    side_effects: bool = False
    # Input fields taken exactly as the recipe wrote them, never rendered as templates: a SQL text, so
    # that no value from a trigger or an earlier step is ever spliced into it (values go in parameters).
    literal: frozenset[str] = frozenset()


class NoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Cursor:
    """Where a polling trigger stopped: the value it gives the next poll (None: it started on an empty
    source, so the next poll takes everything). `inclusive`: items at exactly this value may still be new
    (the cursor moved to an item's value, and others may share it), so the next poll reads them again and
    their keys, already seen, start nothing; otherwise only items past it are new."""

    value: Any
    inclusive: bool = False


@dataclass(frozen=True)
class Found:
    """One new item a poll found. `key` is the item's identity (the same item always has the same key),
    so an item a poll sees twice starts one job; `cursor` is where the next poll starts once this item's
    job is started; `data` is the job's trigger payload."""

    key: str
    cursor: Any
    data: dict[str, Any]


@dataclass(frozen=True)
class Polled:
    """What one poll found, oldest first, and where the next poll starts once every item is handled."""

    items: list[Found]
    cursor: Cursor


@dataclass(frozen=True)
class Delivery:
    """One call a provider made to a recipe's connector webhook, as it arrived: the raw body (the bytes
    the provider signed, never re-serialised), the headers (names lower-cased), when it arrived, and what
    the check may use: the endpoint's signing secret (sealed by the vault; generated by Causeway or set
    by the recipe's editor to the one the provider issued) and the connection's settings and credentials.
    """

    body: bytes
    headers: Mapping[str, str]
    received_at: datetime
    secret: str
    settings: BaseModel
    credentials: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Accept:
    """The call is the provider's: start a job with `data` as its trigger.

    Replay protection, from what the provider gives: `delivery_id`, the provider's own id of this
    delivery (the same on its retries), starts one job however often it comes, and its repeats are
    answered with that job; `signed_at`, the time the provider signed (Unix seconds), must be within
    `tolerance_seconds` of the server's clock, either way. With neither, the same signed call is still
    accepted only once while Causeway remembers it."""

    data: dict[str, Any]
    delivery_id: str = ""
    signed_at: float | None = None
    tolerance_seconds: int = 300


@dataclass(frozen=True)
class Reply:
    """The call is the provider's, and it wants an answer at once rather than a job (a URL
    verification challenge): `body` (JSON) is sent back with `status`, and no job starts."""

    body: Any
    status: int = 200


@dataclass(frozen=True)
class Refuse:
    """The call is not the provider's, or not as it must be: answered `status` (401: not signed as the
    provider signs; 403: signed, but not allowed) with `reason`, audited, and no job starts. The reason
    is shown to the caller: say what is wrong, never what was expected."""

    reason: str
    status: Literal[401, 403] = 401


Verdict = Accept | Reply | Refuse


def signed_with(
    secret: str, message: bytes, given: str, *, encoding: Literal["hex", "base64"] = "hex"
) -> bool:
    """Whether `given` is the HMAC-SHA256 of `message` under `secret`, compared in constant time. Every
    webhook check that uses HMAC-SHA256 should compare through this, never with `==`."""
    digest = hmac.new(secret.encode(), message, sha256).digest()
    expected = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")
    candidate = given.strip()
    if encoding == "hex":
        candidate = candidate.lower()
    return hmac.compare_digest(expected.encode(), candidate.encode("utf-8", errors="replace"))


def hub_signature_refused(delivery: Delivery, header: str) -> Refuse | None:
    """The check of a delivery signed WebSub's way, `<header>: sha256=<hex HMAC-SHA256(secret, body)>` (as
    GitHub and Jira sign): None when it holds, otherwise the refusal to answer with."""
    sent = (delivery.header(header) or "").strip()
    if not sent.startswith("sha256="):
        return Refuse(f"missing or malformed {header} header: expected sha256=<hex>")
    if not signed_with(delivery.secret, delivery.body, sent.removeprefix("sha256=")):
        return Refuse("signature does not match the body")
    return None


@dataclass(frozen=True)
class Trigger:
    """A recipe trigger the connector offers. `input` is the model of what a recipe sets on it (a table,
    a cursor column).

    A `poll` trigger's `poll(call, given, after)` is called every interval with the cursor the last poll
    left (None the first time: it decides where to start) and returns what is new. Each item starts one
    job at least once and never twice, and the cursor moves past an item only with its job, so a worker
    stopped mid-poll loses nothing.

    A `webhook` trigger's `verify(delivery, given)` is called for every call to the recipe's endpoint and
    checks it as the provider signs: it returns `Accept` (start a job), `Reply` (answer at once, no job)
    or `Refuse` (401/403, audited, no job). It must not call out."""

    key: str
    name: str
    description: str
    kind: Literal["poll", "webhook"]
    scopes: frozenset[str] = frozenset()
    input: type[BaseModel] = NoSettings
    poll: Callable[[Call, Any, Cursor | None], Polled] | None = None
    verify: Callable[[Delivery, Any], Verdict] | None = None


@dataclass(frozen=True)
class Connector:
    key: str
    name: str
    description: str
    # An SVG document, shown beside the name in the catalogue.
    icon: str
    auth_methods: tuple[AuthMethod, ...]
    scopes: tuple[Scope, ...]
    actions: tuple[Action, ...]
    test: Callable[[Call], str]
    settings: type[BaseModel] = NoSettings
    triggers: tuple[Trigger, ...] = ()
    version: str = "1"
    # Required when an auth method is OAuth 2.0: its endpoints (see `OAuth`).
    oauth: OAuth | None = None

    def auth_method(self, kind: str) -> AuthMethod | None:
        return next((m for m in self.auth_methods if m.kind == kind), None)

    def action(self, key: str) -> Action | None:
        return next((a for a in self.actions if a.key == key), None)

    def trigger(self, key: str) -> Trigger | None:
        return next((t for t in self.triggers if t.key == key), None)

    def scope(self, key: str) -> Scope | None:
        return next((s for s in self.scopes if s.key == key), None)

    def covered(self, granted: Iterable[str]) -> set[str]:
        """The scopes a connection granted `granted` may act with: those, and what they imply."""
        found = set(granted)
        for key in list(found):
            declared = self.scope(key)
            if declared is not None:
                found.update(declared.implies)
        return found

    def problems(self) -> list[str]:
        """What is wrong with this declaration, as sentences; empty when it may be registered."""
        found: list[str] = []
        if not KEY.match(self.key):
            found.append(f"key {self.key!r}: lower-case letters, digits and _, starting with a letter")
        if not self.auth_methods:
            found.append("at least one auth method")
        if any(m.kind in OAUTH_KINDS for m in self.auth_methods) and self.oauth is None:
            found.append("an OAuth 2.0 auth method needs the connector's oauth endpoints")
        if self.oauth is not None:
            for name in ("authorize_url", "token_url", "revoke_url"):
                given = getattr(self.oauth, name)
                if given and not given.startswith("https://"):
                    found.append(f"oauth.{name} must be an https:// URL")
        scope_keys = [s.key for s in self.scopes]
        if len(set(scope_keys)) != len(scope_keys):
            found.append("scope keys repeat")
        for scope in self.scopes:
            unknown_implied = set(scope.implies) - set(scope_keys)
            if unknown_implied:
                found.append(
                    f"scope {scope.key!r} implies undeclared scopes {', '.join(sorted(unknown_implied))}"
                )
        action_keys = [a.key for a in self.actions]
        if len(set(action_keys)) != len(action_keys):
            found.append("action keys repeat")
        for action in self.actions:
            if not KEY.match(action.key):
                found.append(f"action {action.key!r}: not a valid key")
            unknown = action.scopes - set(scope_keys)
            if unknown:
                found.append(f"action {action.key!r} needs undeclared scopes {', '.join(sorted(unknown))}")
        for trigger in self.triggers:
            if trigger.kind == "poll" and trigger.poll is None:
                found.append(f"trigger {trigger.key!r} polls but has no poll function")
            if trigger.kind == "webhook" and trigger.verify is None:
                found.append(f"trigger {trigger.key!r} receives webhooks but has no verify function")
            unknown = trigger.scopes - set(scope_keys)
            if unknown:
                found.append(f"trigger {trigger.key!r} needs undeclared scopes {', '.join(sorted(unknown))}")
        return found
