"""Job history as the interfaces show it: filtered lists, one job with its steps, the Dashboard's figures.

Every list starts from `Job.objects.visible_to` (rule 8: every job of a recipe the viewer may
debug, otherwise only the viewer's own; a service account only the jobs it started), so each filter
here only narrows what the policy already allowed, in the database.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, replace
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet

from causeway.access import policy
from causeway.access.errors import Forbidden
from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.connections.selectors import personal_owner_of_job, personal_owners_of_jobs
from causeway.recipes import policy as recipes_policy
from causeway.recipes.models import Recipe
from causeway.runs import policy as runs_policy
from causeway.runs.models import ACTIVE, Job, JobStatus, JobStep, StepStatus
from causeway.vault.masking import mask_text
from causeway.workspaces.models import Workspace


@dataclass(frozen=True)
class JobFilters:
    """What a viewer may narrow a job list by; None means any."""

    recipe: uuid.UUID | None = None
    status: str | None = None
    trigger_type: str | None = None
    since: dt.date | None = None  # the first day, inclusive (UTC)
    until: dt.date | None = None  # the last day, inclusive (UTC)
    test: bool | None = None  # True: only test runs; False: no test runs


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def jobs_list(*, actor: Actor, workspace: Workspace, filters: JobFilters | None = None) -> QuerySet[Job]:
    """The jobs the actor may see, newest first, narrowed by `filters`."""
    f = filters or JobFilters()
    if f.since is not None and f.until is not None and f.until < f.since:
        raise ValidationError({"until": "must not be before since"})
    jobs = Job.objects.visible_to(actor, workspace=workspace)
    if f.recipe is not None:
        jobs = jobs.filter(recipe_id=f.recipe)
    if f.status:
        jobs = jobs.filter(status=f.status)
    if f.trigger_type:
        jobs = jobs.filter(trigger_type=f.trigger_type)
    if f.since is not None:
        jobs = jobs.filter(created_at__gte=_day_start(f.since))
    if f.until is not None:
        jobs = jobs.filter(created_at__lt=_day_start(f.until + dt.timedelta(days=1)))
    if f.test is not None:
        jobs = jobs.filter(is_test=f.test)
    return jobs.select_related("recipe", "version", "run_by_user", "run_by_service_account").order_by(
        "-created_at", "-id"
    )


def shown(value: Any) -> Any:
    """A piece of job history on its way out. It was masked before it was sealed; it is masked again
    here, for values this process has learnt since (a secret set after the job ran, rule 13)."""
    if value is None:
        return None
    if isinstance(value, str):
        return mask_text(value)
    # The replacement `[masked:NAME]` needs no JSON escaping, so the masked text is still JSON.
    return json.loads(mask_text(json.dumps(value)))


@dataclass(frozen=True)
class StepView:
    path: str
    position: int
    step_type: str
    status: str
    status_label: str
    attempts: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    duration_ms: int | None
    input: Any
    output: Any
    error: str | None


def _step_view(step: JobStep) -> StepView:
    return StepView(
        path=step.path,
        position=step.position,
        step_type=step.step_type,
        status=step.status,
        status_label=step.get_status_display(),
        attempts=step.attempts,
        started_at=step.started_at,
        finished_at=step.finished_at,
        duration_ms=step.duration_ms,
        input=shown(step.input),
        output=shown(step.output),
        error=shown(step.error),
    )


@dataclass(frozen=True)
class JobView:
    """One job as its page shows it: its history (masked), its steps in order, and the related runs the
    viewer may also see."""

    job: Job
    error: str | None
    payload: Any
    steps: list[StepView]
    rerun_of: Job | None
    reruns: list[Job]
    may_rerun: bool
    may_cancel: bool
    # The attempt this one retries, and the retry that followed it (the recipe's retry policy), if seen.
    retry_of: Job | None = None
    retry: Job | None = None


PRIVATE = "[hidden: this job used another person's personal connection]"


def _private(step: StepView) -> StepView:
    return replace(step, input=PRIVATE, output=PRIVATE, error=PRIVATE if step.error else None)


# PROD job data, kept from people unless a break-glass session is in force (see `breakglass`).
PROD_HIDDEN = "[hidden: PROD job data; ask for break-glass access to see it]"


def _prod_hidden(step: StepView) -> StepView:
    return replace(step, input=PROD_HIDDEN, output=PROD_HIDDEN)


def job_view(*, actor: Actor, workspace: Workspace, job_id: Any, reveal: bool = False) -> JobView:
    """One job the actor may see (NotFound otherwise, rule 9), with its steps and visible re-runs.

    A job that used a personal connection shows its data (payload, each step's input, output and
    error) to that connection's owner alone (rule 6); others see that it ran, and how it ended.
    """
    job = runs_policy.job_get(actor, workspace, job_id)
    job = Job.objects.select_related(
        "recipe", "recipe__project", "version", "run_by_user", "run_by_service_account"
    ).get(pk=job.pk)
    visible = Job.objects.visible_to(actor, workspace=workspace)
    original = visible.filter(pk=job.rerun_of_id).first() if job.rerun_of_id else None
    reruns = list(visible.filter(rerun_of=job).order_by("created_at"))
    retry_of = visible.filter(pk=job.retry_of_id).first() if job.retry_of_id else None
    retry = visible.filter(retry_of=job).first() if job.status == JobStatus.FAILED else None
    private = _private_to(actor, personal_owner_of_job(job.id))
    steps = [_step_view(step) for step in job.steps.order_by("position", "path")]
    # A person sees what a PROD job carried only through `breakglass.job_data` (`reveal`); the
    # service account that started a job reads its own.
    hidden = not reveal and job.environment == "prod" and not policy.is_service_account(actor)
    payload = shown(job.trigger_payload)
    # Re-running and cancelling a job ask what starting it asks.
    may_run = policy.may(actor, Perm.RECIPE_TEST if job.is_test else Perm.RECIPE_RUN, job.recipe)
    if hidden:
        payload, steps = (PROD_HIDDEN if payload is not None else None), [_prod_hidden(s) for s in steps]
    return JobView(
        job=job,
        error=PRIVATE if private and job.error else shown(job.error),
        payload=PRIVATE if private else payload,
        steps=[_private(step) for step in steps] if private else steps,
        rerun_of=original,
        reruns=reruns,
        may_rerun=job.status == JobStatus.FAILED and may_run,
        may_cancel=job.status in ACTIVE and job.cancel_requested_at is None and may_run,
        retry_of=retry_of,
        retry=retry,
    )


def failure_reasons(*, actor: Actor, jobs: Any) -> dict[uuid.UUID, str]:
    """Why each failed job among `jobs` (already visible to the actor) failed, as its page says it: masked
    (rule 13), and hidden where the job used another person's personal connection (rule 6)."""
    failed = [job for job in jobs if job.status == JobStatus.FAILED and job.error]
    owners = personal_owners_of_jobs(job.pk for job in failed)
    return {job.pk: PRIVATE if _private_to(actor, owners.get(job.pk)) else shown(job.error) for job in failed}


