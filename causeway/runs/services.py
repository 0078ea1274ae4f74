"""Starting jobs (by hand, by a service account, by a trigger), re-running failed ones, and the workspace's
job history retention. Each asks `access`, runs in one transaction and records its audit event in it.

Jobs themselves are not audit events (there are too many); a run started by a person is (`recipe.run`,
`job.rerun`). A job is handed to the broker only once its row is committed.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from causeway.access import policy
from causeway.access.errors import NotFound
from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.db import conflict
from causeway.db.prepared import PreparedInsert
from causeway.recipes import policy as access
from causeway.recipes.models import Recipe, RecipeVersion
from causeway.runs import policy as runs_policy
from causeway.runs import runtime
from causeway.runs.models import Job, JobStatus, TriggerType
from causeway.vault.masking import mask
from causeway.workspaces.models import (
    JOB_RETENTION_MAX_DAYS,
    JOB_RETENTION_MIN_DAYS,
    ServiceAccount,
    Workspace,
)


def _masked(value: Any) -> Any:
    """The payload with every known secret value masked in its text (rule 13), before it is sealed."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask(str(key)): _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


# Every job is inserted by this statement, written once per connection (its payload sealed as on a save).
_INSERT = PreparedInsert(Job)


def _triggered(actor: Actor) -> bool:
    return policy.is_system(actor) and actor.trigger


def _by_hand(actor: Actor) -> bool:
    """A person: a user, or the operator's command line. Runs by them are audited; others are not."""
    return isinstance(actor, User) or (policy.is_system(actor) and not actor.trigger)


def _version_of(recipe: Recipe, version: RecipeVersion | None, *, is_test: bool, triggered: bool) -> Any:
    if version is not None:
        if version.recipe_id != recipe.id:
            raise ValidationError({"version": "that version belongs to another recipe"})
        return version
    if is_test:
        return recipe.current_version
    if triggered:
        return recipe.active_version
    return recipe.active_version or recipe.current_version


def trigger_payload_parse(text: str) -> dict[str, Any]:
    """A trigger payload typed by a person (a page's field, a command's option): a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError({"payload": f"not valid JSON: {exc.msg} (line {exc.lineno})"}) from None
    if not isinstance(value, dict):
        raise ValidationError({"payload": "must be a JSON object, such as {}"})
    return value


@transaction.atomic
def job_create(
    *,
    actor: Actor,
    recipe: Recipe,
    trigger_type: str,
    payload: dict[str, Any] | None = None,
    is_test: bool = False,
    version: RecipeVersion | None = None,
    rerun_of: Job | None = None,
    waited: bool = False,
    in_caller: bool = False,
    fresh: bool = False,
    caller: ServiceAccount | None = None,
) -> Job:
    """A queued job of the recipe, dispatched once the caller's transaction commits (`waited`: run in
    this process, whose caller waits for the job's answer; `in_caller`: in the caller's own thread, when
    it waits, see `engine.runs_in_caller`).

    A user needs `recipe:test` for a test run (the current draft) and `recipe:run` otherwise (the
    started version, or the current one if the recipe was never started); a service account needs an
    execute grant. `actor=TRIGGER` is a trigger (schedule, webhook, poll) firing for a started recipe;
    it is read again here, with its project and active version, unless the trigger's caller has just
    read it so (`fresh`: a webhook call found it by its endpoint a moment before). `caller`: the service
    account whose call fired the trigger (an API client), recorded as the job's runner.
    """
    workspace = recipe.workspace
    if trigger_type not in TriggerType.values:
        raise ValidationError({"trigger_type": f"must be one of {', '.join(TriggerType.values)}"})
    if _triggered(actor):
        try:
            found = (
                recipe
                if fresh
                else Recipe.objects.select_related("project", "active_version").get(pk=recipe.pk)
            )
        except Recipe.DoesNotExist:
            raise NotFound("recipe") from None
        if not found.active or found.active_version_id is None:
            raise ValidationError({"recipe": "the recipe is stopped: its triggers start no jobs"})
        recipe, is_test = found, False
    else:
        need = Perm.RECIPE_TEST if is_test else Perm.RECIPE_RUN
        recipe = access.recipe_get(actor, workspace, recipe.id, need=need)
    chosen = _version_of(recipe, version, is_test=is_test, triggered=_triggered(actor))
    if chosen is None:
        raise ValidationError({"recipe": "the recipe has no version to run"})
    now = timezone.now()
    job = Job(
        workspace=workspace,
        recipe=recipe,
        version=chosen,
        environment=recipe.project.environment,
        status=JobStatus.QUEUED,
        trigger_type=trigger_type,
        is_test=is_test,
        run_by_user=actor if isinstance(actor, User) else None,
        run_by_service_account=actor if isinstance(actor, ServiceAccount) else caller,
        rerun_of=rerun_of,
        trigger_payload=_masked(payload if payload is not None else {}),
        # Counted as handed to the broker from now: if the commit's dispatch never happens, the
        # reaper sends the job a lease later.
        dispatched_at=now,
    )
    # A job this process runs itself is inserted with its lease taken: no claim of its own.
    claimed = runtime.claim_at_insert(job, waited=waited)
    _INSERT.run([job])
    if _by_hand(actor) and rerun_of is None:
        audit_record(
            actor=actor,
            action="recipe.run",
            target=recipe,
            workspace_id=workspace.id,
            details={"job": str(job.id), "version": chosen.number, "test": is_test},
        )
    runtime.dispatch_on_commit(job.id, waited=waited, claimed=claimed, in_caller=in_caller)
    return job


@transaction.atomic
def job_rerun(*, actor: Actor, job: Job) -> Job:
    """A new job with the failed job's version and trigger data, linked to it (`rerun_of`).

    Only a failed job whose history is still kept can be re-run (rule 14); the old job and its history
    stay as they were. The actor must see the old job and may run (or, for a test run, test) the recipe.
    """
    old = runs_policy.job_get(actor, job.workspace, job.id)
    if old.status != JobStatus.FAILED:
        raise ValidationError({"job": "only a failed job can be re-run"})
    new = job_create(
        actor=actor,
        recipe=old.recipe,
        trigger_type=old.trigger_type,
        payload=old.trigger_payload,
        is_test=old.is_test,
        version=old.version,
        rerun_of=old,
    )
    if _by_hand(actor):
        audit_record(
            actor=actor,
            action="job.rerun",
            target=new,
            workspace_id=new.workspace_id,
            details={"rerun_of": str(old.id), "recipe": str(old.recipe_id), "version": old.version.number},
        )
    return new


def _label(actor: Actor) -> str:
    """Who cancelled, in words, as the job's page and its reason say it."""
    if isinstance(actor, User):
        return str(actor.email)
    if isinstance(actor, ServiceAccount):
        return f"service account {actor.name}"
    return "the operator"


