"""Connections' reads for the interfaces: the connector catalogue, connections as they may be shown
(never a credential: secret fields only say that they are set), their links and their usage history."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.connections import registry
from causeway.connections.models import (
    Connection,
    ConnectionLink,
    ConnectionUse,
    ConnectorEnablement,
    Kind,
    Outcome,
    RateBudget,
)
from causeway.connections.policy import EDIT, REVOKE, VIEW, connection_get, may, require_member
from causeway.connections.policy import visible_to as connections_visible
from causeway.connections.sdk import Connector
from causeway.workspaces.models import Workspace

MASK = "••••••••"


@dataclass(frozen=True)
class CatalogueEntry:
    connector: Connector
    enabled: bool
    # A declarative connector of this workspace, as opposed to an installed one.
    custom: bool = False


def catalogue(*, actor: Actor, workspace: Workspace) -> list[CatalogueEntry]:
    """Every installed connector, and whether it is enabled here (every member may see the catalogue)."""
    require_member(actor, workspace)
    enabled = set(
        ConnectorEnablement.objects.filter(workspace=workspace).values_list("connector_key", flat=True)
    )
    installed = registry.connectors()
    return [
        CatalogueEntry(c, c.key in enabled, c.key not in installed)
        for c in registry.for_workspace(workspace.id).values()
    ]


def enabled_connectors(*, actor: Actor, workspace: Workspace) -> list[Connector]:
    return [entry.connector for entry in catalogue(actor=actor, workspace=workspace) if entry.enabled]


@dataclass(frozen=True)
class ConnectionView:
    """A connection as the viewer may see it. `details`: whether they may see its settings,
    credentials (masked), health and usage, which for a personal connection is its owner alone."""

    connection: Connection
    connector_name: str
    owner: str
    details: bool
    may_edit: bool
    may_revoke: bool
    linked: bool
    settings: dict[str, Any]
    credentials: dict[str, str]
    scopes: list[tuple[str, str, bool]]
    actions: list[tuple[str, str, str, bool, bool]]


def _view(
    actor: Actor,
    workspace: Workspace,
    connection: Connection,
    linked: set[uuid.UUID],
    known: dict[str, Connector],
) -> ConnectionView:
    connector = known.get(connection.connector_key)
    details = may(actor, EDIT, connection, workspace) or (
        connection.kind == Kind.COMPANY and may(actor, VIEW, connection, workspace)
    )
    credentials: dict[str, str] = {}
    method = connector.auth_method(connection.auth_method) if connector else None
    if details and method is not None and may(actor, EDIT, connection, workspace):
        stored = connection.credentials or {}
        for item in method.fields:
            credentials[item.label] = MASK if item.secret else str(stored.get(item.key, ""))
    scopes = [
        (s.key, s.description, s.key in connection.granted_scopes)
        for s in (connector.scopes if connector else ())
    ]
    actions = [
        (a.key, a.name, ", ".join(sorted(a.scopes)), a.side_effects, a.key in connection.enabled_actions)
        for a in (connector.actions if connector else ())
    ]
    return ConnectionView(
        connection=connection,
        connector_name=connector.name if connector else f"{connection.connector_key} (not installed)",
        owner=connection.owner.email if connection.owner is not None else "company",
        details=details,
        may_edit=may(actor, EDIT, connection, workspace),
        may_revoke=may(actor, REVOKE, connection, workspace),
        linked=connection.id in linked,
        settings=dict(connection.settings) if details else {},
        credentials=credentials,
        scopes=scopes,
        actions=actions,
    )


def _linked(actor: Actor, connections: list[Connection]) -> set[uuid.UUID]:
    if not connections or not isinstance(actor, User):
        return set()
    links = ConnectionLink.objects.filter(connection__in=connections, user=actor)
    return set(links.values_list("connection_id", flat=True))


def connections_list(*, actor: Actor, workspace: Workspace, kind: str | None = None) -> list[ConnectionView]:
    require_member(actor, workspace)
    rows: QuerySet[Connection] = connections_visible(actor, workspace).defer("credentials")
    if kind is not None:
        rows = rows.filter(kind=kind)
    found = list(rows)
    linked = _linked(actor, found)
    known = registry.for_workspace(workspace.id)
    return [_view(actor, workspace, c, linked, known) for c in found]


def connection_detail(*, actor: Actor, workspace: Workspace, connection_id: Any) -> ConnectionView:
    connection = connection_get(actor, workspace, connection_id, need=VIEW)
    return _view(
        actor, workspace, connection, _linked(actor, [connection]), registry.for_workspace(workspace.id)
    )


def connection_uses(
    *, actor: Actor, workspace: Workspace, connection_id: Any, limit: int = 50
) -> list[ConnectionUse]:
    """The usage history: its owner's (personal), an Admin's (company)."""
    connection = connection_get(actor, workspace, connection_id, need=EDIT)
    return list(ConnectionUse.objects.filter(connection=connection).select_related("on_behalf_of")[:limit])


def _personal_uses() -> QuerySet[ConnectionUse]:
    return ConnectionUse.objects.filter(connection__kind=Kind.PERSONAL).exclude(outcome=Outcome.REFUSED)


def personal_owner_of_job(job_id: uuid.UUID) -> uuid.UUID | None:
    """The owner of a personal connection a job used (or tried), if any: that job's data is theirs alone."""
    return personal_owners_of_jobs([job_id]).get(job_id)


def personal_owners_of_jobs(job_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """`personal_owner_of_job` for many jobs in one query, whatever their number: by job, for those that
    used a personal connection. Where a job used several people's, the latest use names the owner."""
    ids = list(job_ids)
    if not ids:
        return {}
    latest = _personal_uses().filter(job_id=OuterRef("job_id")).order_by("-used_at", "-id").values("pk")[:1]
    rows = _personal_uses().filter(job_id__in=ids, pk=Subquery(latest))
    return {job: owner for job, owner in rows.values_list("job_id", "connection__owner_id") if job and owner}


def connector_budgets(*, actor: Actor, workspace: Workspace) -> dict[str, RateBudget]:
    """The workspace's connector rate budgets by connector key (every member may see them)."""
    require_member(actor, workspace)
    rows = RateBudget.objects.filter(workspace=workspace, connection=None)
    return {row.connector_key: row for row in rows}
