"""A recipe's retry policy with real worker processes: a failed job is started again as a new attempt,
after its wait, sending the first attempt's idempotency keys, so the target sees one effect per key."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from causeway.runs.models import FINISHED, Job, JobStatus
from causeway.runs.services import job_create
from causeway.runs.tests import test_rule_15_workers as workers
from causeway.runs.tests.helpers import definition, http_step, recipe, setting
from causeway.runs.tests.test_rule_15_workers import RECOVERY_BOUND, Processes
from testkit.support import jobs_seen, poll_until

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

env, processes = workers.env, workers.processes


class Target:
    """A real HTTP server that applies one effect per idempotency key. `/flaky` answers 500, applying
    nothing, to its first `failures` calls; `/ok` never fails."""

    def __init__(self, failures: int) -> None:
        self.lock = threading.Lock()
        self.effects: dict[str, int] = {}
        self.keys: list[str] = []
        self.failures = failures
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                key = self.headers.get("Idempotency-Key") or ""
                with target.lock:
                    target.keys.append(key)
                    failing = self.path == "/flaky" and target.failures > 0
                    if failing:
                        target.failures -= 1
                    elif key not in target.effects:
                        target.effects[key] = 1
                self.send_response(500 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def target() -> Iterator[Target]:
    running = Target(failures=2)
    yield running
    running.close()


def attempts_of(first: Job) -> list[Job]:
    chain, job = [], Job.objects.get(pk=first.pk)
    while job is not None:
        chain.append(job)
        job = Job.objects.filter(retry_of=job).first()
    return chain


def test_rule_15_a_failed_job_is_retried_as_new_attempts_with_the_same_idempotency_keys(
    processes: Processes, target: Target
) -> None:
    processes.beat_and_worker()
    place = setting()
    body = definition(http_step("s1", target.url("/ok")), http_step("s2", target.url("/flaky")))
    body["settings"] = {"retries": 3, "retry_wait_seconds": 1}
    first = job_create(actor=place.admin, recipe=recipe(place, body), trigger_type="manual")

    done = poll_until(
        lambda: (chain := attempts_of(first))[-1].status == JobStatus.SUCCEEDED and chain,
        seconds=RECOVERY_BOUND,
        what="an attempt to succeed",
        saw=lambda: jobs_seen(attempts_of(first)),
    )
    # Two attempts failed on the flaky step; the third succeeded, and no fourth was started.
    assert [job.status for job in done] == ["failed", "failed", "succeeded"]
    assert [job.retry_number for job in done] == [0, 1, 2]
    assert {job.first_attempt_id for job in done[1:]} == {first.pk}
    assert all(job.run_by_user_id == place.admin.pk for job in done)
    # Every attempt sent the first attempt's keys; the target applied each once.
    assert set(target.keys) == {f"{first.pk}:s1", f"{first.pk}:s2"}
    assert target.effects == {f"{first.pk}:s1": 1, f"{first.pk}:s2": 1}


def test_a_stop_step_is_final_and_no_retry_is_started(processes: Processes) -> None:
    processes.beat_and_worker()
    place = setting()
    body = definition({"id": "halt", "type": "stop", "message": "not today"})
    body["settings"] = {"retries": 2, "retry_wait_seconds": 1}
    sync = recipe(place, body)
    stopped = job_create(actor=place.admin, recipe=sync, trigger_type="manual")
    done = poll_until(
        lambda: Job.objects.filter(pk=stopped.pk, status__in=FINISHED).first(),
        seconds=RECOVERY_BOUND,
        what="the job to stop",
    )
    assert done.status == JobStatus.FAILED and done.error == "not today"
    # A retry is queued in the transaction that fails its attempt: none was.
    assert not Job.objects.filter(retry_of=stopped).exists()
