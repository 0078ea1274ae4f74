"""Outbound rate budgets: per connection and per connector in a workspace, counted in periods shared by every
worker process (the database, or Redis at scale), honouring a provider's 429 and Retry-After; a job waiting
for budget says why. The two-worker test runs real `causeway worker` processes against a real local server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from causeway.access.errors import Forbidden, NotFound
from causeway.audit.models import AuditEvent
from causeway.audit.refusals import counts_forget_all
from causeway.connections import budgets
from causeway.connections.models import Connection, RateBudget
from causeway.connections.tests.servers import Answer, Received, http_server
from causeway.runs.models import Job
from causeway.runs.services import job_create
from causeway.tests.connections_kit import Kit, build, recipe, run, step
from causeway.workspaces.tokens import token_create
from testkit.support import (
    broker_seen,
    clear_of_a_day_end,
    jobs_seen,
    launch_worker,
    poll_until,
    process_env,
    stop_together,
    wait_started,
)

# A moment in the middle of a 60-second period, so a test's takes all fall in one period.
T0 = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_counts() -> Iterator[None]:
    # Redis keeps counts across a test's rolled-back transaction.
    counts_forget_all()
    yield
    counts_forget_all()


@pytest.fixture
def server() -> Iterator[Any]:
    with http_server() as running:
        yield running


@pytest.fixture
def kit(server: Any) -> Kit:
    return build(server.url)


@pytest.mark.django_db
def test_a_budget_lets_its_limit_through_each_period_then_says_how_long_to_wait(kit: Kit) -> None:
    assert kit.personal is not None and kit.company is not None
    budgets.connection_budget_set(
        actor=kit.owner, workspace=kit.workspace, connection_id=kit.personal.id, limit=3, period_seconds=60
    )
    applying = budgets.budgets_of(kit.personal)
    assert [budgets.budget_take(connection=kit.personal, budgets=applying, now=T0) for _ in range(3)] == [
        None
    ] * 3
    wait = budgets.budget_take(connection=kit.personal, budgets=applying, now=T0)
    assert wait is not None and wait.seconds == 30
    assert (
        wait.reason
        == 'waiting for the rate budget of connection "Olive\'s API" (3 requests per 60 s) until 12:01:00 UTC'
    )
    assert (
        budgets.budget_take(connection=kit.personal, budgets=applying, now=T0 + timedelta(seconds=30)) is None
    )


@pytest.mark.django_db
def test_a_connector_budget_is_shared_by_all_its_connections(kit: Kit) -> None:
    assert kit.personal is not None and kit.company is not None
    budgets.connector_budget_set(
        actor=kit.admin, workspace=kit.workspace, key="http", limit=2, period_seconds=60
    )
    first, second = kit.personal, kit.company
    assert budgets.budget_take(connection=first, budgets=budgets.budgets_of(first), now=T0) is None
    assert budgets.budget_take(connection=second, budgets=budgets.budgets_of(second), now=T0) is None
    wait = budgets.budget_take(connection=first, budgets=budgets.budgets_of(first), now=T0)
    assert wait is not None and "the workspace's rate budget for http (2 requests per 60 s)" in wait.reason


@pytest.mark.django_db
def test_who_may_set_budgets_and_bad_input_changes_nothing(kit: Kit) -> None:
    assert kit.personal is not None
    with pytest.raises(Forbidden):
        budgets.connector_budget_set(
            actor=kit.analyst, workspace=kit.workspace, key="http", limit=5, period_seconds=1
        )
    # Someone else's personal connection does not exist for them (rule 9), an Admin's included.
    with pytest.raises(NotFound):
        budgets.connection_budget_set(
            actor=kit.analyst,
            workspace=kit.workspace,
            connection_id=kit.personal.id,
            limit=5,
            period_seconds=1,
        )
    with pytest.raises(ValidationError) as refused:
        budgets.connector_budget_set(
            actor=kit.admin, workspace=kit.workspace, key="http", limit=0, period_seconds=0
        )
    assert set(refused.value.message_dict) == {"limit", "period_seconds"}
    with pytest.raises(ValidationError, match="there is no connector 'nope'"):
        budgets.connector_budget_set(
            actor=kit.admin, workspace=kit.workspace, key="nope", limit=1, period_seconds=1
        )
    assert not RateBudget.objects.exists()
    budgets.connector_budget_set(
        actor=kit.admin, workspace=kit.workspace, key="http", limit=5, period_seconds=10
    )
    budgets.connector_budget_set(actor=kit.admin, workspace=kit.workspace, key="http", limit=None)
    assert not RateBudget.objects.exists()
    changes = AuditEvent.objects.filter(action="connector.budget_changed").order_by("seq")
    assert [e.details for e in changes] == [{"limit": 5, "period_seconds": 10}, {"removed": True}]


@pytest.mark.django_db
def test_the_command_line_sets_a_connector_budget(kit: Kit) -> None:
    import io

    out = io.StringIO()
    call_command(
        "connections",
        "budget",
        "--workspace",
        kit.workspace.slug,
        "--connector",
        "http",
        "--limit",
        "20",
        "--per",
        "10",
        stdout=out,
    )
    assert out.getvalue().strip() == "http: at most 20 requests per 10 s."
    assert RateBudget.objects.get().limit == 20


@pytest.mark.django_db
def test_a_429_with_retry_after_pauses_the_connection_then_the_step_goes_on() -> None:
    calls: list[float] = []

    def limited(got: Received) -> Answer:
        calls.append(got.at)
        if len(calls) == 1:
            return Answer(status=429, body={"error": "slow down"}, headers={"Retry-After": "2"})
        return Answer(body={"ok": True})

    with http_server(limited) as provider:
        kit = build(provider.url)
        assert kit.personal is not None
        found = recipe(kit, kit.owner, [{**step(kit.personal), "retries": 1}])
        job = run(kit.owner, found)
    assert job.status == "succeeded", job.error
    assert len(calls) == 2 and calls[1] - calls[0] >= 1.9
    paused = Connection.objects.get(pk=kit.personal.pk).paused_until
    assert paused is not None
    assert job.waiting_for == ""


@pytest.mark.django_db
def test_a_wait_past_the_jobs_time_limit_fails_the_step_and_sends_nothing(server: Any, settings: Any) -> None:
    # A minute's time limit, well before the day-long period ends: the second request would wait past it.
    settings.JOB_MAX_DURATION_SECONDS = 60
    kit = build(server.url)
    assert kit.personal is not None
    budgets.connection_budget_set(
        actor=kit.owner,
        workspace=kit.workspace,
        connection_id=kit.personal.id,
        limit=1,
        period_seconds=86_400,
    )
    found = recipe(kit, kit.owner, [{**step(kit.personal), "id": "one"}, {**step(kit.personal), "id": "two"}])
    with clear_of_a_day_end(600):
        job = run(kit.owner, found)
    assert job.status == "failed"
    assert "past the job's time limit, so no request was sent" in (job.error or "")
    assert len(server.received) == 1


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_share_one_budget_and_a_waiting_job_says_why(
    tmp_path: Path, client: Any
) -> None:
    # One request per period and two workers: from the first job that waits to the last request, some
    # job is always waiting, so the test sees a wait however slowly it polls.
    limit, period, jobs = 1, 2, 4
    with http_server() as provider:
        kit = build(provider.url)
        assert kit.personal is not None
        budgets.connection_budget_set(
            actor=kit.owner,
            workspace=kit.workspace,
            connection_id=kit.personal.id,
            limit=limit,
            period_seconds=period,
        )
        env = process_env(
            CAUSEWAY_BEAT_SCHEDULE_FILE=str(tmp_path / "beat-schedule"),
            CAUSEWAY_AUDIT_CHECKPOINT_FILE=str(tmp_path / "audit-checkpoints.jsonl"),
            CAUSEWAY_WORKER_CONCURRENCY="1",
        )
        started = [launch_worker(env, tmp_path) for _ in range(2)]
        try:
            wait_started(*started)
            found = recipe(kit, kit.owner, [step(kit.personal)])
            _, token = token_create(actor=kit.owner, name="budget", expires_in_days=1)
            auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
            jobs_url = f"/api/v1/workspaces/{kit.workspace.id}/jobs"
            # A first call loads the API, which takes seconds on a loaded machine: paid before any job
            # waits, or the first poll could outlast every wait.
            assert client.get(jobs_url, **auth).status_code == 200
            created = time.time()
            made = [
                job_create(actor=kit.owner, recipe=found, trigger_type="manual", is_test=True)
                for _ in range(jobs)
            ]
            ids = [job.pk for job in made]
            seen: set[str] = set()

            def all_done() -> bool:
                # The API is asked about the jobs the database shows waiting, while they wait.
                waiting = Job.objects.filter(pk__in=ids).exclude(waiting_for="").values_list("pk", flat=True)
                for job_id in waiting:
                    answer = client.get(f"{jobs_url}/{job_id}", **auth)
                    if answer.status_code == 200 and answer.json()["waiting_for"]:
                        seen.add(answer.json()["waiting_for"])
                return Job.objects.filter(pk__in=ids, status__in=["succeeded", "failed"]).count() == jobs

            # Each look asks the API, in this process, about every waiting job: looked for twice a
            # second, the workers are left the cores they need on a loaded machine, and a wait is still
            # seen (some job waits from the first wait to the last request). The bound is for a machine
            # busy with other work too; the jobs need four periods.
            poll_until(
                all_done,
                seconds=300,
                interval=0.5,
                what="every job to finish",
                saw=lambda: f"{jobs_seen(ids)}\n{broker_seen()}",
            )
            pids = {Job.objects.get(pk=job_id).lease_owner.split(":")[1] for job_id in ids}
        finally:
            stop_together(*started)
        arrivals = sorted(r.at for r in provider.received)
    statuses = set(Job.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == {"succeeded"}
    assert len(arrivals) == jobs
    assert len(pids) == 2, "both worker processes ran jobs"
    # A request leaves after its take and arrives a moment later, so by the end of each period at most
    # `limit` requests for every period since the jobs were made have arrived (a take is never before
    # the jobs were made). Four requests at one per period need four periods.
    first = int(created) // period
    for index in range(first, int(arrivals[-1]) // period + 1):
        arrived = sum(at < (index + 1) * period for at in arrivals)
        assert arrived <= limit * (index - first + 1), (index - first, arrivals, created)
    assert int(arrivals[-1]) // period - first >= jobs // limit - 1, (arrivals, created)
    assert any(
        reason.startswith('waiting for the rate budget of connection "Olive\'s API" (1 request per 2 s)')
        for reason in seen
    ), seen
