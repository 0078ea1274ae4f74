"""Break-glass: a named person's time-limited access to PROD job data (trigger payloads, each step's
input and output), asked for with a written reason and approved by an Admin.

PROD job data is hidden from people by default, whatever their debug permission: they see that a job
ran, how it ended and why, not what it carried. A session opens it for its holder until it expires
(at most four hours after its approval). Expiry is checked at each request, against the clock, so it
ends by itself with no scheduled task. Every view during a session is audited; a request with no
session in force is refused (403) and the refusal is audited like every other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from causeway.access import policy
from causeway.access.errors import Forbidden, NotFound
from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.db import conflict
from causeway.recipes import signatures
from causeway.runs import history
from causeway.runs.models import BreakGlass
from causeway.workspaces.models import Workspace

MAX_MINUTES = 240
GUARDED_ENVIRONMENTS = frozenset({"prod"})
BREAK_GLASS = "break_glass"  # what a refusal names: no session in force
HIDDEN = "[hidden: PROD job data; ask for break-glass access to see it]"


def _person(actor: Actor) -> User:
    if not isinstance(actor, User):
        raise Forbidden(BREAK_GLASS, detail="break-glass access is for a named person")
    return actor


@transaction.atomic
def break_glass_request(*, actor: Actor, workspace: Workspace, reason: Any, minutes: Any) -> BreakGlass:
    """Ask for access to PROD job data for `minutes` (1 to 240), saying why. Where the workspace
    allows it, the request approves itself at once and is flagged as self-approved."""
    person = _person(actor)
    policy.require_in(person, workspace, Perm.WORKSPACE_VIEW)
    text = str(reason or "").strip()
    if len(text) < 10:
        raise ValidationError({"reason": "say why, in at least 10 characters"})
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_MINUTES:
        raise ValidationError({"minutes": f"must be a whole number of minutes from 1 to {MAX_MINUTES}"})
    session = BreakGlass.objects.create(workspace=workspace, user=person, reason=text[:1000], minutes=minutes)
    audit_record(
        actor=person,
        action="break_glass.requested",
        target=session,
        workspace_id=workspace.id,
        details={"minutes": minutes, "reason": session.reason},
    )
    if Workspace.objects.filter(pk=workspace.pk, break_glass_self_approval=True).exists():
        _approve(session, approver=person, self_approved=True)
    return session


def _approve(session: BreakGlass, *, approver: User, self_approved: bool) -> None:
    now = timezone.now()
    session.status = BreakGlass.APPROVED
    session.approved_by = approver
    session.self_approved = self_approved
    session.approved_at = now
    session.expires_at = now + timedelta(minutes=session.minutes)
    session.save(update_fields=["status", "approved_by", "self_approved", "approved_at", "expires_at"])
    audit_record(
        actor=approver,
        action="break_glass.approved",
        target=session,
        workspace_id=session.workspace_id,
        details={
            "holder": session.user.email if session.user else "",
            "expires_at": session.expires_at.isoformat(),
            "self_approved": self_approved,
        },
    )


@transaction.atomic
def break_glass_approve(*, actor: Actor, session: BreakGlass) -> BreakGlass:
    """An Admin approves a request: the session runs from now for the minutes asked. Approving one's
    own request is self-approval: only where the workspace allows it, and flagged."""
    locked = _locked(session)
    policy.require_in(actor, locked.workspace, Perm.WORKSPACE_SETTINGS)
    approver = _person(actor)
    _waiting(locked, "approved")
    own = locked.user_id == approver.pk
    if own and not locked.workspace.break_glass_self_approval:
        raise Forbidden(
            BREAK_GLASS,
            workspace=locked.workspace,
            detail="another Admin approves your break-glass request: this workspace allows no self-approval",
        )
    _approve(locked, approver=approver, self_approved=own)
    return locked


def _locked(session: BreakGlass) -> BreakGlass:
    return (
        BreakGlass.objects.select_for_update(of=("self",))
        .select_related("workspace", "user")
        .get(pk=session.pk)
    )


def _close(session: BreakGlass, *, actor: Actor, status: str, action: str) -> BreakGlass:
    now = timezone.now()
    session.status = status
    session.closed_by = actor if isinstance(actor, User) else None
    session.closed_label = signatures.approver_label(actor)[:320]
    session.closed_at = now
    fields = ["status", "closed_by", "closed_label", "closed_at"]
    if status == BreakGlass.ENDED:
        # The page and the API show when access really ended.
        session.expires_at = now
        fields.append("expires_at")
    session.save(update_fields=fields)
    audit_record(
        actor=actor,
        action=action,
        target=session,
        workspace_id=session.workspace_id,
        details={"holder": session.user.email if session.user else "", "by": session.closed_label},
    )
    return session


def _waiting(session: BreakGlass, what: str) -> None:
    if session.status != BreakGlass.REQUESTED:
        raise conflict("session", f"this request is {session.status}: only a waiting request is {what}")


@transaction.atomic
def break_glass_withdraw(*, actor: Actor, session: BreakGlass) -> BreakGlass:
    """The requester takes back a request still waiting for approval; nothing opens."""
    locked = _locked(session)
    person = _person(actor)
    policy.require_in(person, locked.workspace, Perm.WORKSPACE_VIEW)
    if locked.user_id != person.pk:
        raise Forbidden(
            BREAK_GLASS,
            workspace=locked.workspace,
            detail="only its requester withdraws a break-glass request; an Admin refuses it",
        )
    _waiting(locked, "withdrawn")
    return _close(locked, actor=person, status=BreakGlass.WITHDRAWN, action="break_glass.withdrawn")


@transaction.atomic
def break_glass_refuse(*, actor: Actor, session: BreakGlass) -> BreakGlass:
    """An Admin turns down a request still waiting for approval; nothing opens."""
    locked = _locked(session)
    policy.require_in(actor, locked.workspace, Perm.WORKSPACE_SETTINGS)
    _waiting(locked, "refused")
    return _close(locked, actor=actor, status=BreakGlass.REFUSED, action="break_glass.refused")


@transaction.atomic
def break_glass_end(*, actor: Actor, session: BreakGlass) -> BreakGlass:
    """End a session in force before its time: its holder, or an Admin. From the next request on,
    PROD job data is hidden from its holder again."""
    locked = _locked(session)
    policy.require_in(actor, locked.workspace, Perm.WORKSPACE_VIEW)
    holder = isinstance(actor, User) and locked.user_id == actor.pk
    if not holder:
        policy.require_in(actor, locked.workspace, Perm.WORKSPACE_SETTINGS)
    if not in_force(locked):
        state = "expired" if locked.status == BreakGlass.APPROVED else locked.status
        raise conflict("session", f"this session is {state}: only a session in force is ended")
    return _close(locked, actor=actor, status=BreakGlass.ENDED, action="break_glass.ended")


@transaction.atomic
def break_glass_self_approval_set(*, actor: Actor, workspace: Workspace, allowed: bool) -> Workspace:
    """Whether a request approves itself (flagged), for this workspace (Admin only)."""
    policy.require_in(actor, workspace, Perm.WORKSPACE_SETTINGS)
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if locked.break_glass_self_approval != allowed:
        locked.break_glass_self_approval = allowed
        locked.save(update_fields=["break_glass_self_approval"])
        audit_record(
            actor=actor,
            action="workspace.break_glass_self_approval_changed",
            target=locked,
            workspace_id=locked.id,
            details={"from": not allowed, "to": allowed},
        )
    workspace.break_glass_self_approval = allowed
    return workspace


# What may be done to a session, by the name each interface gives it.
DECISIONS: dict[str, Callable[..., BreakGlass]] = {
    "approve": break_glass_approve,
    "withdraw": break_glass_withdraw,
    "refuse": break_glass_refuse,
    "end": break_glass_end,
}


def break_glass_decide(*, actor: Actor, workspace: Workspace, ref: Any, decision: str) -> BreakGlass:
    """Approve, withdraw, refuse or end (`decision`) the workspace's session `ref`, one the actor may
    see (NotFound otherwise); each decision says who may take it."""
    return DECISIONS[decision](actor=actor, session=break_glass_get(actor, workspace, ref))


def break_glass_list(*, actor: Actor, workspace: Workspace) -> QuerySet[BreakGlass]:
    """Every session of the workspace for its Admins; one's own for anyone else."""
    policy.require_in(actor, workspace, Perm.WORKSPACE_VIEW)
    sessions = BreakGlass.objects.filter(workspace=workspace).select_related("user", "approved_by")
    if not policy.may(actor, Perm.WORKSPACE_SETTINGS, workspace):
        sessions = sessions.filter(user=actor) if isinstance(actor, User) else sessions.none()
    return sessions.order_by("-requested_at")


