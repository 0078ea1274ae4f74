"""API operations on how a workspace keeps its job history: the retention period (Admins, rule 14)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Router, Schema

from causeway.access.perms import Perm
from causeway.access.routes import operation
from causeway.api.schemas import StrictIn, WorkspaceRef, answers, stated
from causeway.runs import services
from causeway.workspaces.models import JOB_RETENTION_MAX_DAYS, JOB_RETENTION_MIN_DAYS, Workspace

router = Router(tags=["jobs"])


class RetentionOut(Schema):
    days: int = Field(description="finished jobs older than this are deleted with their history, daily")
    min_days: int
    max_days: int

    @staticmethod
    def resolve_days(workspace: Workspace) -> int:
        return workspace.job_retention_days

    @staticmethod
    def resolve_min_days(workspace: Workspace) -> int:
        return JOB_RETENTION_MIN_DAYS

    @staticmethod
    def resolve_max_days(workspace: Workspace) -> int:
        return JOB_RETENTION_MAX_DAYS


class RetentionIn(StrictIn):
    days: int = Field(
        description=f"{JOB_RETENTION_MIN_DAYS} to {JOB_RETENTION_MAX_DAYS}",
        json_schema_extra=stated(minimum=JOB_RETENTION_MIN_DAYS, maximum=JOB_RETENTION_MAX_DAYS),
    )


@router.get(
    "/workspaces/{workspace_id}/job-retention",
    response=answers({200: RetentionOut}),
    summary="How many days the workspace keeps job history (Admins)",
)
@operation(need=Perm.WORKSPACE_SETTINGS)
def job_retention_get(request: HttpRequest, workspace_id: WorkspaceRef) -> Workspace:
    found: Workspace = request.workspace  # type: ignore[attr-defined]
    return found


@router.put(
    "/workspaces/{workspace_id}/job-retention",
    response=answers({200: RetentionOut}),
    summary="Set how many days the workspace keeps job history (Admins; audited)",
)
@operation(need=Perm.WORKSPACE_SETTINGS)
def job_retention_put(request: HttpRequest, workspace_id: WorkspaceRef, body: RetentionIn) -> Workspace:
    workspace = services.workspace_retention_set(
        actor=request.auth,  # type: ignore[attr-defined]
        workspace=request.workspace,  # type: ignore[attr-defined]
        days=body.days,
    )
    return workspace
