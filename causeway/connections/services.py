"""Connections' writes: enabling connectors, creating, changing, testing, linking and revoking connections,
and resolving one for a job's step. Each checks permission itself (`connections.policy`), runs in one
transaction and records its audit event inside it; none ever returns or records a credential.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.core.exceptions import ValidationError
from django.db import IntegrityError, router, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from causeway.access import policy as access_policy
from causeway.access.errors import NotFound
from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.connections import declarative, oauth_client, outbound, registry
from causeway.connections.models import (
    Connection,
    ConnectionLink,
    ConnectionUse,
    ConnectorEnablement,
    CustomConnector,
    Health,
    Kind,
    Outcome,
)
from causeway.connections.policy import (
    EDIT,
    REVOKE,
    connection_get,
    require_admin,
    require_personal_create,
)
from causeway.connections.sdk import OAUTH_KINDS, Action, ActionFailed, AuthMethod, Call, Connector, Trigger
from causeway.db import conflict_named
from causeway.db.prepared import PreparedSelect
from causeway.vault.masking import mask_text, register_value
from causeway.workspaces.models import Membership, Workspace

MAX_NAME = 100
MAX_CREDENTIAL = 8 * 1024


def _pydantic_errors(exc: PydanticError, prefix: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        key = f"{prefix}.{where}" if where else prefix
        message = str(error["msg"]).removeprefix("Value error, ")
        found.setdefault(key, []).append(message)
    return found


def _connector(workspace: Workspace, key: Any) -> Connector:
    try:
        return registry.get_for(workspace.id, key)
    except registry.UnknownConnector as exc:
        raise ValidationError({"connector": str(exc)}) from None


def connector_enabled(workspace: Workspace, key: str) -> bool:
    return ConnectorEnablement.objects.filter(workspace=workspace, connector_key=key).exists()


# Enablement.


@transaction.atomic
def connector_enable(*, actor: Actor, workspace: Workspace, key: str, enabled: bool) -> bool:
    """Enable or disable a connector for the workspace (Admin only, audited). A disabled connector's
    connections stay, unusable, until it is enabled again."""
    require_admin(actor, workspace)
    connector = _connector(workspace, key)
    row = (
        ConnectorEnablement.objects.select_for_update().filter(workspace=workspace, connector_key=key).first()
    )
    if enabled and row is None:
        ConnectorEnablement.objects.create(
            workspace=workspace, connector_key=key, enabled_by=actor if isinstance(actor, User) else None
        )
    elif not enabled and row is not None:
        row.delete()
    else:
        return enabled
    audit_record(
        actor=actor,
        action="connector.enabled" if enabled else "connector.disabled",
        target=("connector", connector.key, connector.name),
        workspace_id=workspace.id,
    )
    return enabled


# Creating and changing.


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "a connection needs a name"})
    if len(name.strip()) > MAX_NAME:
        raise ValidationError({"name": f"at most {MAX_NAME} characters"})
    return name.strip()


def _clean_settings(connector: Connector, given: Any) -> dict[str, Any]:
    if not isinstance(given, dict):
        raise ValidationError({"settings": "an object of the connector's settings"})
    try:
        model = connector.settings.model_validate(given)
    except PydanticError as exc:
        raise ValidationError(_pydantic_errors(exc, "settings")) from None
    return model.model_dump(mode="json")


def _auth(connector: Connector, kind: Any) -> AuthMethod:
    method = connector.auth_method(kind) if isinstance(kind, str) else None
    if method is None:
        offered = ", ".join(m.kind for m in connector.auth_methods)
        raise ValidationError({"auth_method": f"{connector.name} offers {offered}"})
    return method


def _clean_credentials(method: AuthMethod, given: Any) -> dict[str, str]:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ValidationError({"credentials": "an object of the auth method's fields"})
    errors: dict[str, list[str]] = {}
    unknown = sorted(str(k) for k in given if method.field(str(k)) is None)
    if unknown:
        errors["credentials"] = [f"unknown field(s) for {method.label}: {', '.join(unknown)}"]
    cleaned: dict[str, str] = {}
    for item in method.fields:
        value = given.get(item.key)
        if value is None or value == "":
            value = item.default
        if not isinstance(value, str):
            errors.setdefault(f"credentials.{item.key}", []).append("must be text")
            continue
        if not value:
            errors.setdefault(f"credentials.{item.key}", []).append("this field is required")
        elif len(value) > MAX_CREDENTIAL:
            errors.setdefault(f"credentials.{item.key}", []).append(f"at most {MAX_CREDENTIAL} characters")
        elif item.choices and value not in item.choices:
            errors.setdefault(f"credentials.{item.key}", []).append(f"one of {', '.join(item.choices)}")
        cleaned[item.key] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_scopes(connector: Connector, given: Any) -> list[str]:
    if given is None:
        return []
    if isinstance(given, str) or not isinstance(given, list | tuple):
        raise ValidationError({"scopes": "a list of scope keys"})
    offered = [s.key for s in connector.scopes]
    unknown = sorted({str(s) for s in given} - set(offered))
    if unknown:
        raise ValidationError({"scopes": f"{connector.name} offers no scope {', '.join(unknown)}"})
    return [key for key in offered if key in given]


def _clean_actions(connector: Connector, given: Any) -> list[str]:
    offered = [a.key for a in connector.actions]
    if given is None:
        return offered
    if isinstance(given, str) or not isinstance(given, list | tuple):
        raise ValidationError({"enabled_actions": "a list of action keys"})
    unknown = sorted({str(a) for a in given} - set(offered))
    if unknown:
        raise ValidationError({"enabled_actions": f"{connector.name} has no action {', '.join(unknown)}"})
    return [key for key in offered if key in given]


def _remember_secrets(connection: Connection, method: AuthMethod, credentials: Mapping[str, str]) -> None:
    """Mask the secret fields in everything this process logs or answers from now on (rule 13)."""
    for item in method.fields:
        value = credentials.get(item.key, "")
        if item.secret and value:
            register_value(f"connection.{connection.name}.{item.key}", value)


def _details(connection: Connection) -> dict[str, Any]:
    return {
        "kind": connection.kind,
        "connector": connection.connector_key,
        "auth_method": connection.auth_method,
        "scopes": list(connection.granted_scopes),
        "enabled_actions": list(connection.enabled_actions),
        "owner": str(connection.owner_id) if connection.owner_id else None,
    }


@transaction.atomic
def connection_create(
    *,
    actor: Actor,
    workspace: Workspace,
    kind: str,
    connector_key: str,
    name: str,
    auth_method: str,
    settings: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any] | None = None,
    scopes: Iterable[str] | None = None,
    enabled_actions: Iterable[str] | None = None,
) -> Connection:
    """A personal connection (the actor's own) or a company one (Admin only)."""
    if kind == Kind.PERSONAL:
        owner: User | None = require_personal_create(actor, workspace)
    elif kind == Kind.COMPANY:
        require_admin(actor, workspace)
        owner = None
    else:
        raise ValidationError({"kind": "personal or company"})
    connector = _connector(workspace, connector_key)
    if not connector_enabled(workspace, connector.key):
        raise ValidationError({"connector": f"{connector.name} is not enabled in this workspace"})
    method = _auth(connector, auth_method)
    if method.kind == "oauth2_code":
        raise ValidationError(
            {"auth_method": f"{connector.name} signs in at the provider: use the connect flow (Sign in)"}
        )
    connection = Connection(
        workspace=workspace,
        kind=kind,
        owner=owner,
        name=_clean_name(name),
        connector_key=connector.key,
        auth_method=method.kind,
        settings=_clean_settings(connector, dict(settings or {})),
        credentials=_clean_credentials(method, dict(credentials) if credentials is not None else None),
        granted_scopes=_clean_scopes(connector, list(scopes) if scopes is not None else None),
        enabled_actions=_clean_actions(
            connector, list(enabled_actions) if enabled_actions is not None else None
        ),
        created_by=actor if isinstance(actor, User) else None,
    )
    connection.save(force_insert=True)
    _remember_secrets(connection, method, connection.credentials or {})
    audit_record(
        actor=actor,
        action="connection.created",
        target=connection,
        workspace_id=workspace.id,
        details=_details(connection),
    )
    return connection


@transaction.atomic
def connection_update(
    *,
    actor: Actor,
    workspace: Workspace,
    connection_id: Any,
    name: str | None = None,
    scopes: Iterable[str] | None = None,
    enabled_actions: Iterable[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any] | None = None,
) -> Connection:
    """Rename, change its scopes, enabled actions or settings, or replace its credentials (its owner's,
    or an Admin's for a company connection). Reduced scopes count from the very next step (rule 7)."""
    found = connection_get(actor, workspace, connection_id, need=EDIT)
    connection = Connection.objects.select_for_update().get(pk=found.pk)
    connector = _connector(workspace, connection.connector_key)
    changed: list[str] = []
    if name is not None and _clean_name(name) != connection.name:
        connection.name = _clean_name(name)
        changed.append("name")
    if scopes is not None:
        cleaned = _clean_scopes(connector, list(scopes))
        wider = sorted(set(cleaned) - set(connection.granted_scopes))
        if wider and connection.auth_method == "oauth2_code":
            # Rule 7: the provider granted what it granted; more needs the owner's consent there.
            raise ValidationError(
                {"scopes": f"adding {', '.join(wider)} needs signing in at the provider again"}
            )
        if cleaned != connection.granted_scopes:
            connection.granted_scopes = cleaned
            changed.append("granted_scopes")
    if enabled_actions is not None:
        actions = _clean_actions(connector, list(enabled_actions))
        if actions != connection.enabled_actions:
            connection.enabled_actions = actions
            changed.append("enabled_actions")
    if settings is not None:
        cleaned_settings = _clean_settings(connector, dict(settings))
        if cleaned_settings != connection.settings:
            connection.settings = cleaned_settings
            changed.append("settings")
    if credentials is not None:
        method = _auth(connector, connection.auth_method)
        if method.kind == "oauth2_code":
            raise ValidationError({"credentials": "its tokens come from the provider: sign in again instead"})
        connection.credentials = _clean_credentials(method, dict(credentials))
        _remember_secrets(connection, method, connection.credentials or {})
        connection.health, connection.health_message = Health.UNKNOWN, ""
        changed += ["credentials", "health", "health_message"]
    if not changed:
        return connection
    connection.save(update_fields=[*changed, "updated_at"])
    audit_record(
        actor=actor,
        action="connection.changed",
        target=connection,
        workspace_id=workspace.id,
        details={"changed": [c for c in changed if not c.startswith("health")], **_details(connection)},
    )
    return connection


def connection_revoke(*, actor: Actor, workspace: Workspace, connection_id: Any) -> None:
    """Destroy the connection and its credentials (its owner, or an Admin). An OAuth connection's tokens
    are first revoked at the provider where it offers revocation (RFC 7009); they are destroyed here
    whatever the provider answers. The audit log keeps the act."""
    found = connection_get(actor, workspace, connection_id, need=REVOKE)
    at_provider = ""
    if oauth_client.uses_oauth(found):
        try:
            connector = registry.get_for(workspace.id, found.connector_key)
        except registry.UnknownConnector:
            at_provider = "its connector is not installed"
        else:
            at_provider = oauth_client.revoke_at_provider(workspace, connector, found)
    _connection_destroy(actor, workspace, found, at_provider)


@transaction.atomic
def _connection_destroy(actor: Actor, workspace: Workspace, found: Connection, at_provider: str) -> None:
    details = _details(found)
    if at_provider:
        details["revoked_at_provider"] = at_provider
    target = found.audit_target
    Connection.objects.filter(pk=found.pk).delete()
    audit_record(
        actor=actor, action="connection.revoked", target=target, workspace_id=workspace.id, details=details
    )


# Linking a company connection.


def _linker(actor: Actor, workspace: Workspace, connection_id: Any) -> tuple[User, Connection]:
    if not isinstance(actor, User):
        raise ValidationError({"connection": "only a person links a company connection to themselves"})
    connection = connection_get(actor, workspace, connection_id, need=Perm.CONNECTION_VIEW)
    if connection.kind != Kind.COMPANY:
        raise ValidationError({"connection": "only a company connection is linked"})
    return actor, connection


@transaction.atomic
def connection_link(*, actor: Actor, workspace: Workspace, connection_id: Any) -> ConnectionLink:
    """The actor agrees that jobs run on their behalf may use this company connection."""
    user, connection = _linker(actor, workspace, connection_id)
    existing = ConnectionLink.objects.filter(connection=connection, user=user).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            link = ConnectionLink.objects.create(connection=connection, user=user)
    except IntegrityError:
        return ConnectionLink.objects.get(connection=connection, user=user)
    audit_record(actor=actor, action="connection.linked", target=connection, workspace_id=workspace.id)
    return link


@transaction.atomic
def connection_unlink(*, actor: Actor, workspace: Workspace, connection_id: Any) -> None:
    """Ends the actor's use of the company connection at once."""
    user, connection = _linker(actor, workspace, connection_id)
    deleted, _ = ConnectionLink.objects.filter(connection=connection, user=user).delete()
    if deleted:
        audit_record(actor=actor, action="connection.unlinked", target=connection, workspace_id=workspace.id)


# Using a connection.


def _transport(workspace: Workspace) -> Any:
    def send(**kwargs: Any) -> httpx.Response:
        return outbound.request(workspace=workspace, carries_secrets=True, **kwargs)

    return send


def _resolver(workspace: Workspace) -> Callable[[str, int, float], str]:
    def resolve(host: str, port: int, timeout: float) -> str:
        deadline = time.monotonic() + max(0.001, timeout)
        return outbound.checked_address(workspace=workspace, host=host, port=port, deadline=deadline)

    return resolve


@dataclass
class Opened:
    """What one job opened of its connections, so each is opened once however many steps use it: the
    sealed credentials by (connection, its last change: changed credentials are opened again), and the
    rate budgets that apply to each. Permission is still checked at every step."""

    credentials: dict[tuple[uuid.UUID, Any], dict[str, str]] = field(default_factory=dict)
    budgets: dict[uuid.UUID, list[Any]] = field(default_factory=dict)


def _call(
    connection: Connection,
    connector: Connector,
    workspace: Workspace,
    opened: Opened | None = None,
    **extra: Any,
) -> Call:
    """The call for one use of the connection. An OAuth connection's access token is refreshed first when
    it is about to expire, and again (once) when the provider refuses it (`Call.refresh`)."""
    method = _auth(connector, connection.auth_method)
    key = (connection.pk, connection.updated_at)
    if opened is not None and key in opened.credentials:
        credentials = opened.credentials[key]
    else:
        credentials = dict(connection.credentials or {})
        if opened is not None:
            for older in [k for k in opened.credentials if k[0] == connection.pk]:
                del opened.credentials[older]
            opened.credentials[key] = credentials
    _remember_secrets(connection, method, credentials)
    if method.kind in OAUTH_KINDS:
        # What was opened above, of this row as it is now (a refresh changes `updated_at`, so the job's
        # next step opens the new tokens), is not opened again.
        credentials = oauth_client.fresh_credentials(workspace, connector, connection, opened=credentials)

        def refresh(refused: str) -> dict[str, str]:
            return oauth_client.fresh_credentials(workspace, connector, connection, refused=refused)

        extra["refresh"] = refresh
    return Call(
        settings=connector.settings.model_validate(connection.settings),
        auth=method.kind,
        credentials=credentials,
        transport=_transport(workspace),
        resolve=_resolver(workspace),
        **extra,
    )


def _usable_call(
    connection: Connection,
    connector: Connector,
    workspace: Workspace,
    label: str,
    refused: Callable[[Connection | None, str], ConnectionRefused],
    **extra: Any,
) -> Call:
    """The call, or refused: an OAuth connection whose tokens the provider stopped honouring, or whose
    access token could not be refreshed, sends nothing."""
    if connection.health == Health.REAUTH:
        raise refused(connection, f"{label} needs re-authorisation: its owner signs in again on its page")
    try:
        return _call(connection, connector, workspace, **extra)
    except ActionFailed as exc:
        refusal = refused(connection, str(exc))
        refusal.transient = exc.transient
        raise refusal from None


def connection_test(*, actor: Actor, workspace: Workspace, connection_id: Any) -> Connection:
    """Call the connector's test with the connection's credentials and record its health. Its owner
    (personal), or an Admin (company); the command line never tests a personal connection (rule 6)."""
    found = connection_get(actor, workspace, connection_id, need=EDIT)
    connector = _connector(workspace, found.connector_key)
    if not connector_enabled(workspace, connector.key):
        raise ValidationError({"connector": f"{connector.name} is not enabled in this workspace"})
    call: Call | None = None
    try:
        call = _call(found, connector, workspace, timeout=15.0)
        message = connector.test(call)
        health = Health.HEALTHY
    except oauth_client.ReauthorisationNeeded as exc:
        health, message = Health.REAUTH, str(exc)
    except ActionFailed as exc:
        health, message = Health.FAILING, str(exc)
    except outbound.DestinationRefused as exc:
        health, message = Health.FAILING, str(exc)
    except httpx.HTTPError as exc:
        health, message = Health.FAILING, f"{type(exc).__name__}: {exc}"
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=found.pk)
        connection.health = health
        connection.health_message = mask_text(message)[:300]
        connection.health_checked_at = timezone.now()
        connection.save(update_fields=["health", "health_message", "health_checked_at"])
        audit_record(
            actor=actor,
            action="connection.tested",
            target=connection,
            workspace_id=workspace.id,
            details={"health": health},
        )
        # A test sends the credentials to the provider: one line of the usage history like any use.
        use_record(
            connection=connection,
            action="test",
            job_id=None,
            step_path="",
            on_behalf_of=actor if isinstance(actor, User) else None,
            outcome=Outcome.SUCCEEDED if health == Health.HEALTHY else Outcome.FAILED,
            host=call.hosts[-1] if call is not None and call.hosts else "",
            detail="" if health == Health.HEALTHY else message,
        )
    return connection


