"""API operations on connectors and connections: the catalogue and its switches (Admins), connections
created, tested, changed, linked and revoked. Every answer is metadata: a credential never leaves."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.access.routes import operation
from causeway.api.schemas import ObjectId, StrictIn, WorkspaceRef, answers
from causeway.connections import budgets, declarative, selectors, services
from causeway.connections.models import ConnectionUse, RateBudget
from causeway.connections.sdk import Action, AuthMethod, Scope
from causeway.workspaces.models import Workspace

router = Router(tags=["connections"])


def _who(request: HttpRequest) -> tuple[Any, Any]:
    """The caller and the workspace `operation` checked."""
    return getattr(request, "auth"), getattr(request, "workspace")  # noqa: B009


ConnectorKey = Annotated[str, Field(max_length=40, pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class CredentialFieldOut(Schema):
    key: str
    label: str
    secret: bool
    choices: list[str]


class AuthMethodOut(Schema):
    kind: str
    label: str
    fields: list[CredentialFieldOut]


class ScopeOut(Schema):
    key: str
    description: str


class ActionOut(Schema):
    key: str
    name: str
    description: str
    scopes: list[str]
    side_effects: bool
    input_schema: dict[str, Any]

    @staticmethod
    def resolve_scopes(action: Action) -> list[str]:
        return sorted(action.scopes)

    @staticmethod
    def resolve_input_schema(action: Action) -> dict[str, Any]:
        return action.input.model_json_schema()


class ConnectorOut(Schema):
    """Built from a catalogue entry: the connector and whether it is enabled in the workspace."""

    key: str
    name: str
    description: str
    enabled: bool = Field(description="whether an Admin enabled it for this workspace")
    declarative: bool = Field(description="a declarative connector of this workspace")
    auth_methods: list[AuthMethodOut]
    settings_schema: dict[str, Any]
    scopes: list[ScopeOut]
    actions: list[ActionOut]

    @staticmethod
    def resolve_key(entry: selectors.CatalogueEntry) -> str:
        return entry.connector.key

    @staticmethod
    def resolve_name(entry: selectors.CatalogueEntry) -> str:
        return entry.connector.name

    @staticmethod
    def resolve_description(entry: selectors.CatalogueEntry) -> str:
        return entry.connector.description

    @staticmethod
    def resolve_declarative(entry: selectors.CatalogueEntry) -> bool:
        return entry.custom

    @staticmethod
    def resolve_auth_methods(entry: selectors.CatalogueEntry) -> list[AuthMethod]:
        return list(entry.connector.auth_methods)

    @staticmethod
    def resolve_settings_schema(entry: selectors.CatalogueEntry) -> dict[str, Any]:
        return entry.connector.settings.model_json_schema()

    @staticmethod
    def resolve_scopes(entry: selectors.CatalogueEntry) -> list[Scope]:
        return list(entry.connector.scopes)

    @staticmethod
    def resolve_actions(entry: selectors.CatalogueEntry) -> list[Action]:
        return list(entry.connector.actions)


def _entry(actor: Actor, workspace: Workspace, key: str) -> selectors.CatalogueEntry:
    return next(e for e in selectors.catalogue(actor=actor, workspace=workspace) if e.connector.key == key)


@router.get(
    "/workspaces/{workspace_id}/connectors",
    response=answers({200: list[ConnectorOut]}),
    summary="The connectors this installation has, and which are enabled in the workspace",
)
@operation(need=Perm.WORKSPACE_VIEW)
def connector_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[selectors.CatalogueEntry]:
    return selectors.catalogue(actor=_who(request)[0], workspace=_who(request)[1])


class EnableIn(StrictIn):
    enabled: bool


@router.put(
    "/workspaces/{workspace_id}/connectors/{connector_key}",
    response=answers({200: ConnectorOut}),
    summary="Enable or disable a connector for the workspace (Admins; audited)",
)
@operation(need=Perm.WORKSPACE_VIEW, step_up=True)
def connector_set(
    request: HttpRequest, workspace_id: WorkspaceRef, connector_key: ConnectorKey, body: EnableIn
) -> Any:
    actor, workspace = _who(request)
    services.connector_enable(actor=actor, workspace=workspace, key=connector_key, enabled=body.enabled)
    return _entry(actor, workspace, connector_key)


class CustomConnectorIn(StrictIn):
    document: str | dict[str, Any] = Field(
        description="the connector as JSON or YAML text, or as a JSON object (see the schema operation)"
    )


@router.get(
    "/workspaces/{workspace_id}/custom-connectors/schema",
    response=answers({200: dict[str, Any]}),
    summary="The JSON schema a declarative connector's document is checked against",
)
@operation(need=Perm.WORKSPACE_VIEW)
def custom_connector_schema(request: HttpRequest, workspace_id: WorkspaceRef) -> dict[str, Any]:
    return declarative.schema()


@router.post(
    "/workspaces/{workspace_id}/custom-connectors",
    response=answers({201: ConnectorOut}),
    summary="Define a declarative connector, or replace the one with its key (connection:create)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def custom_connector_save(
    request: HttpRequest, workspace_id: WorkspaceRef, body: CustomConnectorIn
) -> Status[Any]:
    actor, workspace = _who(request)
    row = services.custom_connector_save(actor=actor, workspace=workspace, document=body.document)
    return Status(201, _entry(actor, workspace, row.key))


@router.delete(
    "/workspaces/{workspace_id}/custom-connectors/{custom_key}",
    response=answers({204: None}),
    summary="Remove a declarative connector that no connection uses (connection:create)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def custom_connector_delete(
    request: HttpRequest, workspace_id: WorkspaceRef, custom_key: ConnectorKey
) -> Status[None]:
    actor, workspace = _who(request)
    services.custom_connector_delete(actor=actor, workspace=workspace, key=custom_key)
    return Status(204, None)


class ConnectionOut(Schema):
    """Built from a `ConnectionView`, which holds no credential: secret fields are masked there already."""

    id: uuid.UUID
    name: str
    kind: str
    connector: str
    connector_name: str
    auth_method: str
    owner: str = Field(description="the owner's email (personal), or `company`")
    scopes: list[str]
    enabled_actions: list[str]
    health: str
    health_message: str
    settings: dict[str, Any] = Field(description="shown to those who may change it, and for company")
    credentials: dict[str, str] = Field(description="the auth method's fields; secret ones always masked")
    linked: bool = Field(description="whether you linked it (company connections)")
    created_at: datetime
    last_used_at: datetime | None

    @staticmethod
    def resolve_id(view: selectors.ConnectionView) -> uuid.UUID:
        return view.connection.id

    @staticmethod
    def resolve_name(view: selectors.ConnectionView) -> str:
        return view.connection.name

    @staticmethod
    def resolve_kind(view: selectors.ConnectionView) -> str:
        return view.connection.kind

    @staticmethod
    def resolve_connector(view: selectors.ConnectionView) -> str:
        return view.connection.connector_key

    @staticmethod
    def resolve_auth_method(view: selectors.ConnectionView) -> str:
        return view.connection.auth_method

    @staticmethod
    def resolve_scopes(view: selectors.ConnectionView) -> list[str]:
        return list(view.connection.granted_scopes)

    @staticmethod
    def resolve_enabled_actions(view: selectors.ConnectionView) -> list[str]:
        return list(view.connection.enabled_actions) if view.details else []

    @staticmethod
    def resolve_health(view: selectors.ConnectionView) -> str:
        return view.connection.health if view.details else ""

    @staticmethod
    def resolve_health_message(view: selectors.ConnectionView) -> str:
        return view.connection.health_message if view.may_edit else ""

    @staticmethod
    def resolve_created_at(view: selectors.ConnectionView) -> datetime:
        return view.connection.created_at

    @staticmethod
    def resolve_last_used_at(view: selectors.ConnectionView) -> datetime | None:
        return view.connection.last_used_at


@router.get(
    "/workspaces/{workspace_id}/connections",
    response=answers({200: list[ConnectionOut]}),
    summary="Connections you may see: your own, the company's, and (Admins) that others' exist",
)
@operation(need=Perm.WORKSPACE_VIEW)
def connection_list(
    request: HttpRequest, workspace_id: WorkspaceRef, kind: Literal["personal", "company"] | None = None
) -> list[selectors.ConnectionView]:
    return selectors.connections_list(actor=_who(request)[0], workspace=_who(request)[1], kind=kind)


class ConnectionIn(StrictIn):
    kind: Literal["personal", "company"]
    connector: ConnectorKey
    name: str = Field(min_length=1, max_length=100)
    auth_method: str = Field(max_length=20)
    settings: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, str] = Field(default_factory=dict, description="never shown again")
    scopes: list[str] = Field(default_factory=list, description="the scopes you grant it")
    enabled_actions: list[str] | None = Field(default=None, description="omitted: every action")


@router.post(
    "/workspaces/{workspace_id}/connections",
    response=answers({201: ConnectionOut}),
    summary="Connect an account: personal (yours) or company (Admins)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def connection_create(request: HttpRequest, workspace_id: WorkspaceRef, body: ConnectionIn) -> Status[Any]:
    actor, workspace = _who(request)
    created = services.connection_create(
        actor=actor,
        workspace=workspace,
        kind=body.kind,
        connector_key=body.connector,
        name=body.name,
        auth_method=body.auth_method,
        settings=body.settings,
        credentials=body.credentials,
        scopes=body.scopes,
        enabled_actions=body.enabled_actions,
    )
    return Status(
        201, selectors.connection_detail(actor=actor, workspace=workspace, connection_id=created.id)
    )


@router.get(
    "/workspaces/{workspace_id}/connections/{connection_id}",
    response=answers({200: ConnectionOut}),
    summary="One connection (never its credentials)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def connection_get(request: HttpRequest, workspace_id: WorkspaceRef, connection_id: ObjectId) -> Any:
    return selectors.connection_detail(
        actor=_who(request)[0], workspace=_who(request)[1], connection_id=connection_id
    )


class ConnectionPatch(StrictIn):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    scopes: list[str] | None = None
    enabled_actions: list[str] | None = None
    settings: dict[str, Any] | None = None
    credentials: dict[str, str] | None = Field(default=None, description="replaces them; never shown again")


@router.patch(
    "/workspaces/{workspace_id}/connections/{connection_id}",
    response=answers({200: ConnectionOut}),
    summary="Change a connection's name, scopes, enabled actions, settings or credentials",
)
@operation(need=Perm.WORKSPACE_VIEW)
def connection_update(
    request: HttpRequest, workspace_id: WorkspaceRef, connection_id: ObjectId, body: ConnectionPatch
) -> Any:
    actor, workspace = _who(request)
    services.connection_update(
        actor=actor,
        workspace=workspace,
        connection_id=connection_id,
        name=body.name,
        scopes=body.scopes,
        enabled_actions=body.enabled_actions,
        settings=body.settings,
        credentials=body.credentials,
    )
    return selectors.connection_detail(actor=actor, workspace=workspace, connection_id=connection_id)


@router.post(
    "/workspaces/{workspace_id}/connections/{connection_id}/test",
    response=answers({200: ConnectionOut}),
    summary="Test a connection with its credentials; its health is recorded",
)
@operation(need=Perm.WORKSPACE_VIEW)
def connection_test(request: HttpRequest, workspace_id: WorkspaceRef, connection_id: ObjectId) -> Any:
    actor, workspace = _who(request)
    services.connection_test(actor=actor, workspace=workspace, connection_id=connection_id)
    return selectors.connection_detail(actor=actor, workspace=workspace, connection_id=connection_id)


@router.delete(
    "/workspaces/{workspace_id}/connections/{connection_id}",
    response=answers({204: None}),
    summary="Revoke a connection: its credentials are destroyed (its owner, or an Admin)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def connection_revoke(
    request: HttpRequest, workspace_id: WorkspaceRef, connection_id: ObjectId
) -> Status[None]:
    services.connection_revoke(
        actor=_who(request)[0], workspace=_who(request)[1], connection_id=connection_id
    )
    return Status(204, None)


@router.put(
    "/workspaces/{workspace_id}/connections/{connection_id}/link",
    response=answers({204: None}),
    summary="Link a company connection to yourself: jobs run on your behalf may use it",
)
@operation(need=Perm.WORKSPACE_VIEW)
def connection_link(
    request: HttpRequest, workspace_id: WorkspaceRef, connection_id: ObjectId
) -> Status[None]:
    services.connection_link(actor=_who(request)[0], workspace=_who(request)[1], connection_id=connection_id)
    return Status(204, None)


@router.delete(
    "/workspaces/{workspace_id}/connections/{connection_id}/link",
    response=answers({204: None}),
    summary="Unlink a company connection: jobs on your behalf stop using it at once",
)
@operation(need=Perm.WORKSPACE_VIEW)
def connection_unlink(
    request: HttpRequest, workspace_id: WorkspaceRef, connection_id: ObjectId
) -> Status[None]:
    services.connection_unlink(
        actor=_who(request)[0], workspace=_who(request)[1], connection_id=connection_id
    )
    return Status(204, None)


class UseOut(Schema):
    action: str
    job_id: uuid.UUID | None
    step_path: str
    on_behalf_of: str
    host: str
    outcome: str
    detail: str
    used_at: datetime

    @staticmethod
    def resolve_on_behalf_of(use: ConnectionUse) -> str:
        return use.on_behalf_of.email if use.on_behalf_of is not None else ""


@router.get(
    "/workspaces/{workspace_id}/connections/{connection_id}/uses",
    response=answers({200: list[UseOut]}),
    summary="A connection's usage history, newest first (its owner; Admins for company connections)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def connection_uses(
    request: HttpRequest, workspace_id: WorkspaceRef, connection_id: ObjectId
) -> list[ConnectionUse]:
    return selectors.connection_uses(
        actor=_who(request)[0], workspace=_who(request)[1], connection_id=connection_id
    )


class BudgetIn(StrictIn):
    limit: int | None = Field(
        ge=1, le=budgets.MAX_LIMIT, description="requests per period; null removes the budget"
    )
    period_seconds: int = Field(default=60, ge=1, le=budgets.MAX_PERIOD_SECONDS)


class BudgetOut(Schema):
    limit: int | None
    period_seconds: int | None


def _budget(budget: RateBudget | None) -> BudgetOut:
    if budget is None:
        return BudgetOut(limit=None, period_seconds=None)
    return BudgetOut(limit=budget.limit, period_seconds=budget.period_seconds)


@router.put(
    "/workspaces/{workspace_id}/connectors/{connector_key}/budget",
    response=answers({200: BudgetOut}),
    summary="Set the rate budget all of a connector's connections share in the workspace (Admins; audited)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def connector_budget(
    request: HttpRequest, workspace_id: WorkspaceRef, connector_key: ConnectorKey, body: BudgetIn
) -> BudgetOut:
    actor, workspace = _who(request)
    return _budget(
        budgets.connector_budget_set(
            actor=actor,
            workspace=workspace,
            key=connector_key,
            limit=body.limit,
            period_seconds=body.period_seconds,
        )
    )


@router.put(
    "/workspaces/{workspace_id}/connections/{connection_id}/budget",
    response=answers({200: BudgetOut}),
    summary="Set a connection's own rate budget (whoever may change the connection; audited)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def connection_budget(
    request: HttpRequest, workspace_id: WorkspaceRef, connection_id: ObjectId, body: BudgetIn
) -> BudgetOut:
    actor, workspace = _who(request)
    return _budget(
        budgets.connection_budget_set(
            actor=actor,
            workspace=workspace,
            connection_id=connection_id,
            limit=body.limit,
            period_seconds=body.period_seconds,
        )
    )
