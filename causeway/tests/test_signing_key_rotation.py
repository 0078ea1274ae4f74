"""Rotating the PROD signing key: an Admin's key-management act, asked only after a fresh sign-in,
audited, on the page, the API and the command line. Promotions sign with the new key from then on;
versions signed under the old key keep verifying under it (its id is stored beside the MAC), in this
process and in a real worker process that had the old keyset cached."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from causeway.access.errors import Forbidden
from causeway.accounts.services import STEP_UP_WINDOW
from causeway.audit.models import AuditEvent
from causeway.recipes import promotion, signatures
from causeway.recipes.models import Project, Recipe, RecipeGrant, RecipeVersion
from causeway.recipes.services import recipe_create, recipe_save
from causeway.runs.models import FINISHED, Job
from causeway.runs.services import job_create
from causeway.runs.tests.helpers import setting
from causeway.vault import signing
from causeway.workspaces.models import ServiceAccount
from causeway.workspaces.tests.helpers import bearer
from testkit.factories import ProjectFactory
from testkit.personas import cast
from testkit.support import (
    STRONG_PASSWORD,
    CausewayProcess,
    https_client,
    jobs_seen,
    poll_until,
    process_env,
    start_worker,
    stop_together,
)

BOUND = 90  # seconds; far above what a job takes, a test that reaches it has failed


@dataclass
class Place:
    workspace: Any
    project: Any
    admin: Any
    analyst: Any


def _place() -> Place:
    acme = cast("admin", "analyst")
    people = acme.people()
    project = ProjectFactory.create(workspace=acme.workspace, name="Integrations")
    return Place(acme.workspace, project, people["admin"], people["analyst"])


def _built(place: Any, total: str) -> Recipe:
    return recipe_create(
        actor=place.admin,
        workspace=place.workspace,
        project=place.project,
        name="Totals",
        definition=_mapping(total),
    )


def _mapping(total: str) -> dict[str, Any]:
    return {"trigger": {"type": "manual"}, "steps": [{"id": "m", "type": "map", "fields": {"total": total}}]}


def _to_prod(place: Any, dev_recipe: Recipe) -> Recipe:
    """The DEV recipe's current version promoted through TEST into PROD; the PROD copy."""
    dev = place.project
    promotion.promote(actor=place.admin, source=dev, recipes=[dev_recipe.pk])
    test = Project.objects.get(family=dev.family, environment="test")
    promotion.promote(actor=place.admin, source=test, recipes=[test.recipes.get(family=dev_recipe.family).pk])
    prod = Project.objects.get(family=dev.family, environment="prod")
    return prod.recipes.get(family=dev_recipe.family)


def _events() -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action="vault.signing_key_rotated").order_by("occurred_at", "chain", "seq")
    )


@pytest.mark.django_db
def test_versions_signed_before_a_rotation_still_verify_and_new_ones_use_the_new_key() -> None:
    place = _place()
    built = _built(place, "{{ 6 * 7 }}")
    live = _to_prod(place, built)
    first = live.current_version
    assert first.signature_key_id == signing.key_id_of(bytes(first.signature))
    with pytest.raises(Forbidden):  # key management is the Admin's alone
        signatures.signing_key_rotate(actor=place.analyst, workspace=place.workspace)
    done = signatures.signing_key_rotate(actor=place.admin, workspace=place.workspace)
    assert (done.old_key_id, done.new_key_id != done.old_key_id) == (first.signature_key_id, True)
    [event] = _events()
    assert event.actor_id == str(place.admin.pk) and event.details == {
        "old_key_id": done.old_key_id,
        "new_key_id": done.new_key_id,
    }
    assert signatures.version_refusal(RecipeVersion.objects.get(pk=first.pk)) is None
    recipe_save(actor=place.admin, recipe=built, definition=_mapping("{{ 7 * 7 }}"))
    live = _to_prod(place, Recipe.objects.get(pk=built.pk))
    second = live.current_version
    assert second.signature_key_id == done.new_key_id
    assert signatures.version_refusal(second) is None
    status = signatures.signing_key_status(actor=place.admin, workspace=place.workspace)
    assert status == {
        "current_key_id": done.new_key_id,
        "versions_by_key": {str(first.signature_key_id): 1, str(done.new_key_id): 1},
    }
    # The key id is bound to the signature: a version claiming another key than its tag's is refused.
    claimed = RecipeVersion.objects.get(pk=first.pk)
    claimed.signature_key_id = done.new_key_id
    assert "does not match its signature" in (signatures.version_refusal(claimed) or "")


