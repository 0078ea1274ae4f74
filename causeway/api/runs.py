"""API operations on jobs: list and read the jobs one may see, run or test a recipe, re-run a failed job,
and the Schedule.

Handlers take `request.auth` as the actor, whoever it is: the policy, not the handler, tells them
apart. Service accounts may list and read their own jobs and run recipes they hold execute on (rule 8);
re-running and the Schedule are closed to them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from causeway.access.perms import Perm
from causeway.access.routes import operation, request_actor
from causeway.api.schemas import MAX_INT, ObjectId, Shown, StrictIn, WorkspaceRef, answers
from causeway.runs import breakglass, history, schedule, services
from causeway.runs import policy as runs_policy
from causeway.runs.models import BreakGlass, Job, JobStatus, TriggerType

router = Router(tags=["jobs"])

MAX_PAGE_SIZE = 200


class JobFiltersIn(StrictIn):
    recipe: uuid.UUID | None = Field(None, description="only this recipe's jobs")
    # The values are the model's own: a new status or trigger is a filter as soon as it exists.
    status: JobStatus | None = None
    trigger_type: TriggerType | None = None
    since: dt.date | None = Field(None, description="created on or after this day (UTC)")
    until: dt.date | None = Field(None, description="created on or before this day (UTC)")
    test: bool | None = Field(None, description="true: only test runs; false: no test runs")
    page: int = Field(1, ge=1, le=MAX_INT)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class JobOut(Schema):
    id: uuid.UUID
    recipe_id: uuid.UUID
    recipe: str
    version: int
    environment: str
    status: str
    trigger_type: str
    is_test: bool
    run_by: str = Field(description="a user's email, a service account, or the trigger that fired")
    run_by_user_id: uuid.UUID | None
    run_by_service_account_id: uuid.UUID | None
    rerun_of: uuid.UUID | None
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error: str | None = Field(description="why it failed (masked)")
    waiting_for: str = Field(
        default="",
        description="what the queued or running job waits for, such as a free slot (the recipe's "
        "concurrency) or a connection's rate budget; empty if nothing",
    )
    cancel_requested_at: dt.datetime | None = Field(
        default=None, description="when someone cancelled the job; a running job stops before its next step"
    )
    cancelled_by: str = Field(default="", description="who cancelled the job, in words")
    retry_of: uuid.UUID | None = Field(
        default=None, description="the failed job this one retries (the recipe's retry policy)"
    )
    retry_number: int = Field(default=0, description="0 for a first attempt; 1 for the first retry, ...")
    not_before: dt.datetime | None = Field(default=None, description="a retry is not started before this")

    @staticmethod
    def resolve_retry_of(job: Job) -> uuid.UUID | None:
        return job.retry_of_id

    @staticmethod
    def resolve_recipe(job: Job) -> str:
        return job.recipe.name

    @staticmethod
    def resolve_version(job: Job) -> int:
        return job.version.number

    @staticmethod
    def resolve_run_by(job: Job) -> str:
        return history.run_by(job)

    @staticmethod
    def resolve_rerun_of(job: Job) -> uuid.UUID | None:
        return job.rerun_of_id

    @staticmethod
    def resolve_error(job: Job) -> str | None:
        # Masked again on the way out, for secrets learnt since the job ran (rule 13).
        shown: str | None = history.shown(job.error)
        return shown


class JobPageOut(Schema):
    count: int
    page: int
    pages: int
    page_size: int
    items: list[JobOut]


class StepOut(Schema):
    path: str
    position: int
    step_type: str
    status: str
    attempts: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    duration_ms: int | None
    input: Any = None
    output: Any = None
    error: str | None


class JobDetailOut(JobOut):
    trigger_payload: Any = None
    reruns: list[uuid.UUID] = Field(description="re-runs of this job that you may see")
    retry: uuid.UUID | None = Field(
        default=None, description="the retry that followed this job, if you may see it"
    )
    steps: list[StepOut]


class RunIn(StrictIn):
    payload: dict[str, Any] | None = Field(None, description="the trigger payload the steps see")
    test: bool = Field(False, description="a test run of the current draft instead of the started version")


class ScheduleOut(Schema):
    recipe_id: uuid.UUID
    recipe: str
    version: int
    cron: str
    timezone: str
    missed: str
    next_runs: list[dt.datetime]
    last_fired_for: dt.datetime | None

    @staticmethod
    def resolve_recipe_id(row: schedule.ScheduleRow) -> uuid.UUID:
        pk: uuid.UUID = row.recipe.pk
        return pk

    @staticmethod
    def resolve_recipe(row: schedule.ScheduleRow) -> str:
        name: str = row.recipe.name
        return name


@router.get(
    "/workspaces/{workspace_id}/jobs",
    response=answers({200: JobPageOut}),
    summary="The jobs you may see, newest first: all of a recipe you may debug, otherwise your own",
)
@operation(need=Perm.WORKSPACE_VIEW, service_accounts=True)
def job_list(
    request: HttpRequest, workspace_id: WorkspaceRef, filters: Query[JobFiltersIn]
) -> dict[str, Any]:
    wanted = history.JobFilters(
        recipe=filters.recipe,
        status=filters.status,
        trigger_type=filters.trigger_type,
        since=filters.since,
        until=filters.until,
        test=filters.test,
    )
    jobs = history.jobs_list(actor=request.auth, workspace=request.workspace, filters=wanted)  # type: ignore[attr-defined]
    paginator = Paginator(jobs, filters.page_size)
    number = min(filters.page, max(paginator.num_pages, 1))
    return {
        "count": paginator.count,
        "page": number,
        "pages": paginator.num_pages,
        "page_size": filters.page_size,
        "items": list(paginator.page(number)),
    }


@router.get(
    "/workspaces/{workspace_id}/jobs/{job_id}",
    response=answers({200: JobDetailOut}),
    summary="One job with its step-by-step history (input, output and errors masked)",
)
@operation(need=Perm.WORKSPACE_VIEW, service_accounts=True)
def job_get(request: HttpRequest, workspace_id: WorkspaceRef, job_id: ObjectId) -> Shown:
    view = history.job_view(actor=request.auth, workspace=request.workspace, job_id=job_id)  # type: ignore[attr-defined]
    return Shown(
        view.job,
        error=view.error,
        trigger_payload=view.payload,
        reruns=[other.id for other in view.reruns],
        retry=view.retry.id if view.retry else None,
        steps=view.steps,
    )


@router.get(
    "/workspaces/{workspace_id}/jobs/{job_id}/data",
    response=answers({200: JobDetailOut}),
    summary="One job with its data; a PROD job's only under your break-glass session in force (audited)",
)
@operation(need=Perm.WORKSPACE_VIEW, service_accounts=True)
def job_data(request: HttpRequest, workspace_id: WorkspaceRef, job_id: ObjectId) -> Shown:
    view = breakglass.job_data(actor=request.auth, workspace=request.workspace, job_id=job_id)  # type: ignore[attr-defined]
    return Shown(
        view.job,
        error=view.error,
        trigger_payload=view.payload,
        reruns=[other.id for other in view.reruns],
        retry=view.retry.id if view.retry else None,
        steps=view.steps,
    )


class BreakGlassIn(StrictIn):
    # At least 10 characters from the first to the last that is not white space (\x1c-\x1f are white
    # space to Python, which judges the reason, and not to the validator's own regex engine).
    reason: str = Field(
        min_length=10,
        max_length=1000,
        pattern=r"[^\s\x1c-\x1f][\s\S]{8,}[^\s\x1c-\x1f]",
        description="why, in at least 10 characters",
    )
    minutes: int = Field(
        ge=1,
        le=breakglass.MAX_MINUTES,
        description=f"how long, 1 to {breakglass.MAX_MINUTES} minutes from its approval",
    )


class BreakGlassOut(Schema):
    id: uuid.UUID
    user: str | None = Field(None, alias="user.email")
    reason: str
    minutes: int
    status: str = Field(description="requested, approved, withdrawn, refused or ended (ended early)")
    self_approved: bool
    approved_by: str | None = Field(None, alias="approved_by.email")
    requested_at: dt.datetime
    approved_at: dt.datetime | None
    expires_at: dt.datetime | None
    closed_by: str = Field(
        "", alias="closed_label", description="who withdrew, refused or ended it (empty: nobody yet)"
    )
    closed_at: dt.datetime | None


class BreakGlassSettingsIn(StrictIn):
    self_approval: bool = Field(description="a request approves itself at once, flagged")


@router.get(
    "/workspaces/{workspace_id}/break-glass",
    response=answers({200: list[BreakGlassOut]}),
    summary="Break-glass sessions: every one for Admins, your own for anyone else",
)
@operation(need=Perm.WORKSPACE_VIEW)
def break_glass_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[Any]:
    return list(breakglass.break_glass_list(actor=request_actor(request), workspace=request.workspace))  # type: ignore[attr-defined]


@router.post(
    "/workspaces/{workspace_id}/break-glass",
    response=answers({201: BreakGlassOut}),
    summary="Ask for time-limited access to PROD job data, with a reason",
)
@operation(need=Perm.WORKSPACE_VIEW)
def break_glass_request(request: HttpRequest, workspace_id: WorkspaceRef, body: BreakGlassIn) -> Status[Any]:
    made = breakglass.break_glass_request(
        actor=request_actor(request),
        workspace=request.workspace,  # type: ignore[attr-defined]
        reason=body.reason,
        minutes=body.minutes,
    )
    return Status(201, made)


def _decided(request: HttpRequest, session_id: str, decision: str) -> BreakGlass:
    return breakglass.break_glass_decide(
        actor=request_actor(request),
        workspace=request.workspace,  # type: ignore[attr-defined]
        ref=session_id,
        decision=decision,
    )


@router.post(
    "/workspaces/{workspace_id}/break-glass/{session_id}/approve",
    response=answers({200: BreakGlassOut}, conflict=True),
    summary="Approve a break-glass request (Admins); it runs from now for the minutes asked",
)
@operation(need=Perm.WORKSPACE_SETTINGS)
def break_glass_approve(request: HttpRequest, workspace_id: WorkspaceRef, session_id: ObjectId) -> BreakGlass:
    return _decided(request, session_id, "approve")


@router.post(
    "/workspaces/{workspace_id}/break-glass/{session_id}/withdraw",
    response=answers({200: BreakGlassOut}, conflict=True),
    summary="Withdraw your own break-glass request while it waits for approval",
)
@operation(need=Perm.WORKSPACE_VIEW)
def break_glass_withdraw(
    request: HttpRequest, workspace_id: WorkspaceRef, session_id: ObjectId
) -> BreakGlass:
    return _decided(request, session_id, "withdraw")


@router.post(
    "/workspaces/{workspace_id}/break-glass/{session_id}/refuse",
    response=answers({200: BreakGlassOut}, conflict=True),
    summary="Refuse a break-glass request waiting for approval (Admins); nothing opens",
)
@operation(need=Perm.WORKSPACE_SETTINGS)
def break_glass_refuse(request: HttpRequest, workspace_id: WorkspaceRef, session_id: ObjectId) -> BreakGlass:
    return _decided(request, session_id, "refuse")


@router.post(
    "/workspaces/{workspace_id}/break-glass/{session_id}/end",
    response=answers({200: BreakGlassOut}, conflict=True),
    summary="End a break-glass session in force before its time (its holder, or an Admin)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def break_glass_end(request: HttpRequest, workspace_id: WorkspaceRef, session_id: ObjectId) -> BreakGlass:
    return _decided(request, session_id, "end")


@router.put(
    "/workspaces/{workspace_id}/break-glass/settings",
    response=answers({200: BreakGlassSettingsIn}),
    summary="Whether a break-glass request approves itself, flagged (Admins)",
)
@operation(need=Perm.WORKSPACE_SETTINGS)
def break_glass_settings(
    request: HttpRequest, workspace_id: WorkspaceRef, body: BreakGlassSettingsIn
) -> dict[str, bool]:
    done = breakglass.break_glass_self_approval_set(
        actor=request_actor(request),
        workspace=request.workspace,  # type: ignore[attr-defined]
        allowed=body.self_approval,
    )
    return {"self_approval": done.break_glass_self_approval}


@router.post(
    "/workspaces/{workspace_id}/recipes/{recipe_id}/jobs",
    response=answers({201: JobOut}),
    summary="Run a recipe (recipe:run), or test its current draft (recipe:test); the job is queued",
)
@operation(need=Perm.WORKSPACE_VIEW, service_accounts=True)
def job_run(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId, body: RunIn
) -> Status[Job]:
    actor = request.auth  # type: ignore[attr-defined]
    recipe = history.recipe_for_run(
        actor=actor,
        workspace=request.workspace,  # type: ignore[attr-defined]
        recipe_id=recipe_id,
        test=body.test,
    )
    job = services.job_create(
        actor=actor, recipe=recipe, trigger_type=TriggerType.MANUAL, payload=body.payload, is_test=body.test
    )
    return Status(201, job)


@router.post(
    "/workspaces/{workspace_id}/jobs/{job_id}/rerun",
    response=answers({201: JobOut}),
    summary="Re-run a failed job you may see; its history is kept and the new job names it",
)
@operation(need=Perm.WORKSPACE_VIEW)
def job_rerun(request: HttpRequest, workspace_id: WorkspaceRef, job_id: ObjectId) -> Status[Job]:
    found = runs_policy.job_get(request.auth, request.workspace, job_id)  # type: ignore[attr-defined]
    job = services.job_rerun(actor=request.auth, job=found)  # type: ignore[attr-defined]
    return Status(201, job)


@router.post(
    "/workspaces/{workspace_id}/jobs/{job_id}/cancel",
    response=answers({200: JobOut}, conflict=True),
    summary="Cancel a queued or running job you may see and may run (recipe:run, or recipe:test for a test "
    "run); a running job stops before its next step. A finished job: 409",
)
@operation(need=Perm.WORKSPACE_VIEW, service_accounts=True)
def job_cancel(request: HttpRequest, workspace_id: WorkspaceRef, job_id: ObjectId) -> Job:
    found = runs_policy.job_get(request.auth, request.workspace, job_id)  # type: ignore[attr-defined]
    return services.job_cancel(actor=request.auth, job=found)  # type: ignore[attr-defined]


@router.get(
    "/workspaces/{workspace_id}/schedule",
    response=answers({200: list[ScheduleOut]}),
    summary="Started recipes with a schedule trigger that you may read, and their next runs",
)
@operation(need=Perm.WORKSPACE_VIEW)
def schedule_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[schedule.ScheduleRow]:
    return list(schedule.schedules_visible(request.auth, request.workspace))  # type: ignore[attr-defined]