def _private_to(actor: Actor, owner: uuid.UUID | None) -> bool:
    """Whether a job's data is hidden from the actor: it used `owner`'s personal connection (rule 6)."""
    return owner is not None and not (isinstance(actor, User) and actor.pk == owner)


# Which status a step that ran several times (in each pass of a for-each) shows: the one that most
# needs a look, later in this order.
NEEDS_A_LOOK = (StepStatus.SKIPPED, StepStatus.SUCCEEDED, StepStatus.RUNNING, StepStatus.FAILED)
_STATUS_WEIGHT = {status.value: weight for weight, status in enumerate(NEEDS_A_LOOK)}


def latest_step_statuses(
    *, actor: Actor, workspace: Workspace, recipe_id: Any
) -> tuple[Job | None, dict[str, str]]:
    """The latest job of a recipe among those the actor may see (rule 8), and the status each step had
    in it, by the step's id; a step inside a for-each shows the status of its pass that most needs a look.
    Statuses only: what the steps carried stays on the job's page, behind its own rules."""
    job = jobs_list(actor=actor, workspace=workspace, filters=JobFilters(recipe=recipe_id)).first()
    if job is None:
        return None, {}
    statuses: dict[str, str] = {}
    for path, status in job.steps.values_list("path", "status"):
        step_id = path.rsplit(".", 1)[-1]
        if _STATUS_WEIGHT.get(status, 0) >= _STATUS_WEIGHT.get(statuses.get(step_id, ""), -1):
            statuses[step_id] = status
    return job, statuses


