"""Signed PROD versions: a promotion into PROD records its approver and signs the version under the
workspace's signing key; a real worker process checks the signature before it runs a PROD job, and
refuses (the job failed with a clear reason, the refusal audited) a version left unsigned or changed in
the database after it was promoted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from causeway.accounts.actors import SYSTEM
from causeway.audit.models import AuditEvent
from causeway.recipes import promotion, signatures
from causeway.recipes.models import Project, RecipeGrant, RecipeVersion
from causeway.recipes.services import recipe_create
from causeway.runs.models import FINISHED, Job
from causeway.runs.services import job_create
from causeway.runs.tests.helpers import setting
from causeway.workspaces.models import ServiceAccount
from testkit.support import (
    CausewayProcess,
    jobs_seen,
    poll_until,
    process_env,
    start_worker,
    stop_together,
)

BOUND = 90  # seconds; far above what a job takes, a test that reaches it has failed

MAPPING = {
    "trigger": {"type": "manual"},
    "steps": [{"id": "m", "type": "map", "fields": {"total": "{{ 6 * 7 }}"}}],
}


def _in_prod(place: Any) -> tuple[Any, Any]:
    """A DEV recipe promoted through TEST into PROD by the Admin; the PROD copy and its version."""
    dev = place.project
    built = recipe_create(
        actor=place.admin, workspace=place.workspace, project=dev, name="Totals", definition=MAPPING
    )
    promotion.promote(actor=place.admin, source=dev, recipes=[built.pk])
    test = Project.objects.get(family=dev.family, environment="test")
    tried = test.recipes.get(family=built.family)
    promotion.promote(actor=place.admin, source=test, recipes=[tried.pk])
    live = Project.objects.get(family=dev.family, environment="prod").recipes.get(family=built.family)
    return live, live.current_version


def _robot(place: Any, recipe: Any) -> ServiceAccount:
    robot = ServiceAccount.objects.create(workspace=place.workspace, name="runner")
    RecipeGrant.objects.create(workspace=place.workspace, recipe=recipe, service_account=robot, execute=True)
    return robot


@pytest.mark.django_db
def test_a_promotion_into_prod_records_its_approver_and_signs_the_version() -> None:
    place = setting()
    live, version = _in_prod(place)
    assert version.approved_by == place.admin and version.approved_label == place.admin.email
    assert version.signed_at is not None and version.signature
    assert signatures.version_refusal(version) is None
    test_version = (
        Project.objects.get(family=place.project.family, environment="test").recipes.get().current_version
    )
    assert test_version.signature is None and signatures.version_refusal(test_version) is None
    moved = AuditEvent.objects.filter(action="project.promoted", target_id=str(live.project_id)).get()
    assert moved.details["recipes"][0]["approved_by"] == place.admin.email


@pytest.mark.django_db
def test_a_signature_does_not_follow_a_changed_definition_approver_or_version() -> None:
    place = setting()
    live, version = _in_prod(place)
    changed = RecipeVersion.objects.get(pk=version.pk)
    changed.definition = {**MAPPING, "steps": [{"id": "m", "type": "map", "fields": {"total": "0"}}]}
    assert "does not match its signature" in (signatures.version_refusal(changed) or "")
    other = RecipeVersion.objects.get(pk=version.pk)
    other.approved_label = "someone@else.example"
    assert signatures.version_refusal(other) is not None
    # The signature of one version moved onto another, identical but for its number, is refused too.
    moved = RecipeVersion.objects.get(pk=version.pk)
    moved.number += 1
    assert signatures.version_refusal(moved) is not None
    unsigned = recipe_create(
        actor=SYSTEM, workspace=place.workspace, project=live.project, name="Hand", definition=MAPPING
    )
    assert "is not signed" in (signatures.version_refusal(unsigned.current_version) or "")


@pytest.fixture
def worker(transactional_db: None, tmp_path: Path) -> Iterator[CausewayProcess]:
    started = start_worker(process_env(CAUSEWAY_WORKER_CONCURRENCY="1"), tmp_path)
    try:
        yield started
    finally:
        stop_together(started)


def _finished(job: Job) -> Job | None:
    found = Job.objects.get(pk=job.pk)
    return found if found.status in FINISHED else None


def _run(actor: Any, recipe: Any) -> Job:
    job = job_create(actor=actor, recipe=recipe, trigger_type="manual")
    done = poll_until(
        lambda: _finished(job), seconds=BOUND, what="the job to finish", saw=lambda: jobs_seen([job])
    )
    assert isinstance(done, Job)
    return done


@pytest.mark.server
def test_a_prod_version_changed_in_the_database_is_refused_by_a_real_worker_and_audited(
    worker: CausewayProcess,
) -> None:
    place = setting()
    live, version = _in_prod(place)
    robot = _robot(place, live)

    done = _run(robot, live)
    assert done.status == "succeeded", done.error
    assert not AuditEvent.objects.filter(action="recipe_version.refused").exists()

    # Someone with the database (and the application's keys) rewrites the PROD version by hand.
    tampered = RecipeVersion.objects.get(pk=version.pk)
    tampered.definition = {**MAPPING, "steps": [{"id": "m", "type": "map", "fields": {"total": "{{ 0 }}"}}]}
    tampered.save(update_fields=["definition"])

    refused = _run(robot, live)
    assert refused.status == "failed"
    assert (
        refused.error
        == "refused: PROD version v1 does not match its signature; it was changed after it was promoted"
    )
    assert not refused.steps.exists(), "no step of a refused version ran"
    event = AuditEvent.objects.get(action="recipe_version.refused")
    assert event.outcome == "denied" and event.target_id == str(version.pk)
    assert event.details["job"] == str(refused.pk) and event.details["reason"] == refused.error
    assert event.workspace_id == place.workspace.id

    # A version put into PROD by any other way than promotion is unsigned, and refused the same way.
    hand = recipe_create(
        actor=SYSTEM, workspace=place.workspace, project=live.project, name="Hand", definition=MAPPING
    )
    RecipeGrant.objects.create(workspace=place.workspace, recipe=hand, service_account=robot, execute=True)
    unsigned = _run(robot, hand)
    assert unsigned.status == "failed"
    assert unsigned.error == "refused: PROD version v1 is not signed; promote it to run it"
    assert AuditEvent.objects.filter(action="recipe_version.refused").count() == 2