@transaction.atomic
def job_cancel(*, actor: Actor, job: Job) -> Job:
    """Cancel a queued or running job; a finished one is a conflict (409).

    A queued job ends at once, as cancelled, and no worker will claim it. A running one is asked to
    stop: its worker ends it as cancelled at the next step boundary, or within a second of a long
    wait (see `runtime.Cancelled`), keeping the history of the steps it ran; if that worker is gone,
    the reaper ends it so. The actor must see the job and may run (for a test run, test) its recipe, as
    for starting it. Audited (`job.cancelled`), with what it found the job doing.
    """
    found = runs_policy.job_get(actor, job.workspace, job.id)
    access.recipe_get(
        actor, found.workspace, found.recipe_id, need=Perm.RECIPE_TEST if found.is_test else Perm.RECIPE_RUN
    )
    label = _label(actor)[:320]
    now = timezone.now()
    asked = {"cancel_requested_at": now, "cancelled_by": label}
    queued = Job.objects.filter(pk=found.pk, status=JobStatus.QUEUED)
    if queued.update(**asked):
        # Conditional on the row as just written: this transaction holds it, no worker claims it now.
        runtime.finish_cancelled(found, label)
        was = JobStatus.QUEUED
    elif Job.objects.filter(pk=found.pk, status=JobStatus.RUNNING, cancel_requested_at__isnull=True).update(
        **asked
    ):
        was = JobStatus.RUNNING
    else:
        current = Job.objects.filter(pk=found.pk).values_list("status", flat=True).first()
        if current == JobStatus.RUNNING:
            raise conflict("job", "the job is already being cancelled: it stops at its next step")
        raise conflict("job", f"the job is {current}: only a queued or running job can be cancelled")
    audit_record(
        actor=actor,
        action="job.cancelled",
        target=found,
        workspace_id=found.workspace_id,
        details={"recipe": str(found.recipe_id), "was": was},
    )
    found.refresh_from_db()
    return found


@transaction.atomic
def workspace_retention_set(*, actor: Actor, workspace: Workspace, days: Any) -> Workspace:
    """How many days job history is kept in the workspace (Admin only; rule 14)."""
    policy.require_in(actor, workspace, Perm.WORKSPACE_SETTINGS)
    if isinstance(days, bool) or not isinstance(days, int):
        raise ValidationError({"days": "must be a whole number of days"})
    if not JOB_RETENTION_MIN_DAYS <= days <= JOB_RETENTION_MAX_DAYS:
        raise ValidationError(
            {"days": f"must be between {JOB_RETENTION_MIN_DAYS} and {JOB_RETENTION_MAX_DAYS} days"}
        )
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if locked.job_retention_days != days:
        previous = locked.job_retention_days
        locked.job_retention_days = days
        locked.save(update_fields=["job_retention_days"])
        audit_record(
            actor=actor,
            action="workspace.job_retention_changed",
            target=locked,
            workspace_id=locked.id,
            details={"from": previous, "to": days},
        )
    workspace.job_retention_days = locked.job_retention_days
    return workspace