class ConnectionRefused(Exception):
    """The step may not use the connection; the message says why and is safe to show. `transient`: it
    may be usable on a later try (an OAuth token endpoint that could not be reached, or answered 5xx)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Resolved:
    """A connection ready for one step: the connector's action and the call that carries the credentials."""

    connection: Connection
    connector: Connector
    action: Action
    call: Call

    def describe(self) -> dict[str, Any]:
        """What the job history records of it: never a credential."""
        return {
            "id": str(self.connection.id),
            "name": self.connection.name,
            "kind": self.connection.kind,
            "connector": self.connector.key,
            "action": self.action.key,
        }


def _refuse(
    connection: Connection | None,
    reason: str,
    *,
    action: str,
    job_id: uuid.UUID | None,
    step_path: str,
    on_behalf_of: User | None,
) -> ConnectionRefused:
    if connection is not None:
        use_record(
            connection=connection,
            action=action,
            job_id=job_id,
            step_path=step_path,
            on_behalf_of=on_behalf_of,
            outcome=Outcome.REFUSED,
            detail=reason,
        )
    return ConnectionRefused(reason)


def _usable_query(
    workspace_id: uuid.UUID, pk: uuid.UUID, person: uuid.UUID, *, deferred: bool
) -> QuerySet[Connection]:
    """One query that answers every question about the connection itself (its row, its connector's
    enablement, the person's membership and link), so a step pays for one round trip."""
    rows = Connection.objects.filter(workspace_id=workspace_id, pk=pk).order_by()
    if deferred:
        rows = rows.defer("credentials")
    return rows.annotate(
        connector_on=Exists(
            ConnectorEnablement.objects.filter(
                workspace_id=workspace_id, connector_key=OuterRef("connector_key")
            )
        ),
        person_member=Exists(Membership.objects.filter(workspace_id=workspace_id, user_id=person)),
        person_linked=Exists(ConnectionLink.objects.filter(connection=OuterRef("pk"), user_id=person)),
    )


