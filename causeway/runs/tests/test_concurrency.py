"""A recipe's concurrency limit with real worker processes: jobs past the limit stay queued, saying they
wait for a free slot, and start as slots free; the count is the database's, across worker processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from causeway.recipes.definition import definition_load
from causeway.runs.models import Job, JobStatus
from causeway.runs.runtime import slot_reason
from causeway.runs.services import job_create
from causeway.runs.tests import test_rule_15_workers as workers
from causeway.runs.tests.helpers import definition, http_step, recipe, setting
from causeway.runs.tests.test_rule_15_workers import RECOVERY_BOUND, Processes
from testkit.support import jobs_seen, poll_until

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

env, processes = workers.env, workers.processes

# Held calls give up after this long, so a failed test leaves no worker waiting on this server.
HOLD_LIMIT_SECONDS = 120


class Gate:
    """A real HTTP server that holds every call until the test lets one through, counting how many it
    holds at once and the most it ever held."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.passes = threading.Semaphore(0)
        self.calls = 0
        self.in_flight = 0
        self.most = 0
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with gate.lock:
                    gate.calls += 1
                    gate.in_flight += 1
                    gate.most = max(gate.most, gate.in_flight)
                gate.passes.acquire(timeout=HOLD_LIMIT_SECONDS)
                with gate.lock:
                    gate.in_flight -= 1
                self.send_response(200)
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

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/gate"

    def held(self) -> tuple[int, int]:
        with self.lock:
            return self.calls, self.in_flight

    def let_one_through(self) -> None:
        self.passes.release()

    def close(self) -> None:
        for _ in range(100):
            self.passes.release()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def gate() -> Iterator[Gate]:
    running = Gate()
    yield running
    running.close()


def statuses(jobs: list[Job]) -> list[str]:
    found = {job.pk: job.status for job in Job.objects.filter(pk__in=[job.pk for job in jobs])}
    return [found[job.pk] for job in jobs]


def test_jobs_past_the_recipes_limit_wait_for_a_free_slot_across_worker_processes(
    processes: Processes, gate: Gate
) -> None:
    processes.beat_and_worker()
    processes.worker()
    place = setting()
    body = definition(http_step("s1", gate.url()))
    body["settings"] = {"concurrency": 2}
    limited = recipe(place, body)
    jobs = [job_create(actor=place.admin, recipe=limited, trigger_type="manual") for _ in range(5)]

    def waiting() -> list[Job]:
        return list(Job.objects.filter(recipe=limited, status=JobStatus.QUEUED, waiting_for=slot_reason(2)))

    # Two workers, four job threads between them: two jobs run, three wait, each saying why.
    poll_until(
        lambda: gate.held() == (2, 2) and len(waiting()) == 3,
        seconds=RECOVERY_BOUND,
        what="two jobs running and three waiting for a slot",
        saw=lambda: jobs_seen(jobs),
    )
    assert sorted(statuses(jobs)) == ["queued"] * 3 + ["running"] * 2

    # Each job let through frees a slot that one waiting job takes.
    for calls in (3, 4, 5):
        gate.let_one_through()
        poll_until(
            lambda calls=calls: gate.held() == (calls, 2),
            seconds=RECOVERY_BOUND,
            what=f"call {calls}",
            saw=lambda: jobs_seen(jobs),
        )
    for _ in range(2):
        gate.let_one_through()
    poll_until(
        lambda: statuses(jobs) == ["succeeded"] * 5,
        seconds=RECOVERY_BOUND,
        what="every job to succeed",
        saw=lambda: jobs_seen(jobs),
    )
    assert gate.most == 2 and gate.calls == 5
    assert not Job.objects.filter(recipe=limited).exclude(waiting_for="").exists()


def test_the_limit_is_a_setting_of_the_recipe_left_out_when_not_set() -> None:
    unlimited = definition_load(definition())
    assert unlimited.settings.concurrency is None
    assert "concurrency" not in unlimited.normalised()["settings"]
    limited = definition_load({**definition(), "settings": {"concurrency": "3"}})
    assert limited.normalised()["settings"]["concurrency"] == 3
