"""API operations on the audit log: a workspace's events, and verifying its chain now."""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import PageNumberPagination, paginate

from causeway.access.perms import Perm
from causeway.access.routes import operation
from causeway.api.schemas import MAX_INT, StrictIn, WorkspaceRef, answers, stated
from causeway.audit.models import AuditEvent
from causeway.audit.selectors import audit_chain_verify, audit_event_list
from causeway.audit.verify import ChainReport, VerificationError

router = Router(tags=["audit"])


class AuditPages(PageNumberPagination):
    """Pages of events; a page number past any the database could reach is refused (422)."""

    class Input(Schema):
        page: int = Field(1, ge=1, le=MAX_INT)
        page_size: int | None = Field(None, ge=1, le=MAX_INT, description="at most 100 are given")


logger = logging.getLogger(__name__)


class AuditEventOut(Schema):
    id: uuid.UUID
    seq: int
    occurred_at: datetime
    actor_type: str
    actor_id: str
    actor_label: str
    action: str
    target_type: str
    target_id: str
    target_label: str
    outcome: str
    ip_address: str | None
    user_agent: str
    request_id: str
    details: dict[str, Any]
    mac_key_id: int = Field(description="the version of the audit MAC key that sealed this event's link")


class AuditFilter(StrictIn):
    action: str = Field(
        "", max_length=100, description='action, or its prefix ("user." for every user event)'
    )
    actor: str = Field("", max_length=320, description="an actor's id, or part of their label")
    outcome: str = Field(
        "",
        description="success, failure or denied; empty: every outcome",
        json_schema_extra=stated(enum=["", "success", "failure", "denied"]),
    )
    since: date | None = Field(None, description="first day included (UTC)")
    until: date | None = Field(None, description="last day included (UTC)")


class ProblemOut(Schema):
    kind: str
    seq: int
    event_id: str | None
    action: str | None
    reason: str


class VerificationOut(Schema):
    chain: str
    ok: bool
    events: int
    last_seq: int
    checkpoints: int
    problem: ProblemOut | None
    bad_checkpoints: list[ProblemOut]


@router.get(
    "/workspaces/{workspace_id}/audit-events",
    response=answers({200: list[AuditEventOut]}),
    summary="The workspace's audit events, newest first",
)
@paginate(AuditPages)
@operation(need=Perm.AUDIT_VIEW)
def audit_events(
    request: HttpRequest, workspace_id: WorkspaceRef, filters: Query[AuditFilter]
) -> QuerySet[AuditEvent]:
    return audit_event_list(workspace_id=request.workspace.id, **filters.dict())  # type: ignore[attr-defined]


@router.post(
    "/workspaces/{workspace_id}/audit-events/verify",
    response=answers({200: VerificationOut}, also=(503,)),
    summary="Verify the workspace's audit chain now",
)
@operation(need=Perm.AUDIT_VIEW)
def audit_verify(request: HttpRequest, workspace_id: WorkspaceRef) -> Status[ChainReport | dict[str, str]]:
    try:
        report = audit_chain_verify(workspace_id=request.workspace.id)  # type: ignore[attr-defined]
    except VerificationError as exc:
        # The cause names files and keys that are the operator's business, not the caller's.
        logger.error("audit verify for workspace %s could not run: %s", workspace_id, exc)
        return Status(503, {"detail": "the audit chain cannot be verified now; the operator's log says why"})
    return Status(200, report)