# Django builds the permission query anew for every step, and building it costs several times what the
# database takes to answer it: it is compiled once per database connection (`causeway.db.prepared`) and
# run with each step's values. The checks it makes are unchanged, asked at every step.
_USABLE = {
    deferred: PreparedSelect(
        lambda workspace, pk, person, deferred=deferred: _usable_query(
            workspace, pk, person, deferred=deferred
        ),
        workspace=uuid.UUID,
        pk=uuid.UUID,
        person=uuid.UUID,
    )
    for deferred in (False, True)
}


@dataclass(frozen=True)
class _Facts:
    """What the permission query answers besides the connection's row."""

    connector_on: bool
    person_member: bool
    person_linked: bool


def _usable_row(
    workspace_id: uuid.UUID, pk: uuid.UUID, person: uuid.UUID, *, deferred: bool
) -> tuple[Connection, _Facts] | None:
    row = _USABLE[deferred].first(
        router.db_for_read(Connection), workspace=workspace_id, pk=pk, person=person
    )
    if row is None:
        return None
    facts = _Facts(*(bool(getattr(row, name)) for name in ("connector_on", "person_member", "person_linked")))
    return row, facts


def _usable(
    *,
    workspace: Workspace,
    connection_ref: Any,
    on_behalf_of: User | None,
    refused: Callable[[Connection | None, str], ConnectionRefused],
    opened: Opened | None = None,
) -> tuple[Connection, Connector, str]:
    """The connection `connection_ref` names, if a job or trigger run on behalf of `on_behalf_of` may use
    it (rule 6, the connector's enablement, membership, links), with its connector and how to name it."""
    try:
        pk = uuid.UUID(str(connection_ref))
    except ValueError:
        pk = uuid.UUID(int=0)
    person = on_behalf_of.pk if on_behalf_of is not None else uuid.UUID(int=0)
    # Opened once per job (`_call`), not read again with every step.
    found = _usable_row(workspace.pk, pk, person, deferred=opened is not None) if pk.int else None
    if found is None:
        raise refused(None, f"there is no connection {str(connection_ref)[:40]!r} in this workspace")
    connection, facts = found
    label = f"connection {connection.name!r}"
    try:
        connector = registry.get_for(workspace.id, connection.connector_key)
    except registry.UnknownConnector:
        raise refused(connection, f"{label}: its connector is not installed") from None
    if not facts.connector_on:
        raise refused(connection, f"{label}: {connector.name} is disabled in this workspace")
    if on_behalf_of is None:
        raise refused(connection, f"{label}: this job runs on behalf of no one, so it uses no connection")
    if not facts.person_member or not on_behalf_of.is_active:
        raise refused(connection, f"{label}: the job runs for someone who is not a member here")
    if connection.kind == Kind.PERSONAL and connection.owner_id != on_behalf_of.pk:
        raise refused(
            connection,
            f"{label} is someone else's personal connection; only jobs run on its owner's behalf use it",
        )
    if connection.kind == Kind.COMPANY and not facts.person_linked:
        raise refused(
            connection, f"{label} is not linked by {on_behalf_of.email}, on whose behalf the job runs"
        )
    return connection, connector, label