@dataclass(frozen=True)
class SampleData:
    """What a recipe's latest test run carried, for the Build page's data pills: the trigger's payload and
    each step's output by the step's id, exactly as the job's page would show them to the same viewer."""

    job: Job | None
    trigger: Any
    steps: dict[str, Any]


def latest_sample_data(*, actor: Actor, workspace: Workspace, recipe_id: Any) -> SampleData:
    """The latest test run of the recipe the actor may see (rule 8), through `job_view`: masked (rule 13),
    and hidden where another person's personal connection (rule 6) or PROD's rule keeps it. A step that
    ran in each pass of a for-each gives its first pass's output."""
    filters = JobFilters(recipe=recipe_id, test=True)
    job = jobs_list(actor=actor, workspace=workspace, filters=filters).first()
    if job is None:
        return SampleData(None, None, {})
    view = job_view(actor=actor, workspace=workspace, job_id=job.pk)
    outputs: dict[str, Any] = {}
    for step in view.steps:
        if step.output is not None:
            outputs.setdefault(step.path.rsplit(".", 1)[-1], step.output)
    return SampleData(job, view.payload, outputs)


def run_by(job: Job) -> str:
    """Who or what started a job, in words: a user's email, a service account's name, or the trigger."""
    if job.run_by_user_id is not None:
        return job.run_by_user.email if job.run_by_user is not None else "a removed user"
    if job.run_by_service_account_id is not None:
        account = job.run_by_service_account
        return f"service account {account.name}" if account is not None else "a removed service account"
    if job.trigger_type == "manual":
        return "the operator"
    return f"the {job.get_trigger_type_display().lower()} trigger"


def recipe_for_run(*, actor: Actor, workspace: Workspace, recipe_id: Any, test: bool) -> Any:
    """The recipe the actor wants to run (or test). A service account may hold execute without read,
    so the run list is asked first; anything else gets the policy's own answer (404 or 403)."""
    need = Perm.RECIPE_TEST if test else Perm.RECIPE_RUN
    if policy.is_system(actor):
        return recipes_policy.recipe_get(actor, workspace, recipe_id, need=need)
    try:
        pk: uuid.UUID | None = uuid.UUID(str(recipe_id))
    except ValueError:
        pk = None
    if pk is not None:
        found = (
            Recipe.objects.visible_to(actor, need, workspace)
            .filter(pk=pk)
            .select_related("project", "workspace", "current_version", "active_version")
            .first()
        )
        if found is not None:
            return found
        if test and policy.is_service_account(actor, workspace) and _runs(actor, workspace, pk):
            # Rule 8: a service account only executes. It knows this recipe (it may run it), so the
            # refusal names what it lacks rather than hiding the recipe.
            raise Forbidden(Perm.RECIPE_TEST, workspace=workspace, actor=actor)
    return recipes_policy.recipe_get(actor, workspace, recipe_id, need=need)


def _runs(actor: Actor, workspace: Workspace, pk: uuid.UUID) -> bool:
    return bool(Recipe.objects.visible_to(actor, Perm.RECIPE_RUN, workspace).filter(pk=pk).exists())


@dataclass(frozen=True)
class Dashboard:
    counts: dict[str, int]
    total: int
    recent: list[Job]
    failures: list[Job]
    active_recipes: list[Any]
    recipes_count: int


def dashboard(*, actor: Actor, workspace: Workspace, recent: int = 10, failures: int = 5) -> Dashboard:
    """The workspace overview's figures, each counted in the database over what the actor may see."""
    jobs = Job.objects.visible_to(actor, workspace=workspace)
    by_status = dict(jobs.order_by().values_list("status").annotate(n=Count("id")))
    counts = {status.value: int(by_status.get(status.value, 0)) for status in JobStatus}
    listed = jobs.select_related("recipe", "run_by_user", "run_by_service_account").order_by("-created_at")
    recipes = Recipe.objects.visible_to(actor, Perm.RECIPE_VIEW, workspace)
    return Dashboard(
        counts=counts,
        total=sum(counts.values()),
        recent=list(listed[:recent]),
        failures=list(listed.filter(status=JobStatus.FAILED)[:failures]),
        active_recipes=list(recipes.filter(active=True).select_related("project").order_by("name")),
        recipes_count=recipes.count(),
    )