@pytest.mark.django_db
def test_rotation_asks_for_a_fresh_sign_in_on_the_page_and_the_api_and_runs_from_the_command_line() -> None:
    place = _place()
    ws = place.workspace
    start = datetime.now(UTC) - timedelta(hours=1)  # travelled forward, still before the later events
    with time_machine.travel(start, tick=False) as clock:
        page = https_client()
        assert (
            page.post("/login", {"username": place.admin.email, "password": STRONG_PASSWORD}).status_code
            == 302
        )
        shown = page.get(f"/w/{ws.slug}/settings").content.decode()
        assert 'id="rotate-signing-key"' in shown and "none yet" in shown
        clock.shift(STEP_UP_WINDOW)
        clock.shift(60)
        stale = page.post(f"/w/{ws.slug}/settings/signing-key/rotate")
        assert stale.status_code == 302 and stale["Location"].startswith("/reauthenticate")
        api_stale = page.post(f"/api/v1/workspaces/{ws.id}/signing-key/rotate")
        assert api_stale.status_code == 403 and api_stale.json()["permission"] == "auth:recent"
        assert _events() == []
        back = page.post("/reauthenticate", {"password": STRONG_PASSWORD, "next": f"/w/{ws.slug}/settings"})
        assert back.status_code == 302
        done = page.post(f"/w/{ws.slug}/settings/signing-key/rotate")
        assert done.status_code == 302 and done["Location"] == f"/w/{ws.slug}/settings"
    [first] = _events()
    assert first.details["old_key_id"] is None and first.details["new_key_id"] == signing.current_key_id(
        ws.id
    )
    analyst = https_client(**bearer(place.analyst))
    assert analyst.post(f"/api/v1/workspaces/{ws.id}/signing-key/rotate").status_code == 403
    admin = https_client(**bearer(place.admin))
    rotated = admin.post(f"/api/v1/workspaces/{ws.id}/signing-key/rotate")
    assert rotated.status_code == 200 and rotated.json()["old_key_id"] == first.details["new_key_id"]
    seen = admin.get(f"/api/v1/workspaces/{ws.id}/signing-key").json()
    assert seen == {"current_key_id": rotated.json()["new_key_id"], "versions_by_key": {}}
    out = io.StringIO()
    call_command("promote", "signing-key", "--workspace", ws.slug, "rotate", stdout=out)
    assert out.getvalue().startswith("PROD versions are signed with key ")
    assert len(_events()) == 3 and signing.current_key_id(ws.id) == _events()[-1].details["new_key_id"]
    shown = io.StringIO()
    call_command("promote", "signing-key", "--workspace", ws.slug, "show", stdout=shown)
    assert shown.getvalue().strip() == f"signing key: {signing.current_key_id(ws.id)}; signed versions: none"
    with pytest.raises(CommandError, match="no workspace"):
        call_command("promote", "signing-key", "--workspace", "nowhere", "rotate", stdout=io.StringIO())


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


def _run(actor: Any, recipe: Recipe) -> Job:
    job = job_create(actor=actor, recipe=recipe, trigger_type="manual")
    done = poll_until(
        lambda: _finished(job), seconds=BOUND, what="the job to finish", saw=lambda: jobs_seen([job])
    )
    assert isinstance(done, Job)
    return done


@pytest.mark.server
def test_a_real_worker_runs_versions_signed_under_the_old_and_the_new_key(worker: CausewayProcess) -> None:
    place = setting()
    built = _built(place, "{{ 6 * 7 }}")
    live = _to_prod(place, built)
    robot = ServiceAccount.objects.create(workspace=place.workspace, name="runner")
    RecipeGrant.objects.create(workspace=place.workspace, recipe=live, service_account=robot, execute=True)
    # The worker opens (and caches) the signing keyset as it was before the rotation.
    assert _run(robot, live).status == "succeeded"
    old = live.current_version
    rotation = signatures.signing_key_rotate(actor=place.admin, workspace=place.workspace)
    # Signed under the old key, run after the rotation: still verifies.
    assert _run(robot, live).status == "succeeded"
    recipe_save(actor=place.admin, recipe=built, definition=_mapping("{{ 7 * 7 }}"))
    live = _to_prod(place, Recipe.objects.get(pk=built.pk))
    assert live.current_version.signature_key_id == rotation.new_key_id != old.signature_key_id
    # Signed under the new key, which the worker's cached keyset does not hold yet: it reads it again.
    newer = _run(robot, live)
    assert newer.status == "succeeded", newer.error
    assert not AuditEvent.objects.filter(action="recipe_version.refused").exists()
    # Rolling back to the version the old key signed runs too (re-signed under the new key).
    promotion.rollback(actor=place.admin, recipe=live, number=old.number)
    live.refresh_from_db()
    assert _run(robot, live).status == "succeeded"
    # A signature claiming a key other than the one that made it is refused by the worker, audited.
    forged = RecipeVersion.objects.get(pk=live.current_version_id)
    forged.signature_key_id = old.signature_key_id
    forged.save(update_fields=["signature_key_id"])
    refused = _run(robot, live)
    assert refused.status == "failed" and "does not match its signature" in (refused.error or "")
    assert AuditEvent.objects.filter(action="recipe_version.refused").count() == 1