def _scopes_granted(
    connection: Connection, connector: Connector, what: str, scopes: frozenset[str], label: str
) -> str | None:
    missing = sorted(scopes - connector.covered(connection.granted_scopes))
    if missing:
        return f"{label}: the {what} needs the scope(s) {', '.join(missing)}, not granted to it"
    return None


def connection_for_step(
    *,
    workspace: Workspace,
    connection_ref: Any,
    action_key: str,
    on_behalf_of: User | None,
    job_id: uuid.UUID | None,
    step_path: str,
    idempotency_key: str = "",
    timeout: float = 30.0,
    render: Callable[[Any, dict[str, Any]], Any] | None = None,
    opened: Opened | None = None,
) -> Resolved:
    """The connection a job's step names, checked before anything is sent (rules 6 and 7).

    `on_behalf_of` is the person the job runs for (see docs/connections.md). Refused, with a reason,
    and recorded as a refused use: a connection of another workspace or none; a disabled connector; a
    personal connection of anyone else; a company connection the person has not linked; a person who
    is no longer a member; an action the connection has disabled, or whose scopes it was not granted.
    """

    def refused(connection: Connection | None, reason: str) -> ConnectionRefused:
        return _refuse(
            connection,
            reason,
            action=action_key,
            job_id=job_id,
            step_path=step_path,
            on_behalf_of=on_behalf_of,
        )

    connection, connector, label = _usable(
        workspace=workspace,
        connection_ref=connection_ref,
        on_behalf_of=on_behalf_of,
        refused=refused,
        opened=opened,
    )
    action = connector.action(action_key)
    if action is None:
        raise refused(connection, f"{label}: {connector.name} has no action {action_key!r}")
    if action.key not in connection.enabled_actions:
        raise refused(connection, f"{label}: the action {action.key!r} is disabled on it")
    missing = _scopes_granted(connection, connector, f"action {action.key!r}", action.scopes, label)
    if missing:
        raise refused(connection, missing)
    call = _usable_call(
        connection,
        connector,
        workspace,
        label,
        refused,
        opened=opened,
        idempotency_key=idempotency_key,
        timeout=timeout,
        render=render,
    )
    return Resolved(connection=connection, connector=connector, action=action, call=call)


