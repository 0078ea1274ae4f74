"""Cancelling jobs with real worker processes: a queued job never starts, a running one stops before its
next step (or during a long wait), keeps the history of what it did, and ends `cancelled`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from causeway.audit.models import AuditEvent
from causeway.db import is_conflict
from causeway.runs.models import FINISHED, Job, JobStatus
from causeway.runs.services import job_cancel, job_create
from causeway.runs.tests import test_rule_15_workers as workers
from causeway.runs.tests.helpers import LocalService, definition, http_step, recipe, setting
from causeway.runs.tests.test_rule_15_workers import RECOVERY_BOUND, Processes
from testkit.support import jobs_seen, poll_until

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

# The worker tests' own processes, environment and local service.
env, processes, service = workers.env, workers.processes, workers.service

# A provider that asks for a minute's pause on every call: a job retrying it waits that long.
RETRY_AFTER_SECONDS = 60


class Busy:
    """A real HTTP server answering every call 503 with `Retry-After`, counting the calls."""

    def __init__(self) -> None:
        self.calls = 0
        lock = threading.Lock()
        busy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with lock:
                    busy.calls += 1
                self.send_response(503)
                self.send_header("Retry-After", str(RETRY_AFTER_SECONDS))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/busy"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def busy() -> Iterator[Busy]:
    running = Busy()
    yield running
    running.close()


def finished(job: Job) -> Job | None:
    found = Job.objects.get(pk=job.pk)
    return found if found.status in FINISHED else None


def cancel_events(job: Job) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="job.cancelled", target_id=str(job.pk)).order_by("seq"))


def test_cancelled_queued_job_ends_at_once_and_no_worker_starts_it(
    processes: Processes, service: LocalService
) -> None:
    place = setting()
    sync = recipe(place, definition(http_step("s1", service.url("/effect"))))
    job = job_create(actor=place.admin, recipe=sync, trigger_type="manual")

    cancelled = job_cancel(actor=place.admin, job=job)
    assert cancelled.status == JobStatus.CANCELLED and cancelled.finished_at is not None
    assert (
        cancelled.cancelled_by == place.admin.email and cancelled.error == f"cancelled by {place.admin.email}"
    )
    assert [event.details["was"] for event in cancel_events(job)] == ["queued"]

    # A worker then takes the queue: a later job runs, the cancelled one never starts.
    processes.beat_and_worker()
    later = job_create(actor=place.admin, recipe=sync, trigger_type="manual")
    done = poll_until(lambda: finished(later), seconds=RECOVERY_BOUND, what="a later job")
    assert done.status == JobStatus.SUCCEEDED
    again = Job.objects.get(pk=job.pk)
    assert (again.status, again.attempts, again.started_at) == (JobStatus.CANCELLED, 0, None)
    assert list(service.seen.effects) == [f"{later.pk}:s1"]


def test_cancelled_running_job_stops_before_its_next_step_and_keeps_its_history(
    processes: Processes, service: LocalService
) -> None:
    processes.beat_and_worker()
    place = setting()
    sync = recipe(
        place, definition(http_step("s1", service.url("/hold")), http_step("s2", service.url("/effect")))
    )
    job = job_create(actor=place.admin, recipe=sync, trigger_type="manual")
    poll_until(
        lambda: service.seen.held_now() == 1,
        seconds=RECOVERY_BOUND,
        what="the job's first step",
        saw=lambda: jobs_seen([job]),
    )

    asked = job_cancel(actor=place.admin, job=job)
    assert asked.status == JobStatus.RUNNING and asked.cancel_requested_at is not None
    with pytest.raises(ValidationError) as refused:
        job_cancel(actor=place.admin, job=job)
    assert is_conflict(refused.value)
    service.let_go()

    done = poll_until(lambda: finished(job), seconds=RECOVERY_BOUND, what="the job to stop")
    assert done.status == JobStatus.CANCELLED, jobs_seen([job])
    assert done.error == f"cancelled by {place.admin.email}"
    # The step in flight finished and is kept; the next one never started.
    assert {step.path: step.status for step in done.steps.all()} == {"s1": "succeeded"}
    assert service.seen.effects == {f"{job.pk}:s1": 1}
    assert [event.details["was"] for event in cancel_events(job)] == ["running"]

    with pytest.raises(ValidationError) as refused:
        job_cancel(actor=place.admin, job=job)
    assert is_conflict(refused.value)
    assert len(cancel_events(job)) == 1


def test_cancel_reaches_a_job_waiting_out_a_long_back_off(processes: Processes, busy: Busy) -> None:
    processes.beat_and_worker()
    place = setting()
    step = {**http_step("s1", busy.url()), "retries": 5}
    job = job_create(actor=place.admin, recipe=recipe(place, definition(step)), trigger_type="manual")
    poll_until(
        lambda: busy.calls == 1, seconds=RECOVERY_BOUND, what="the first call", saw=lambda: jobs_seen([job])
    )

    # Five tries a minute apart: a job that noticed only at its next step would run for five minutes.
    job_cancel(actor=place.admin, job=job)
    asked = time.monotonic()
    done = poll_until(
        lambda: finished(job),
        seconds=RECOVERY_BOUND,
        what="the waiting job to stop",
        saw=lambda: jobs_seen([job]),
    )
    print(f"\ncancel to cancelled, during a back-off: {time.monotonic() - asked:.1f} s")
    assert done.status == JobStatus.CANCELLED
    assert busy.calls == 1
    (row,) = done.steps.all()
    assert (row.status, row.error) == ("failed", f"cancelled by {place.admin.email}")


def test_a_job_cancelled_while_its_worker_was_gone_is_ended_by_the_reaper_not_resumed(
    processes: Processes, service: LocalService
) -> None:
    first = processes.beat_and_worker()
    place = setting()
    sync = recipe(
        place, definition(http_step("s1", service.url("/hold")), http_step("s2", service.url("/effect")))
    )
    job = job_create(actor=place.admin, recipe=sync, trigger_type="manual")
    poll_until(lambda: service.seen.held_now() == 1, seconds=RECOVERY_BOUND, what="the job's first step")
    first.kill_group()
    job_cancel(actor=place.admin, job=job)
    processes.worker()

    done = poll_until(
        lambda: finished(job), seconds=RECOVERY_BOUND, what="the reaper", saw=lambda: jobs_seen([job])
    )
    assert done.status == JobStatus.CANCELLED and done.attempts == 1
    assert f"{job.pk}:s2" not in service.seen.effects