def break_glass_get(actor: Actor, workspace: Workspace, ref: Any) -> BreakGlass:
    pk = policy.uuid_or_none(ref)
    found = BreakGlass.objects.filter(workspace=workspace, pk=pk).first() if pk is not None else None
    if found is None or not break_glass_list(actor=actor, workspace=workspace).filter(pk=found.pk).exists():
        raise NotFound("break-glass session")
    return found


def active_session(actor: Actor, workspace: Workspace) -> BreakGlass | None:
    """The actor's session in force now, if any: checked against the clock at each call."""
    if not isinstance(actor, User):
        return None
    return (
        BreakGlass.objects.filter(
            workspace=workspace, user=actor, status=BreakGlass.APPROVED, expires_at__gt=timezone.now()
        )
        .order_by("-expires_at")
        .first()
    )


def in_force(session: BreakGlass) -> bool:
    """Whether the session opens PROD job data now."""
    return (
        session.status == BreakGlass.APPROVED
        and session.expires_at is not None
        and session.expires_at > timezone.now()
    )


def guarded(actor: Actor, job: Any) -> bool:
    """Whether the job's data is hidden from this actor unless a session is in force: a PROD job, seen
    by a person (a service account reads the jobs it started)."""
    return job.environment in GUARDED_ENVIRONMENTS and not policy.is_service_account(actor)


def job_data(*, actor: Actor, workspace: Workspace, job_id: Any) -> history.JobView:
    """One job with its data. For a PROD job, only under the actor's break-glass session in force;
    each such view is audited. Without one, Forbidden (the refusal is audited by the interface)."""
    view = history.job_view(actor=actor, workspace=workspace, job_id=job_id, reveal=True)
    if not guarded(actor, view.job):
        return view
    session = active_session(actor, workspace)
    if session is None:
        raise Forbidden(
            BREAK_GLASS,
            workspace=workspace,
            actor=actor,
            detail="PROD job data needs a break-glass session in force: ask for one on the Break-glass page",
        )
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="job.data_viewed",
            target=view.job,
            workspace_id=workspace.id,
            details={
                "break_glass": str(session.pk),
                "expires_at": session.expires_at.isoformat() if session.expires_at else None,
            },
        )
    return view