@dataclass(frozen=True)
class ResolvedTrigger:
    """A connection ready for one poll of a recipe's connector trigger."""

    connection: Connection
    connector: Connector
    trigger: Trigger
    call: Call


def connection_for_trigger(
    *,
    workspace: Workspace,
    connection_ref: Any,
    trigger_key: str,
    on_behalf_of: User | None,
    timeout: float = 30.0,
) -> ResolvedTrigger:
    """The connection a recipe's connector trigger names, checked as a step's is (rules 6 and 7) for the
    person the trigger's jobs run for: the one who saved the version being run."""

    def refused(connection: Connection | None, reason: str) -> ConnectionRefused:
        return _refuse(
            connection,
            reason,
            action=trigger_key,
            job_id=None,
            step_path="trigger",
            on_behalf_of=on_behalf_of,
        )

    connection, connector, label = _usable(
        workspace=workspace, connection_ref=connection_ref, on_behalf_of=on_behalf_of, refused=refused
    )
    trigger = connector.trigger(trigger_key)
    if trigger is None:
        raise refused(connection, f"{label}: {connector.name} has no trigger {trigger_key!r}")
    missing = _scopes_granted(connection, connector, f"trigger {trigger.key!r}", trigger.scopes, label)
    if missing:
        raise refused(connection, missing)
    call = _usable_call(connection, connector, workspace, label, refused, timeout=timeout)
    return ResolvedTrigger(connection=connection, connector=connector, trigger=trigger, call=call)


