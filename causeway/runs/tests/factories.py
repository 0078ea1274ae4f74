"""Recipes, jobs and steps for tests of the job interfaces: rows written as a worker would leave them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from causeway.recipes.models import Project
from causeway.recipes.services import project_create, recipe_create
from causeway.runs.models import Job, JobStep

MANUAL = {"trigger": {"type": "manual"}, "steps": [{"id": "s1", "type": "map", "fields": {"a": "{{ 1 }}"}}]}


def schedule_definition(cron: str = "0 9 * * 1-5", zone: str = "Europe/Paris") -> dict[str, Any]:
    return {"trigger": {"type": "schedule", "cron": cron, "timezone": zone}, "steps": MANUAL["steps"]}


def make_recipe(
    admin: Any,
    workspace: Any,
    name: str,
    *,
    definition: Any = None,
    environment: str = "dev",
    project: Any = None,
) -> Any:
    """A recipe made by `admin` (who gets the creator's four grants) in a project of `environment`."""
    if project is None:
        project = project_create(actor=admin, workspace=workspace, name=f"{name} project")
    recipe = recipe_create(
        actor=admin, workspace=workspace, project=project, name=name, definition=definition or MANUAL
    )
    if environment != project.environment:
        # Content reaches TEST and PROD by promotion, which humans may not write: the row is moved here.
        Project.objects.filter(pk=project.pk).update(environment=environment)
        recipe.project.refresh_from_db()
    return recipe


def make_job(
    recipe: Any,
    *,
    by: Any = None,
    service_account: Any = None,
    status: str = "succeeded",
    trigger_type: str = "manual",
    is_test: bool = False,
    error: str | None = None,
    payload: Any = None,
    created_at: dt.datetime | None = None,
    rerun_of: Any = None,
) -> Job:
    job = Job.objects.create(
        workspace_id=recipe.workspace_id,
        recipe=recipe,
        version=recipe.current_version,
        environment=recipe.project.environment,
        status=status,
        trigger_type=trigger_type,
        is_test=is_test,
        run_by_user=by,
        run_by_service_account=service_account,
        error=error,
        trigger_payload=payload,
        rerun_of=rerun_of,
    )
    if created_at is not None:
        Job.objects.filter(pk=job.pk).update(created_at=created_at)
        job.refresh_from_db()
    return job


def make_step(job: Job, path: str, position: int, **fields: Any) -> JobStep:
    started = timezone.now()
    values = {
        "step_type": "http",
        "status": "succeeded",
        "input": None,
        "output": None,
        "error": None,
        "attempts": 1,
        "started_at": started,
        "finished_at": started,
        "duration_ms": 12,
        **fields,
    }
    return JobStep.objects.create(
        workspace_id=job.workspace_id, job=job, path=path, position=position, **values
    )


def without_job_history(workspace: Any, user: Any) -> Any:
    """Give a member a custom role: their system role without `recipe:debug`, so that, as rule 8 says of
    anyone without debug, they see only the jobs they ran themselves."""
    from causeway.access.models import Role
    from causeway.workspaces.models import Membership

    membership = Membership.objects.select_related("role").get(workspace=workspace, user=user)
    system = membership.role
    role = Role.objects.create(
        workspace=workspace,
        key=f"{system.key}-without-job-history",
        name=f"{system.name} without job history",
        permissions=[p for p in system.permissions if p != "recipe:debug"],
        all_projects=True,
    )
    membership.role = role
    membership.save(update_fields=["role"])
    return role
