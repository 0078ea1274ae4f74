"""Recipes, jobs and steps for tests of the job interfaces: rows written as a worker would leave them."""

from __future__ import annotations

from typing import Any

from causeway.recipes.models import Project, Recipe
from causeway.runs.models import Job, JobStep
from testkit.factories import JobFactory, JobStepFactory, ProjectFactory, RecipeFactory

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
        project = ProjectFactory.create(actor=admin, workspace=workspace, name=f"{name} project")
    recipe = RecipeFactory.create(actor=admin, project=project, name=name, definition=definition or MANUAL)
    if environment != project.environment:
        # Content reaches TEST and PROD by promotion, which humans may not write: the row is moved here,
        # into the project's copy in that environment.
        copy = Project.objects.get(family=project.family, environment=environment)
        Recipe.objects.filter(pk=recipe.pk).update(project=copy)
        recipe.refresh_from_db()
    return recipe


def make_job(
    recipe: Any, *, by: Any = None, service_account: Any = None, payload: Any = None, **fields: Any
) -> Job:
    """A job of the recipe's current version (see `JobFactory`); `by` is the person who ran it."""
    job: Job = JobFactory.create(
        recipe=recipe,
        run_by_user=by,
        run_by_service_account=service_account,
        trigger_payload=payload,
        **fields,
    )
    return job


def make_step(job: Job, path: str, position: int, **fields: Any) -> JobStep:
    step: JobStep = JobStepFactory.create(job=job, path=path, position=position, **fields)
    return step


def without_job_history(workspace: Any, user: Any) -> Any:
    """Give a member a custom role: their system role without `recipe:debug`, so that, as rule 8 says of
    anyone without debug, they see only the jobs they ran themselves."""
    from causeway.workspaces.models import Membership, Role

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


def people_may_execute_in_dev(admin: Any, workspace: Any) -> None:
    """An Admin widens DEV's policy with execute: rule 5's default lets no person run a recipe for real
    (test runs only), so a test of people running and re-running jobs starts here."""
    from causeway.access.services import environment_policy_set

    environment_policy_set(
        actor=admin,
        workspace=workspace,
        environment="dev",
        capabilities=["read", "write", "execute", "debug"],
    )