def trigger_kind(*, workspace: Workspace, connection_ref: Any, trigger_key: str) -> str | None:
    """Whether a recipe's connector trigger polls or receives webhooks ("poll", "webhook"), read from its
    connection's connector without opening anything; None when the connection or trigger is unknown."""
    try:
        pk = uuid.UUID(str(connection_ref))
    except ValueError:
        return None
    key = (
        Connection.objects.filter(workspace=workspace, pk=pk).values_list("connector_key", flat=True).first()
    )
    if key is None:
        return None
    try:
        found = registry.get_for(workspace.id, key).trigger(trigger_key)
    except registry.UnknownConnector:
        return None
    return found.kind if found is not None else None


@dataclass(frozen=True)
class ResolvedHook:
    """A connection ready to check one call to a recipe's connector webhook: nothing here calls out."""

    connection: Connection
    connector: Connector
    trigger: Trigger
    settings: BaseModel
    credentials: Mapping[str, str]


def connection_for_webhook(
    *, workspace: Workspace, connection_ref: Any, trigger_key: str, on_behalf_of: User | None
) -> ResolvedHook:
    """The connection a recipe's connector webhook trigger names, checked for every call as a step's is
    (rules 6 and 7: the connector enabled, the person the jobs run for allowed to use it, the trigger's
    scopes granted), with its settings and opened credentials for the provider's signature check. An
    OAuth connection's tokens are not refreshed here: checking a call sends nothing."""

    def refused(connection: Connection | None, reason: str) -> ConnectionRefused:
        return _refuse(
            connection,
            reason,
            action=trigger_key,
            job_id=None,
            step_path="trigger",
            on_behalf_of=on_behalf_of,
        )

    connection, connector, label = _usable(
        workspace=workspace, connection_ref=connection_ref, on_behalf_of=on_behalf_of, refused=refused
    )
    trigger = connector.trigger(trigger_key)
    if trigger is None or trigger.kind != "webhook" or trigger.verify is None:
        raise refused(connection, f"{label}: {connector.name} has no webhook trigger {trigger_key!r}")
    missing = _scopes_granted(connection, connector, f"trigger {trigger.key!r}", trigger.scopes, label)
    if missing:
        raise refused(connection, missing)
    if connection.health == Health.REAUTH:
        raise refused(connection, f"{label} needs re-authorisation: its owner signs in again on its page")
    method = _auth(connector, connection.auth_method)
    credentials = dict(connection.credentials or {})
    _remember_secrets(connection, method, credentials)
    return ResolvedHook(
        connection=connection,
        connector=connector,
        trigger=trigger,
        settings=connector.settings.model_validate(connection.settings),
        credentials=credentials,
    )


