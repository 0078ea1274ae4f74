"""Rule 15 with real processes: a job is never lost, whatever happens to the worker running it.

Real `causeway worker` and `causeway beat` processes, on whichever broker the settings name (the
embedded SQLite broker, or Redis in CI's second pass), run jobs whose first step calls a local HTTP
service that holds the answer until the test lets it go: the job is mid-step when the test kills.
Leases, the reaper's interval and the broker's visibility timeout are made short through the same
environment variables an operator would set.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from causeway.runs import runtime
from causeway.runs.models import FINISHED, Job
from causeway.runs.services import job_create
from causeway.runs.tests.helpers import LocalService, definition, http_step, recipe, setting
from testkit.support import (
    CausewayProcess,
    jobs_seen,
    launch_beat,
    launch_worker,
    poll_until,
    process_env,
    start_worker,
    stop_together,
    wait_started,
)

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 3
MAX_ATTEMPTS = 3
VISIBILITY_TIMEOUT = 2
# Bounds for the polls below, far above what each takes; a test that reaches one has failed.
RECOVERY_BOUND = 90


def on_redis() -> bool:
    return str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return process_env(
        # Beat's other periodic tasks (audit checkpoints, ...) run on this test's own files, with a
        # schedule that starts afresh, so they leave nothing behind for the tests after it.
        CAUSEWAY_BEAT_SCHEDULE_FILE=str(tmp_path / "beat-schedule"),
        CAUSEWAY_AUDIT_CHECKPOINT_FILE=str(tmp_path / "audit-checkpoints.jsonl"),
        CAUSEWAY_JOB_LEASE_SECONDS=str(LEASE_SECONDS),
        CAUSEWAY_JOB_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        CAUSEWAY_REAPER_INTERVAL_SECONDS="1",
        CAUSEWAY_BROKER_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        CAUSEWAY_WORKER_CONCURRENCY="2",
    )


class Processes:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.started: list[CausewayProcess] = []

    def worker(self) -> CausewayProcess:
        started = start_worker(self.env, self.log_dir)
        self.started.append(started)
        return started

    def beat_and_worker(self) -> CausewayProcess:
        """Beat and a worker, started side by side; the worker."""
        beat, worker = launch_beat(self.env, self.log_dir), launch_worker(self.env, self.log_dir)
        wait_started(beat, worker)
        self.started += [beat, worker]
        return worker

    def stop_all(self) -> None:
        stop_together(*[process for process in self.started if process.alive()])


@pytest.fixture
def processes(transactional_db: None, env: dict[str, str], tmp_path: Path) -> Iterator[Processes]:
    """Processes the test starts; all are stopped before the test's database is emptied."""
    running = Processes(env, tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture
def service() -> Iterator[LocalService]:
    running = LocalService()
    yield running
    running.close()


def current(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


def finished(job: Job) -> Job | None:
    found = current(job)
    return found if found.status in FINISHED else None


def holder_pid(job: Job) -> int:
    """The process holding the job's lease, as its lease owner names it (host:pid:claim)."""
    owner = current(job).lease_owner
    match = re.fullmatch(r".+:(\d+):[0-9a-f]{32}", owner)
    assert match, owner
    return int(match.group(1))


def key(job: Job, step: str) -> str:
    return f"{job.pk}:{step}"


def report(what: str, seconds: float) -> None:
    # A figure for the operations guide; tests never assert on time.
    print(f"\n{what}: {seconds:.1f} s ({'Redis' if on_redis() else 'embedded'} broker)")


def two_step_job(service: LocalService) -> tuple[Any, Job]:
    place = setting()
    job_recipe = recipe(
        place, definition(http_step("s1", service.url("/hold")), http_step("s2", service.url("/effect")))
    )
    return place, job_create(actor=place.admin, recipe=job_recipe, trigger_type="manual")


def assert_each_effect_once(service: LocalService, job: Job) -> None:
    """Every call of the interrupted step carried the same key, and the service applied each step once."""
    held = service.seen.calls_to("/hold")
    assert len(held) >= 2, "the interrupted step was called again on resume"
    assert {call.key for call in held} == {key(job, "s1")}
    assert service.seen.effects == {key(job, "s1"): 1, key(job, "s2"): 1}


def test_rule_15_pool_process_killed_mid_job_resumes_and_each_effect_happens_once(
    processes: Processes, service: LocalService
) -> None:
    worker = processes.beat_and_worker()
    _, job = two_step_job(service)
    poll_until(
        lambda: service.seen.held_now() == 1,
        seconds=RECOVERY_BOUND,
        what="the job's first step",
        saw=lambda: jobs_seen([job]),
    )

    pool_process = holder_pid(job)
    assert pool_process in worker.children(), "the lease names one of this worker's pool processes"
    os.kill(pool_process, signal.SIGKILL)
    killed = time.monotonic()

    done = poll_until(
        lambda: finished(job),
        seconds=RECOVERY_BOUND,
        what="the job to be resumed",
        saw=lambda: jobs_seen([job]),
    )
    report("pool process killed: kill to job succeeded", time.monotonic() - killed)
    assert done.status == "succeeded", done.error
    assert done.attempts == 2
    assert worker.alive()
    assert_each_effect_once(service, job)
    steps = {step.path: step.status for step in done.steps.all()}
    assert steps == {"s1": "succeeded", "s2": "succeeded"}


def test_rule_15_whole_worker_killed_mid_job_resumes_on_a_new_worker_once_per_key(
    processes: Processes, service: LocalService
) -> None:
    first = processes.beat_and_worker()
    _, job = two_step_job(service)
    poll_until(
        lambda: service.seen.held_now() == 1,
        seconds=RECOVERY_BOUND,
        what="the job's first step",
        saw=lambda: jobs_seen([job]),
    )
    assert holder_pid(job) in first.children()

    first.kill_group()
    killed = time.monotonic()
    assert not first.alive() and not first.children()
    second = processes.worker()
    started = time.monotonic()

    done = poll_until(
        lambda: finished(job),
        seconds=RECOVERY_BOUND,
        what="the job to be resumed",
        saw=lambda: jobs_seen([job]),
    )
    now = time.monotonic()
    report("whole worker killed: kill to job succeeded, new worker started at once", now - killed)
    report("whole worker killed: new worker ready to job succeeded", now - started)
    assert done.status == "succeeded", done.error
    assert done.attempts == 2
    assert_each_effect_once(service, job)
    assert second.alive()


def test_rule_15_poison_job_that_kills_its_worker_every_time_fails_after_n_attempts_without_a_loop(
    processes: Processes, service: LocalService
) -> None:
    worker = processes.beat_and_worker()
    place = setting()
    poison = recipe(place, definition(http_step("s1", service.url("/hold-always"))), name="Poison")
    job = job_create(actor=place.admin, recipe=poison, trigger_type="manual")

    kills = 0
    first_kill = 0.0

    def killed_every_start() -> Job | None:
        nonlocal kills, first_kill
        if service.seen.held_now() > kills:
            pool_process = holder_pid(job)
            assert pool_process in worker.children()
            os.kill(pool_process, signal.SIGKILL)
            kills += 1
            first_kill = first_kill or time.monotonic()
        return finished(job)

    done = poll_until(
        killed_every_start,
        seconds=RECOVERY_BOUND * MAX_ATTEMPTS,
        what="the poison job to fail",
        saw=lambda: jobs_seen([job]),
    )
    report(f"poison job: first kill to failed after {MAX_ATTEMPTS} attempts", time.monotonic() - first_kill)
    assert done.status == "failed"
    assert done.error == f"the worker stopped during this job {MAX_ATTEMPTS} times"
    assert done.attempts == MAX_ATTEMPTS
    assert kills == MAX_ATTEMPTS
    assert [call.key for call in service.seen.calls_to("/hold-always")] == [key(job, "s1")] * MAX_ATTEMPTS

    # No loop: two more reaper runs on the worker later, nothing was started again.
    ran = worker.output().count("causeway.runs.tasks.reap_jobs[")
    poll_until(
        lambda: worker.output().count("causeway.runs.tasks.reap_jobs[") >= ran + 4,
        seconds=RECOVERY_BOUND,
        what="two more reaper runs",
    )
    assert runtime.reap() == {"overdue": 0, "requeued": 0, "failed": 0, "resent": 0}
    assert current(job).status == "failed"
    assert len(service.seen.calls_to("/hold-always")) == MAX_ATTEMPTS


def test_rule_15_job_longer_than_its_lease_and_the_broker_visibility_timeout_runs_once(
    processes: Processes, service: LocalService
) -> None:
    worker = processes.beat_and_worker()
    _, job = two_step_job(service)
    poll_until(
        lambda: service.seen.held_now() == 1,
        seconds=RECOVERY_BOUND,
        what="the job's first step",
        saw=lambda: jobs_seen([job]),
    )

    def long_enough() -> bool:
        found = current(job)
        assert found.status == "running" and found.attempts == 1
        assert found.started_at is not None and found.heartbeat_at is not None
        # Its heartbeats kept the lease (and the reaper away) for several leases.
        outlived = (found.heartbeat_at - found.started_at).total_seconds() > 3 * LEASE_SECONDS
        # Redis gave the unacknowledged message to the worker again, which ran nothing.
        redelivered = f"job {job.pk}: not claimed" in worker.output()
        return outlived and (redelivered or not on_redis())

    poll_until(
        long_enough,
        seconds=RECOVERY_BOUND,
        what="the job to outlive its lease and the timeout",
        saw=lambda: jobs_seen([job]),
    )
    service.let_go()

    done = poll_until(
        lambda: finished(job),
        seconds=RECOVERY_BOUND,
        what="the long job to finish",
        saw=lambda: jobs_seen([job]),
    )
    assert done.status == "succeeded", done.error
    assert done.attempts == 1
    assert [call.key for call in service.seen.calls_to("/hold")] == [key(job, "s1")]
    assert service.seen.effects == {key(job, "s1"): 1, key(job, "s2"): 1}


def test_rule_15_web_process_killed_mid_job_it_started_the_worker_resumes_it_once_per_key(
    processes: Processes, service: LocalService, env: dict[str, str]
) -> None:
    """A web process runs the jobs it starts in its own threads (`CAUSEWAY_JOBS_IN_WEB`), their leases
    taken as their rows are inserted; killed mid-job, it leaves the job to the reaper and a worker."""
    import json

    import httpx

    from causeway.runs import webhooks
    from causeway.runs.models import WebhookEndpoint
    from causeway.runs.triggers import recipe_start
    from testkit.support import _start_web

    processes.beat_and_worker()
    place = setting()
    body = definition(http_step("s1", service.url("/hold")), http_step("s2", service.url("/effect")))
    body["trigger"] = {"type": "webhook"}
    hooked = recipe(place, body, name="Hooked")
    recipe_start(actor=place.admin, recipe=hooked)
    secret = webhooks.webhook_secret_rotate(actor=place.admin, recipe=hooked)
    token = WebhookEndpoint.objects.get(recipe=hooked).token
    web, log = _start_web({**env, "CAUSEWAY_JOBS_IN_WEB": "1"})
    web_workers: set[int] = set()
    try:
        payload = json.dumps({"n": 1}).encode()
        headers = {webhooks.SIGNATURE_HEADER: webhooks.sign(secret, int(time.time()), payload)}
        answer = httpx.post(f"{web.url}/hooks/{token}", content=payload, headers=headers, verify=False)  # noqa: S501  # nosec B501
        assert answer.status_code == 202, answer.text
        job = Job.objects.get(pk=answer.json()["job"])
        poll_until(
            lambda: service.seen.held_now() == 1,
            seconds=RECOVERY_BOUND,
            what="the job's first step",
            saw=lambda: jobs_seen([job]),
        )
        web_workers = CausewayProcess.children_of(web.process.pid)
        held = current(job)
        assert held.status == "running" and held.attempts == 1
        assert holder_pid(job) in web_workers, "the web worker that took the call runs its job"
    finally:
        # As a machine that loses power would: the web server and its worker, at once.
        web.process.kill()
        for pid in web_workers:
            os.kill(pid, signal.SIGKILL)
        web.process.wait(timeout=30)
        log.close()
    killed = time.monotonic()

    done = poll_until(
        lambda: finished(job),
        seconds=RECOVERY_BOUND,
        what="the job to be resumed",
        saw=lambda: jobs_seen([job]),
    )
    report("web process killed: kill to job succeeded on a worker", time.monotonic() - killed)
    assert done.status == "succeeded", done.error
    assert done.attempts == 2
    assert holder_pid(done) not in web_workers
    assert_each_effect_once(service, job)
    steps = {step.path: step.status for step in done.steps.all()}
    assert steps == {"s1": "succeeded", "s2": "succeeded"}
