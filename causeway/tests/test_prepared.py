"""Statements compiled once per connection answer exactly as the ORM's querysets they are written as, on
SQLite and PostgreSQL alike: the same rows, related rows and sealed values, the same rows changed."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from causeway.db.prepared import NotPreparable, PreparedInsert, PreparedSave, PreparedSelect, PreparedUpdate
from causeway.runs.models import Job, JobStatus, JobStep, StepStatus, WebhookDelivery
from causeway.runs.services import job_create
from causeway.runs.tests.helpers import definition, recipe, setting
from causeway.vault.sealing import SealedValueError
from causeway.workspaces.models import Workspace

pytestmark = pytest.mark.django_db

MAP = {"id": "s1", "type": "map", "fields": {"a": "{{ 1 }}"}}


def _jobs(count: int) -> list[Job]:
    place = setting()
    made = recipe(place, definition(MAP))
    return [
        job_create(actor=place.admin, recipe=made, trigger_type="manual", payload={"n": n})
        for n in range(count)
    ]


def _fields(instance: Any) -> dict[str, Any]:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_a_prepared_select_gives_the_rows_and_related_rows_the_queryset_gives() -> None:
    jobs = _jobs(3)
    built: list[uuid.UUID] = []

    def build(pk: uuid.UUID) -> Any:
        built.append(pk)
        return Job.objects.select_related("version", "workspace", "recipe").filter(pk=pk)

    prepared = PreparedSelect(build, pk=uuid.UUID)
    for job in jobs:
        found = prepared.first(pk=job.pk)
        expected = Job.objects.select_related("version", "workspace", "recipe").get(pk=job.pk)
        assert found is not None
        assert _fields(found) == _fields(expected)
        assert _fields(found.version) == _fields(expected.version)
        assert _fields(found.workspace) == _fields(expected.workspace)
        assert _fields(found.recipe) == _fields(expected.recipe)
        # Sealed values open as they do for the ORM's rows: bound to their own row.
        assert found.trigger_payload == expected.trigger_payload
        assert found.version.definition == expected.version.definition
    # Compiled once for this connection (built twice then, to check it), whatever the values.
    assert len(built) == 2
    assert prepared.first(pk=uuid.uuid4()) is None
    assert prepared.all(pk=uuid.uuid4()) == []


def test_a_prepared_select_binds_every_use_of_a_placeholder_and_its_datetimes() -> None:
    jobs = _jobs(3)
    now = timezone.now()
    Job.objects.filter(pk=jobs[0].pk).update(not_before=now - timedelta(minutes=5))
    Job.objects.filter(pk=jobs[1].pk).update(not_before=now + timedelta(minutes=5))

    def due(workspace: uuid.UUID, at: datetime) -> Any:
        return Job.objects.filter(workspace_id=workspace, not_before__lte=at, created_at__lte=at).order_by(
            "created_at"
        )

    prepared = PreparedSelect(due, workspace=uuid.UUID, at=datetime)
    found = prepared.all(workspace=jobs[0].workspace_id, at=now)
    assert [job.pk for job in found] == [job.pk for job in due(jobs[0].workspace_id, now)] == [jobs[0].pk]
    later = now + timedelta(minutes=10)
    assert {job.pk for job in prepared.all(workspace=jobs[0].workspace_id, at=later)} == {
        jobs[0].pk,
        jobs[1].pk,
    }


def test_a_prepared_select_sets_the_querysets_annotations_and_leaves_deferred_fields_deferred() -> None:
    jobs = _jobs(2)

    def annotated(pk: uuid.UUID) -> Any:
        return (
            Job.objects.filter(pk=pk)
            .defer("trigger_payload")
            .annotate(
                later=Exists(
                    Job.objects.filter(recipe=OuterRef("recipe"), created_at__gt=OuterRef("created_at"))
                )
            )
        )

    prepared = PreparedSelect(annotated, pk=uuid.UUID)
    for job in jobs:
        found = prepared.first(pk=job.pk)
        expected = annotated(job.pk).get()
        assert found is not None
        assert found.later == expected.later  # type: ignore[attr-defined]
        assert "trigger_payload" in found.get_deferred_fields()
        assert found.trigger_payload == job.trigger_payload
    assert [bool(prepared.first(pk=job.pk).later) for job in jobs] == [True, False]  # type: ignore[union-attr]


def test_a_prepared_update_changes_the_rows_the_queryset_would_and_counts_them() -> None:
    jobs = _jobs(2)
    owner = "host:1:" + uuid.uuid4().hex
    prepared = PreparedUpdate(
        lambda pk, owner, at: (
            Job.objects.filter(pk=pk, status=JobStatus.QUEUED),
            {"status": JobStatus.RUNNING, "lease_owner": owner, "heartbeat_at": at},
        ),
        pk=uuid.UUID,
        owner=str,
        at=datetime,
    )
    at = timezone.now()
    assert prepared.run(pk=jobs[0].pk, owner=owner, at=at) == 1
    # The condition holds no longer: nothing changes the second time.
    assert prepared.run(pk=jobs[0].pk, owner="someone else", at=at) == 0
    changed, untouched = Job.objects.get(pk=jobs[0].pk), Job.objects.get(pk=jobs[1].pk)
    assert (changed.status, changed.lease_owner, changed.heartbeat_at) == ("running", owner, at)
    assert (untouched.status, untouched.lease_owner, untouched.heartbeat_at) == ("queued", "", None)


def test_a_placeholder_the_orm_writes_into_the_sql_text_is_refused() -> None:
    _jobs(1)
    folded = PreparedSelect(lambda count: Job.objects.order_by("created_at")[:count], count=int)
    with pytest.raises(NotPreparable, match="count"):
        folded.all(count=5)


def test_a_value_computed_from_a_placeholder_is_refused_not_kept_as_the_stand_in() -> None:
    jobs = _jobs(1)
    computed = PreparedUpdate(
        lambda pk, attempts: (Job.objects.filter(pk=pk, attempts=attempts), {"attempts": attempts + 1}),
        pk=uuid.UUID,
        attempts=int,
    )
    with pytest.raises(NotPreparable, match="computed from a placeholder"):
        computed.run(pk=jobs[0].pk, attempts=0)
    assert Job.objects.get(pk=jobs[0].pk).attempts == 0
    # Written as an expression of the column, it is one SQL text for every value.
    counted = PreparedUpdate(
        lambda pk, attempts: (Job.objects.filter(pk=pk, attempts=attempts), {"attempts": F("attempts") + 1}),
        pk=uuid.UUID,
        attempts=int,
    )
    assert counted.run(pk=jobs[0].pk, attempts=0) == 1
    assert counted.run(pk=jobs[0].pk, attempts=0) == 0
    assert counted.run(pk=jobs[0].pk, attempts=1) == 1
    assert Job.objects.get(pk=jobs[0].pk).attempts == 2


def test_a_prepared_statement_takes_exactly_its_placeholders() -> None:
    prepared = PreparedSelect(lambda slug: Workspace.objects.filter(slug=slug), slug=str)
    with pytest.raises(TypeError):
        prepared.all(name="acme")
    with pytest.raises(TypeError):
        prepared.all()


def test_each_connection_compiles_its_own() -> None:
    built: list[str] = []

    def build(slug: str) -> Any:
        built.append(slug)
        return Workspace.objects.filter(slug=slug)

    prepared = PreparedSelect(build, slug=str)
    workspace = setting("Acme").workspace
    assert prepared.first(slug=workspace.slug) == workspace
    assert len(built) == 2

    def elsewhere() -> None:
        try:
            prepared.all(slug=workspace.slug)
        finally:
            connections.close_all()

    # Another thread has its own connection, and compiles its own.
    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join(timeout=30)
    assert len(built) == 4
    assert prepared.first(slug=workspace.slug) == workspace
    assert len(built) == 4


def _step(job: Job, n: int, **values: Any) -> JobStep:
    given: dict[str, Any] = {"status": StepStatus.SUCCEEDED, **values}
    return JobStep(
        workspace_id=job.workspace_id,
        job=job,
        path=f"s{n}",
        position=n,
        step_type="map",
        started_at=timezone.now(),
        **given,
    )


def test_prepared_inserts_write_the_rows_a_save_writes_sealed_to_each_row() -> None:
    job = _jobs(1)[0]
    prepared = PreparedInsert(JobStep)
    # More rows than SQLite takes in one statement: written in batches.
    rows = [_step(job, n, input={"n": n}, output={"token": f"v{n}"}, error=None) for n in range(150)]
    prepared.run(rows)
    assert all(not row._state.adding and row._state.db == "default" for row in rows)
    stored = {row.path: row for row in JobStep.objects.filter(job=job)}
    assert len(stored) == 150
    for row in rows:
        found = stored[row.path]
        assert _fields(found) | {"input": None, "output": None} == _fields(row) | {
            "input": None,
            "output": None,
        }
        assert (found.input, found.output, found.error) == (
            {"n": row.position},
            {"token": f"v{row.position}"},
            None,
        )
    # Each value is sealed to its own row: one row's ciphertext does not open as another's.
    first, second = (JobStep.objects.filter(pk=row.pk) for row in rows[:2])
    moved = first.values_list("output", flat=True).get()
    second.update(output=moved)
    with pytest.raises(SealedValueError):
        _ = JobStep.objects.get(pk=rows[1].pk).output


def test_a_prepared_insert_reads_back_the_key_the_database_assigns_and_keeps_constraints() -> None:
    job = _jobs(1)[0]
    from causeway.runs.webhooks import webhook_endpoint_ensure

    endpoint = webhook_endpoint_ensure(recipe=job.recipe)
    now = timezone.now()
    prepared = PreparedInsert(WebhookDelivery)

    def delivery(digest: str) -> WebhookDelivery:
        return WebhookDelivery(
            endpoint=endpoint, signature_digest=digest, job=job, received_at=now, expires_at=now
        )

    made = [delivery("a" * 64), delivery("b" * 64)]
    prepared.run(made)
    assert [row.pk for row in made] == list(
        WebhookDelivery.objects.filter(job=job).order_by("pk").values_list("pk", flat=True)
    )
    assert made[0].pk is not None and made[1].pk > made[0].pk
    # A unique constraint refuses as for the ORM, and the transaction keeps nothing of it.
    with pytest.raises(IntegrityError), transaction.atomic():
        prepared.run([delivery("c" * 64)])
        prepared.run([delivery("a" * 64)])
    assert WebhookDelivery.objects.filter(job=job).count() == 2


def test_a_prepared_insert_refuses_expressions_and_rows_with_and_without_keys() -> None:
    job = _jobs(1)[0]
    prepared = PreparedInsert(JobStep)
    with pytest.raises(TypeError, match="expression"):
        prepared.run([_step(job, 1, attempts=F("position") + 1)])
    with pytest.raises(ValueError, match="primary key"):
        PreparedInsert(Job).run([Job(pk=None), job])
    assert not JobStep.objects.filter(job=job).exists()


def test_a_prepared_save_writes_the_fields_a_save_with_update_fields_writes() -> None:
    job = _jobs(1)[0]
    row = _step(job, 1, status=StepStatus.RUNNING, input={"a": 1})
    row.save(force_insert=True)
    prepared = PreparedSave(JobStep, ["status", "output", "finished_at", "duration_ms"])
    row.status = StepStatus.SUCCEEDED
    row.output = {"answer": 42}
    row.finished_at = timezone.now()
    row.duration_ms = 7
    row.path = "not written"
    prepared.run(row)
    found = JobStep.objects.get(pk=row.pk)
    assert (found.status, found.output, found.finished_at, found.duration_ms) == (
        "succeeded",
        {"answer": 42},
        row.finished_at,
        7,
    )
    # Only the named fields: the path stays as stored; the input, never changed, still opens.
    assert (found.path, found.input) == ("s1", {"a": 1})
    JobStep.objects.filter(pk=row.pk).delete()
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        prepared.run(row)
