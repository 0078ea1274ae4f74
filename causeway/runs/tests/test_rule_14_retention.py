"""Rule 14: job history is kept for the workspace's retention period, then purged; a failed job can be
re-run while its history is kept, and not after."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from causeway.access.errors import NotFound
from causeway.audit.models import ActorType, AuditEvent
from causeway.runs.models import Job, JobStep
from causeway.runs.services import job_create, job_rerun, workspace_retention_set
from causeway.runs.tasks import purge_job_history
from causeway.runs.tests.helpers import definition, http_step, recipe, setting

pytestmark = pytest.mark.django_db

URL = "https://api.example.com/orders"


def aged(place: Any, made: Any, *, days: float, status: str = "failed") -> Job:
    """A job of the recipe created `days` ago, finished in `status`, with one recorded step."""
    job = job_create(actor=place.admin, recipe=made, trigger_type="manual", payload={"order": 1})
    job.status = status
    job.error = "s1: HTTP 500" if status == "failed" else None
    job.save(update_fields=["status", "error"])
    created = timezone.now() - timedelta(days=days)
    Job.objects.filter(pk=job.pk).update(created_at=created)
    JobStep.objects.create(
        workspace=place.workspace,
        job=job,
        path="s1",
        position=0,
        step_type="http",
        status="failed" if status == "failed" else "succeeded",
        input={"url": URL},
        output={"status": 500},
        started_at=created,
    )
    return job


def purge_events(workspace: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(workspace_id=workspace.id, action="job_history.purged"))


def test_rule_14_purge_removes_old_history_keeps_recent_and_is_audited_per_workspace() -> None:
    acme = setting("Acme")
    other = setting("Other")
    workspace_retention_set(actor=other.admin, workspace=other.workspace, days=90)
    acme_recipe = recipe(acme, definition(http_step("s1", URL)))
    other_recipe = recipe(other, definition(http_step("s1", URL)))

    old_failed = aged(acme, acme_recipe, days=31)
    old_succeeded = aged(acme, acme_recipe, days=45, status="succeeded")
    recent = aged(acme, acme_recipe, days=29)
    # Not finished: the reaper's to end, never the purge's to delete.
    stuck = aged(acme, acme_recipe, days=40, status="running")
    other_kept = aged(other, other_recipe, days=60)
    other_old = aged(other, other_recipe, days=91)
    rerun = job_rerun(actor=acme.admin, job=old_failed)

    assert purge_job_history() == {str(acme.workspace.id): 2, str(other.workspace.id): 1, "api_calls": 0}

    remaining = set(Job.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, stuck.pk, other_kept.pk, rerun.pk}
    assert not JobStep.objects.filter(job_id__in=[old_failed.pk, old_succeeded.pk, other_old.pk]).exists()
    assert JobStep.objects.filter(job_id__in=[recent.pk, other_kept.pk]).count() == 2
    # The re-run stays, its link to the purged job gone with it.
    assert Job.objects.get(pk=rerun.pk).rerun_of_id is None

    [acme_event] = purge_events(acme.workspace)
    assert acme_event.actor_type == ActorType.SYSTEM
    assert acme_event.target_id == str(acme.workspace.id)
    assert acme_event.details["jobs"] == 2 and acme_event.details["steps"] == 2
    assert acme_event.details["retention_days"] == 30
    [other_event] = purge_events(other.workspace)
    assert other_event.details["jobs"] == 1 and other_event.details["retention_days"] == 90

    # Nothing more to purge: no more events.
    assert purge_job_history() == {"api_calls": 0}
    assert len(purge_events(acme.workspace)) == 1


def test_rule_14_a_failed_job_can_be_re_run_while_kept_and_not_after_it_is_purged() -> None:
    place = setting()
    made = recipe(place, definition(http_step("s1", URL)))
    kept = aged(place, made, days=10)
    assert job_rerun(actor=place.admin, job=kept).rerun_of == kept

    workspace_retention_set(actor=place.admin, workspace=place.workspace, days=7)
    assert purge_job_history() == {str(place.workspace.id): 1, "api_calls": 0}
    assert not Job.objects.filter(pk=kept.pk).exists()
    # NotFound is the API's 404 and the page's 404.
    with pytest.raises(NotFound):
        job_rerun(actor=place.admin, job=kept)
