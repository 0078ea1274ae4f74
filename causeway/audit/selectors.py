"""Reads of the audit log: one workspace's events, filtered, and its chain's verification.

Actor labels are sealed, so the database cannot search them. The actor filter works on the chain's
distinct actors instead: the events are grouped by `actor_index` (a keyed blind index of the label,
equal for equal labels) in SQL, one label per group is opened and matched in Python, and the events
are then filtered by the matching indexes in SQL. That is exact over the whole log, however long,
and costs one decryption per distinct actor of the workspace, not one per event.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from causeway.audit.models import AuditEvent, Outcome, workspace_chain
from causeway.audit.verify import ChainReport, verify_workspace


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def audit_event_list(
    *,
    workspace_id: uuid.UUID,
    action: str = "",
    actor: str = "",
    outcome: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEvent]:
    """The workspace's events, newest first. `action` matches a prefix ("user." finds every user
    event); `actor` an actor's id exactly or part of their label in any case (see the module's note);
    `since` and `until` are days, both included."""
    if outcome and outcome not in Outcome.values:
        raise ValidationError({"outcome": f"must be one of {', '.join(Outcome.values)}"})
    if since is not None and until is not None and until < since:
        raise ValidationError({"until": "must not be before since"})
    chain = workspace_chain(workspace_id)
    events = AuditEvent.objects.filter(chain=chain)
    if action.strip():
        events = events.filter(action__startswith=action.strip())
    if actor.strip():
        term = actor.strip()
        events = events.filter(Q(actor_id=term) | Q(actor_index__in=_actor_indexes_matching(chain, term)))
    if outcome:
        events = events.filter(outcome=outcome)
    if since is not None:
        events = events.filter(occurred_at__gte=_start_of(since))
    if until is not None:
        events = events.filter(occurred_at__lt=_start_of(until + timedelta(days=1)))
    return events.order_by("-seq")


def _actor_indexes_matching(chain: str, term: str) -> list[str]:
    """The actor indexes of the chain whose label contains term, ignoring case."""
    first_of_each = (
        AuditEvent.objects.filter(chain=chain).order_by().values("actor_index").annotate(first_seq=Min("seq"))
    )
    representatives = AuditEvent.objects.filter(chain=chain, seq__in=first_of_each.values("first_seq")).only(
        "id", "workspace_id", "actor_label", "actor_index"
    )
    wanted = term.casefold()
    return [event.actor_index for event in representatives if wanted in event.actor_label.casefold()]


def audit_action_names(*, workspace_id: uuid.UUID) -> list[str]:
    """The actions that occur in the workspace's log, for the filter's suggestions."""
    names = (
        AuditEvent.objects.filter(chain=workspace_chain(workspace_id))
        .order_by("action")
        .values_list("action", flat=True)
        .distinct()
    )
    return list(names)


def audit_chain_verify(*, workspace_id: uuid.UUID) -> ChainReport:
    """Walk the workspace's chain now and report its first bad event, if any."""
    return verify_workspace(workspace_id)
