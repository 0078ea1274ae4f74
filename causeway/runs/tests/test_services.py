"""Starting and re-running jobs: who may, which version runs, what is audited, what is kept."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from causeway.access.errors import Forbidden, NotFound
from causeway.accounts.actors import SYSTEM, TRIGGER
from causeway.audit.models import AuditEvent
from causeway.recipes.models import RecipeGrant
from causeway.recipes.services import project_create, recipe_save
from causeway.runs.models import Job
from causeway.runs.services import job_create, job_rerun, workspace_retention_set
from causeway.runs.tests.factories import without_job_history
from causeway.runs.tests.helpers import definition, http_step, recipe, setting
from causeway.runs.triggers import recipe_start
from causeway.vault.masking import forget_value, register_value
from causeway.workspaces.models import Membership, ServiceAccount
from testkit.support import make_user

pytestmark = pytest.mark.django_db

URL = "https://api.example.com/orders"


def events(workspace: Any, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(workspace_id=workspace.id, action=action).order_by("seq"))


def member(place: Any, email: str, role: str) -> Any:
    from causeway.workspaces.models import Role

    user = make_user(email)
    Membership.objects.create(
        workspace=place.workspace, user=user, role=Role.objects.get(workspace=None, key=role)
    )
    return user


@pytest.fixture
def place() -> Any:
    return setting()


@pytest.fixture
def sync(place: Any) -> Any:
    return recipe(place, definition(http_step("s1", URL)))


def test_a_person_runs_a_recipe_and_that_is_audited_but_the_job_is_not(place: Any, sync: Any) -> None:
    job = job_create(actor=place.admin, recipe=sync, trigger_type="manual", payload={"order": 7})
    assert job.status == "queued"
    assert job.version_id == sync.current_version_id
    assert job.run_by_user == place.admin and job.run_by_service_account is None
    assert job.environment == "dev"
    assert job.dispatched_at is not None
    assert Job.objects.get(pk=job.pk).trigger_payload == {"order": 7}
    [event] = events(place.workspace, "recipe.run")
    assert event.target_id == str(sync.id)
    assert event.details == {"job": str(job.id), "version": 1, "test": False}
    assert not AuditEvent.objects.filter(action__startswith="job.").exists()


def test_a_test_run_takes_the_draft_and_a_run_the_started_version(place: Any, sync: Any) -> None:
    recipe_start(actor=place.admin, recipe=sync)
    draft = recipe_save(actor=place.admin, recipe=sync, definition=definition(http_step("s2", URL)))
    sync.refresh_from_db()
    run = job_create(actor=place.admin, recipe=sync, trigger_type="manual")
    test = job_create(actor=place.admin, recipe=sync, trigger_type="manual", is_test=True)
    assert run.version.number == 1
    assert test.version == draft and test.is_test
    assert [e.details["test"] for e in events(place.workspace, "recipe.run")] == [False, True]


def test_an_operator_runs_in_dev_but_not_in_prod_and_an_outsider_finds_nothing(place: Any) -> None:
    operator = member(place, "operator@acme.example", "operator")
    dev = recipe(place, definition(http_step("s1", URL)))
    assert job_create(actor=operator, recipe=dev, trigger_type="manual").run_by_user == operator
    prod = project_create(actor=SYSTEM, workspace=place.workspace, name="Live", environment="prod")
    from causeway.recipes.services import recipe_create

    # Rule 5: recipes change in PROD only by promotion; the operator's command line stands in for it.
    live = recipe_create(
        actor=SYSTEM,
        workspace=place.workspace,
        project=prod,
        name="Live sync",
        definition=definition(http_step("s1", URL)),
    )
    with pytest.raises(Forbidden) as refused:
        job_create(actor=operator, recipe=live, trigger_type="manual")
    assert refused.value.perm == "recipe:run"
    outsider = setting("Other").admin
    with pytest.raises(NotFound):
        job_create(actor=outsider, recipe=dev, trigger_type="manual")
    assert Job.objects.filter(recipe=live).count() == 0


def test_a_service_account_runs_only_what_it_is_granted_and_is_not_audited(place: Any, sync: Any) -> None:
    robot = ServiceAccount.objects.create(workspace=place.workspace, name="robot")
    with pytest.raises(NotFound):
        job_create(actor=robot, recipe=sync, trigger_type="manual")
    # Rule 8: a service account holds nothing but execute; a read grant alone shows it nothing.
    RecipeGrant.objects.create(workspace=place.workspace, recipe=sync, service_account=robot, read=True)
    with pytest.raises(NotFound):
        job_create(actor=robot, recipe=sync, trigger_type="manual")
    RecipeGrant.objects.filter(service_account=robot).update(read=False, execute=True)
    with pytest.raises(NotFound):
        job_create(actor=robot, recipe=sync, trigger_type="manual", is_test=True)
    job = job_create(actor=robot, recipe=sync, trigger_type="webhook")
    assert job.run_by_service_account == robot and job.run_by_user is None
    assert events(place.workspace, "recipe.run") == []


def test_a_trigger_starts_jobs_only_for_a_started_recipe_and_is_not_audited(place: Any, sync: Any) -> None:
    with pytest.raises(ValidationError):
        job_create(actor=TRIGGER, recipe=sync, trigger_type="schedule")
    recipe_start(actor=place.admin, recipe=sync)
    recipe_save(actor=place.admin, recipe=sync, definition=definition(http_step("s2", URL)))
    job = job_create(actor=TRIGGER, recipe=sync, trigger_type="webhook", payload={"id": 1})
    assert job.version.number == 1  # the started version, not the newer draft
    assert job.run_by_user is None and job.run_by_service_account is None
    assert events(place.workspace, "recipe.run") == []
    with pytest.raises(ValidationError):
        job_create(actor=TRIGGER, recipe=sync, trigger_type="carrier-pigeon")


def test_rule_13_a_known_secret_value_in_the_trigger_payload_is_masked_before_it_is_stored(
    place: Any, sync: Any
) -> None:
    register_value("canary", "canary-7f3a9c-value")
    try:
        recipe_start(actor=place.admin, recipe=sync)
        job = job_create(
            actor=TRIGGER, recipe=sync, trigger_type="webhook", payload={"note": "x canary-7f3a9c-value y"}
        )
    finally:
        forget_value("canary-7f3a9c-value")
    assert Job.objects.get(pk=job.pk).trigger_payload == {"note": "x [masked:canary] y"}


def failed_job(place: Any, sync: Any, **extra: Any) -> Job:
    job = job_create(actor=place.admin, recipe=sync, trigger_type="manual", payload={"order": 9}, **extra)
    job.status = "failed"
    job.error = "s1: HTTP 503"
    job.save(update_fields=["status", "error"])
    return job


def test_rule_14_a_failed_job_is_re_run_with_its_version_and_data_and_the_old_one_stays(
    place: Any, sync: Any
) -> None:
    old = failed_job(place, sync)
    recipe_save(actor=place.admin, recipe=sync, definition=definition(http_step("s2", URL)))
    new = job_rerun(actor=place.admin, job=old)
    assert new.pk != old.pk and new.rerun_of == old
    assert new.version == old.version
    assert new.status == "queued"
    assert Job.objects.get(pk=new.pk).trigger_payload == {"order": 9}
    kept = Job.objects.get(pk=old.pk)
    assert (kept.status, kept.error) == ("failed", "s1: HTTP 503")
    [event] = events(place.workspace, "job.rerun")
    assert event.target_id == str(new.id)
    assert event.details["rerun_of"] == str(old.id)
    assert len(events(place.workspace, "recipe.run")) == 1  # the first run only


def test_only_a_failed_job_can_be_re_run(place: Any, sync: Any) -> None:
    job = job_create(actor=place.admin, recipe=sync, trigger_type="manual")
    with pytest.raises(ValidationError):
        job_rerun(actor=place.admin, job=job)


def test_re_running_needs_the_job_in_sight_and_the_right_to_run(place: Any, sync: Any) -> None:
    old = failed_job(place, sync)
    operator = member(place, "operator@acme.example", "operator")
    without_job_history(place.workspace, operator)
    # Rule 8: without debug, an operator sees only the jobs it ran itself.
    with pytest.raises(NotFound):
        job_rerun(actor=operator, job=old)
    own = job_create(actor=operator, recipe=sync, trigger_type="manual")
    own.status = "failed"
    own.save(update_fields=["status"])
    assert job_rerun(actor=operator, job=own).run_by_user == operator
    with pytest.raises(NotFound):
        job_rerun(actor=setting("Other").admin, job=old)


def test_retention_is_set_by_an_admin_within_bounds_and_audited(place: Any) -> None:
    analyst = member(place, "analyst@acme.example", "analyst")
    with pytest.raises(Forbidden):
        workspace_retention_set(actor=analyst, workspace=place.workspace, days=90)
    for wrong in (0, 3651, "30", 7.5, True):
        with pytest.raises(ValidationError):
            workspace_retention_set(actor=place.admin, workspace=place.workspace, days=wrong)
    workspace_retention_set(actor=place.admin, workspace=place.workspace, days=90)
    place.workspace.refresh_from_db()
    assert place.workspace.job_retention_days == 90
    workspace_retention_set(actor=place.admin, workspace=place.workspace, days=90)
    [event] = events(place.workspace, "workspace.job_retention_changed")
    assert event.details == {"from": 30, "to": 90}
    assert event.actor_id == str(place.admin.id)