def trigger_input(resolved: ResolvedTrigger | ResolvedHook, given: Any) -> BaseModel:
    """A recipe's settings for a connector trigger checked against its model; ValidationError naming
    each field."""
    try:
        return resolved.trigger.input.model_validate(given)
    except PydanticError as exc:
        raise ValidationError(_pydantic_errors(exc, "input")) from None


def action_input(resolved: Resolved, given: Any) -> BaseModel:
    """The step's input checked against the action's model; ValidationError naming each field."""
    try:
        return resolved.action.input.model_validate(given)
    except PydanticError as exc:
        raise ValidationError(_pydantic_errors(exc, "input")) from None


def use_record(
    *,
    connection: Connection,
    action: str,
    job_id: uuid.UUID | None,
    step_path: str,
    on_behalf_of: User | None,
    outcome: str,
    host: str = "",
    detail: str = "",
) -> None:
    """One line of the connection's usage history (and its last use)."""
    ConnectionUse.objects.create(
        workspace_id=connection.workspace_id,
        connection=connection,
        action=action[:40],
        job_id=job_id,
        step_path=step_path[:200],
        on_behalf_of=on_behalf_of,
        host=host[:255],
        outcome=outcome,
        detail=mask_text(detail)[:300],
    )
    if outcome != Outcome.REFUSED:
        Connection.objects.filter(pk=connection.pk).update(last_used_at=timezone.now())


