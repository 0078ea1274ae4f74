"""Reading jobs for the interfaces: always through the access lists (rule 8), filtered in the database."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from causeway.access.policy import Actor
from causeway.runs.models import Job, JobStatus, JobStep
from causeway.workspaces.models import Workspace


def job_list(
    *, actor: Actor, workspace: Workspace, recipe_id: Any = None, status: str | None = None
) -> QuerySet[Job]:
    """The jobs the actor may see, newest first, optionally of one recipe or in one status."""
    jobs: QuerySet[Job] = Job.objects.visible_to(actor, workspace=workspace)
    if recipe_id is not None:
        jobs = jobs.filter(recipe_id=recipe_id)
    if status is not None:
        if status not in JobStatus.values:
            return jobs.none()
        jobs = jobs.filter(status=status)
    return jobs.select_related("recipe", "version", "run_by_user", "run_by_service_account").order_by(
        "-created_at"
    )


def job_status_counts(*, actor: Actor, workspace: Workspace) -> dict[str, int]:
    """How many of the jobs the actor may see are in each status (every status present, zero or more)."""
    rows = (
        Job.objects.visible_to(actor, workspace=workspace).order_by().values("status").annotate(n=Count("pk"))
    )
    counts = {status: 0 for status in JobStatus.values}
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def job_steps(job: Job) -> QuerySet[JobStep]:
    """One job's recorded steps in the order they ran; the caller got the job through `job_get`."""
    return JobStep.objects.filter(job=job).order_by("position", "started_at")
