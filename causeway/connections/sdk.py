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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict

KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

AuthKind = Literal["none", "api_key", "basic", "bearer"]


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


@dataclass(frozen=True)
class Scope:
    """A permission a connection may be granted, described for the person granting it."""

    key: str
    description: str


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

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: str | bytes | None = None,
    ) -> httpx.Response:
        """Send one request with the connection's credentials through the outbound rules."""
        sent_headers = dict(headers or {})
        sent_params = dict(params or {})
        self.authorize(sent_headers, sent_params)
        if self.idempotency_key:
            sent_headers.setdefault("Idempotency-Key", self.idempotency_key)
        try:
            self.hosts.append(httpx.URL(url).host)
        except (httpx.InvalidURL, TypeError):
            self.hosts.append("")
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

    def __init__(self, message: str, *, transient: bool = False, output: Any = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.output = output


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


@dataclass(frozen=True)
class Trigger:
    key: str
    name: str
    description: str
    kind: Literal["poll", "webhook"]
    scopes: frozenset[str] = frozenset()


class NoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


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

    def auth_method(self, kind: str) -> AuthMethod | None:
        return next((m for m in self.auth_methods if m.kind == kind), None)

    def action(self, key: str) -> Action | None:
        return next((a for a in self.actions if a.key == key), None)

    def scope(self, key: str) -> Scope | None:
        return next((s for s in self.scopes if s.key == key), None)

    def problems(self) -> list[str]:
        """What is wrong with this declaration, as sentences; empty when it may be registered."""
        found: list[str] = []
        if not KEY.match(self.key):
            found.append(f"key {self.key!r}: lower-case letters, digits and _, starting with a letter")
        if not self.auth_methods:
            found.append("at least one auth method")
        scope_keys = [s.key for s in self.scopes]
        if len(set(scope_keys)) != len(scope_keys):
            found.append("scope keys repeat")
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
            unknown = trigger.scopes - set(scope_keys)
            if unknown:
                found.append(f"trigger {trigger.key!r} needs undeclared scopes {', '.join(sorted(unknown))}")
        return found