# Declarative connectors.


def _builder(actor: Actor, workspace: Workspace) -> None:
    """Building a declarative connector is `connection:create` (Analysts and Admins, rule 4); enabling it
    is the Admin's, as for every connector."""
    if not access_policy.is_system(actor):
        access_policy.require_in(actor, workspace, Perm.CONNECTION_CREATE)


@transaction.atomic
def custom_connector_save(*, actor: Actor, workspace: Workspace, document: Any) -> CustomConnector:
    """Define a declarative connector from a JSON or YAML document (text, or already-parsed JSON), or
    replace the one with its key. Refused, naming each error by its path, if it does not validate."""
    _builder(actor, workspace)
    try:
        parsed = declarative.parse(document) if isinstance(document, str) else declarative.load(document)
    except declarative.DocumentError as exc:
        raise ValidationError(exc.errors) from None
    if parsed.key in registry.connectors():
        raise ValidationError({"key": f"{parsed.key!r} is an installed connector's key; choose another"})
    normalised = parsed.model_dump(mode="json")
    row = CustomConnector.objects.select_for_update().filter(workspace=workspace, key=parsed.key).first()
    if row is None:
        with conflict_named(
            CustomConnector, "key", f"a connector {parsed.key!r} was defined at the same moment"
        ):
            row = CustomConnector.objects.create(
                workspace=workspace,
                key=parsed.key,
                document=normalised,
                created_by=actor if isinstance(actor, User) else None,
            )
        action = "connector.defined"
    else:
        row.document = normalised
        row.save(update_fields=["document", "updated_at"])
        action = "connector.redefined"
    audit_record(
        actor=actor,
        action=action,
        target=row,
        workspace_id=workspace.id,
        details={"actions": [a.key for a in parsed.actions], "base_url": parsed.base_url},
    )
    return row


@transaction.atomic
def custom_connector_delete(*, actor: Actor, workspace: Workspace, key: str) -> None:
    """Remove a declarative connector no connection uses."""
    _builder(actor, workspace)
    row = CustomConnector.objects.select_for_update().filter(workspace=workspace, key=str(key)[:40]).first()
    if row is None:
        raise NotFound("connector")
    using = Connection.objects.filter(workspace=workspace, connector_key=row.key).count()
    if using:
        raise ValidationError({"connector": f"{using} connection(s) use it: revoke them first"})
    target = row.audit_target
    ConnectorEnablement.objects.filter(workspace=workspace, connector_key=row.key).delete()
    row.delete()
    audit_record(actor=actor, action="connector.removed", target=target, workspace_id=workspace.id)
