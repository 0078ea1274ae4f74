"""Outbound rate budgets: at most so many requests per period through one connection, or through all of one
connector's connections in a workspace, counted in fixed periods shared by every worker process.

The counts live where the refusal throttles keep theirs (`audit.refusals.shared_count_add`: the database in
the embedded default, Redis at scale), so two workers never both take the last request of a period. A
request is taken before it is sent: each budget that applies adds one to its period's count, and a count
past the limit means "wait until the period ends". A provider's `429` with `Retry-After` pauses the
connection until then (`Connection.paused_until`), for every worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.audit.refusals import shared_count_add
from causeway.audit.services import audit_record
from causeway.connections import registry
from causeway.connections.models import Connection, RateBudget
from causeway.connections.policy import EDIT, connection_get, require_admin
from causeway.workspaces.models import Workspace

MAX_LIMIT = 1_000_000
MAX_PERIOD_SECONDS = 86_400
# A Retry-After longer than this is taken as this: a provider cannot park a connection for days.
MAX_PAUSE_SECONDS = 3_600
_GRACE = timedelta(seconds=60)


@dataclass(frozen=True)
class Wait:
    """The request may not go yet: how long to wait, and why (safe to show)."""

    seconds: float
    reason: str


def _clean(limit: Any, period_seconds: Any) -> tuple[int, int]:
    errors: dict[str, str] = {}
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        errors["limit"] = f"a whole number of requests from 1 to {MAX_LIMIT}"
    if (
        isinstance(period_seconds, bool)
        or not isinstance(period_seconds, int)
        or not 1 <= period_seconds <= MAX_PERIOD_SECONDS
    ):
        errors["period_seconds"] = f"a whole number of seconds from 1 to {MAX_PERIOD_SECONDS}"
    if errors:
        raise ValidationError(errors)
    return int(limit), int(period_seconds)


def _record(actor: Actor, workspace: Workspace, target: Any, action: str, budget: RateBudget | None) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=target,
        workspace_id=workspace.id,
        details={"limit": budget.limit, "period_seconds": budget.period_seconds}
        if budget
        else {"removed": True},
    )


@transaction.atomic
def connector_budget_set(
    *, actor: Actor, workspace: Workspace, key: str, limit: int | None, period_seconds: int | None = None
) -> RateBudget | None:
    """Set (or, with `limit` None, remove) the budget shared by all of a connector's connections in the
    workspace (Admins; audited)."""
    require_admin(actor, workspace)
    try:
        connector = registry.get_for(workspace.id, key)
    except registry.UnknownConnector as exc:
        raise ValidationError({"connector": str(exc)}) from None
    found = RateBudget.objects.select_for_update().filter(
        workspace=workspace, connector_key=connector.key, connection=None
    )
    target = ("connector", connector.key, connector.name)
    if limit is None:
        if found.delete()[0]:
            _record(actor, workspace, target, "connector.budget_changed", None)
        return None
    cleaned = _clean(limit, period_seconds)
    budget, _ = RateBudget.objects.update_or_create(
        workspace=workspace,
        connector_key=connector.key,
        connection=None,
        defaults={
            "limit": cleaned[0],
            "period_seconds": cleaned[1],
            "updated_by": actor if isinstance(actor, User) else None,
        },
    )
    _record(actor, workspace, target, "connector.budget_changed", budget)
    return budget


@transaction.atomic
def connection_budget_set(
    *,
    actor: Actor,
    workspace: Workspace,
    connection_id: Any,
    limit: int | None,
    period_seconds: int | None = None,
) -> RateBudget | None:
    """Set (or remove) one connection's own budget: whoever may change the connection (its owner, or an
    Admin for a company connection); audited."""
    connection = connection_get(actor, workspace, connection_id, need=EDIT)
    found = RateBudget.objects.select_for_update().filter(connection=connection)
    if limit is None:
        if found.delete()[0]:
            _record(actor, workspace, connection, "connection.budget_changed", None)
        return None
    cleaned = _clean(limit, period_seconds)
    budget, _ = RateBudget.objects.update_or_create(
        connection=connection,
        defaults={
            "workspace": workspace,
            "connector_key": connection.connector_key,
            "limit": cleaned[0],
            "period_seconds": cleaned[1],
            "updated_by": actor if isinstance(actor, User) else None,
        },
    )
    _record(actor, workspace, connection, "connection.budget_changed", budget)
    return budget


def budgets_of(connection: Connection) -> list[RateBudget]:
    """The budgets a request through the connection counts against: its own, and its connector's."""
    return list(
        RateBudget.objects.filter(
            Q(connection=connection)
            | Q(workspace_id=connection.workspace_id, connector_key=connection.connector_key, connection=None)
        ).order_by("connection")
    )


def _whose(budget: RateBudget, connection: Connection) -> str:
    if budget.connection_id is not None:
        return f"the rate budget of connection {connection.name!r} ({budget.describe()})"
    return f"the workspace's rate budget for {connection.connector_key} ({budget.describe()})"


def budget_take(
    *, connection: Connection, budgets: list[RateBudget], now: datetime | None = None
) -> Wait | None:
    """Take one request from every budget that applies, or say how long to wait and why.

    Counts only ever go up, so a worker whose count passed the limit simply waits for the next period;
    the limit is never exceeded within a period, whatever the number of workers.
    """
    now = now or timezone.now()
    paused = connection.paused_until
    if paused is not None and paused > now:
        return Wait(
            (paused - now).total_seconds(),
            f"connection {connection.name!r} is paused: the provider answered 429 and asked to wait until "
            f"{paused:%H:%M:%S} UTC",
        )
    for budget in budgets:
        period = budget.period_seconds
        index = int(now.timestamp()) // period
        ends = datetime.fromtimestamp((index + 1) * period, tz=now.tzinfo)
        count = shared_count_add(f"budget:{budget.id}:{index}", now=now, expires_at=ends + _GRACE)
        if count > budget.limit:
            return Wait(
                max(0.01, (ends - now).total_seconds()),
                f"waiting for {_whose(budget, connection)} until {ends:%H:%M:%S} UTC",
            )
    return None


def connection_pause(*, connection: Connection, seconds: float, now: datetime | None = None) -> datetime:
    """The provider answered 429 with Retry-After: no worker sends through the connection before then."""
    now = now or timezone.now()
    until = now + timedelta(seconds=min(max(0.0, seconds), MAX_PAUSE_SECONDS))
    Connection.objects.filter(pk=connection.pk).filter(
        Q(paused_until=None) | Q(paused_until__lt=until)
    ).update(paused_until=until)
    connection.paused_until = until
    return until
