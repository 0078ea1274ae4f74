"""The lease, the heartbeat and the reaper, each decision taken on the Job row (rule 15)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from causeway.runs import runtime
from causeway.runs.models import Job
from causeway.runs.services import job_create
from causeway.runs.tests.helpers import LocalService, definition, http_step, recipe, setting
from testkit.support import poll_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def service() -> Any:
    running = LocalService()
    yield running
    running.close()


def queued_job(body: dict[str, Any] | None = None) -> Job:
    place = setting()
    made = recipe(place, body or definition(http_step("s1", "http://127.0.0.1:9/never")))
    return job_create(actor=place.admin, recipe=made, trigger_type="manual")


def row(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


def expire(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_rule_15_one_claim_wins_and_a_second_delivery_runs_nothing() -> None:
    job = queued_job()
    first = runtime.claim(job.pk)
    assert first is not None
    assert runtime.claim(job.pk) is None
    held = row(job)
    assert held.status == "running"
    assert held.attempts == 1
    assert held.lease_owner == first.owner
    assert held.lease_expires_at is not None and held.lease_expires_at > timezone.now()
    assert held.started_at is not None and held.deadline_at is not None
    assert runtime.run(job.pk) == "skipped"
    assert row(job).attempts == 1


def test_rule_15_an_expired_lease_passes_to_the_next_claim_and_the_old_holder_can_change_nothing() -> None:
    job = queued_job()
    old = runtime.claim(job.pk)
    assert old is not None
    started, deadline = row(job).started_at, row(job).deadline_at
    expire(job)
    new = runtime.claim(job.pk)
    assert new is not None and new.owner != old.owner
    assert row(job).attempts == 2
    # A resumed job keeps its first start and its deadline.
    assert (row(job).started_at, row(job).deadline_at) == (started, deadline)
    assert runtime.renew(job.pk, old.owner) is False
    assert runtime.finish_held(old, status="succeeded") is False
    assert runtime.renew(job.pk, new.owner) is True
    assert runtime.finish_held(new, status="succeeded") is True
    assert row(job).status == "succeeded"
    assert runtime.claim(job.pk) is None


def test_rule_15_heartbeat_stops_the_engine_once_the_lease_is_someone_elses() -> None:
    job = queued_job()
    old = runtime.claim(job.pk)
    assert old is not None
    beat = runtime.Heartbeat(old)
    beat()  # holds the lease: nothing to say
    expire(job)
    assert runtime.claim(job.pk) is not None
    beat.interval = 0  # renew at the next call rather than at the next interval
    with pytest.raises(runtime.LeaseLost):
        beat()
    assert beat.lost.is_set()


@pytest.mark.django_db(transaction=True)
def test_rule_15_one_keeper_thread_renews_the_leases_of_every_running_job_and_finds_one_taken_away() -> None:
    place = setting()
    made = recipe(place, definition(http_step("s1", "http://127.0.0.1:9/never")))
    jobs = [job_create(actor=place.admin, recipe=made, trigger_type="manual") for _ in range(3)]
    claims = [runtime.claim(job.pk) for job in jobs]
    assert all(claims)
    taken = {job.pk: row(job).heartbeat_at for job in jobs}
    threads = threading.active_count()
    beats = [runtime.Heartbeat(held) for held in claims if held is not None]
    for beat in beats:
        beat.interval = 0.2
        beat.start()
    try:
        poll_until(
            lambda: all(row(job).heartbeat_at > taken[job.pk] for job in jobs),
            seconds=30,
            what="every lease renewed while its job runs",
        )
        # No thread per job: at most the process's one keeper, started by the first.
        assert threading.active_count() <= threads + 1
        expire(jobs[0])
        assert runtime.claim(jobs[0].pk) is not None
        poll_until(lambda: beats[0].lost.is_set(), seconds=30, what="the taken lease found lost")
        with pytest.raises(runtime.LeaseLost):
            beats[0]()
        assert not beats[1].lost.is_set() and not beats[2].lost.is_set()
    finally:
        for beat in beats:
            beat.stop()


def test_rule_15_heartbeat_past_the_deadline_ends_the_job() -> None:
    job = queued_job()
    held = runtime.claim(job.pk)
    assert held is not None
    Job.objects.filter(pk=job.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    held.job.refresh_from_db()
    with pytest.raises(runtime.DeadlinePassed):
        runtime.Heartbeat(held)()


def test_rule_15_a_job_not_due_yet_is_not_claimed() -> None:
    job = queued_job()
    Job.objects.filter(pk=job.pk).update(not_before=timezone.now() + timedelta(minutes=5))
    assert runtime.claim(job.pk) is None
    assert runtime.reap()["resent"] == 0


def test_rule_15_reaper_queues_an_abandoned_job_again_and_sends_it() -> None:
    job = queued_job()
    assert runtime.claim(job.pk) is not None
    assert runtime.reap() == {"overdue": 0, "requeued": 0, "failed": 0, "resent": 0}
    expire(job)
    before = timezone.now()
    assert runtime.reap()["requeued"] == 1
    back = row(job)
    assert back.status == "queued"
    assert back.lease_expires_at is None
    assert back.dispatched_at is not None and back.dispatched_at >= before
    assert back.attempts == 1


def test_rule_15_reaper_fails_a_job_whose_worker_stopped_n_times(settings: Any) -> None:
    settings.JOB_MAX_ATTEMPTS = 3
    job = queued_job()
    for attempt in range(1, 4):
        assert runtime.claim(job.pk) is not None
        assert row(job).attempts == attempt
        expire(job)
        outcome = runtime.reap()
        if attempt < 3:
            assert outcome["requeued"] == 1
    assert outcome["failed"] == 1
    failed = row(job)
    assert failed.status == "failed"
    assert failed.error == "the worker stopped during this job 3 times"
    assert failed.finished_at is not None
    # Bounded: nothing claims it again, and the reaper leaves it alone.
    assert runtime.claim(job.pk) is None
    assert runtime.reap() == {"overdue": 0, "requeued": 0, "failed": 0, "resent": 0}


def test_rule_15_reaper_sends_again_a_queued_job_whose_message_was_lost(settings: Any) -> None:
    settings.JOB_LEASE_SECONDS = 60
    job = queued_job()
    assert runtime.reap()["resent"] == 0  # just handed to the broker
    long_ago = timezone.now() - timedelta(seconds=61)
    Job.objects.filter(pk=job.pk).update(dispatched_at=long_ago)
    assert runtime.reap()["resent"] == 1
    assert row(job).dispatched_at > long_ago  # type: ignore[operator]
    assert runtime.reap()["resent"] == 0


@pytest.mark.parametrize(("wanted", "cap", "expected"), [(5, 3600, 5), (7200, 60, 60)])
def test_rule_15_a_job_past_its_maximum_duration_fails_saying_so(
    settings: Any, wanted: int, cap: int, expected: int
) -> None:
    settings.JOB_MAX_DURATION_SECONDS = cap
    job = queued_job(definition(http_step("s1", "http://127.0.0.1:9/never"), max_duration_seconds=wanted))
    held = runtime.claim(job.pk)
    assert held is not None
    deadline = row(job).deadline_at
    assert deadline is not None
    assert runtime.reap(deadline - timedelta(seconds=1))["overdue"] == 0
    assert runtime.reap(deadline + timedelta(seconds=1))["overdue"] == 1
    failed = row(job)
    assert failed.status == "failed"
    assert failed.error == f"ran longer than {expected} s"
    assert runtime.finish_held(held, status="succeeded") is False


def test_rule_15_run_marks_success_and_a_failing_step_fails_the_job_with_its_reason(
    service: LocalService,
) -> None:
    service.let_go()
    place = setting()
    good = recipe(place, definition(http_step("s1", service.url("/effect"))), name="Good")
    job = job_create(actor=place.admin, recipe=good, trigger_type="manual")
    assert runtime.run(job.pk) == "succeeded"
    done = row(job)
    assert (done.status, done.error, done.attempts) == ("succeeded", None, 1)
    assert done.finished_at is not None and done.lease_expires_at is None

    bad = recipe(place, definition({"id": "halt", "type": "stop", "message": "no stock left"}), name="Bad")
    job = job_create(actor=place.admin, recipe=bad, trigger_type="manual")
    assert runtime.run(job.pk) == "failed"
    failed = row(job)
    assert failed.status == "failed"
    assert "no stock left" in (failed.error or "")


def test_rule_15_a_queued_job_no_claim_would_take_is_failed_not_sent_forever(settings: Any) -> None:
    settings.JOB_MAX_ATTEMPTS = 2
    job = queued_job()
    Job.objects.filter(pk=job.pk).update(attempts=2, dispatched_at=timezone.now() - timedelta(hours=1))
    assert runtime.claim(job.pk) is None
    runtime.reap()
    failed = row(job)
    assert (failed.status, failed.error) == ("failed", "the worker stopped during this job 2 times")


def test_rule_15_a_job_run_where_it_starts_is_inserted_leased_and_if_given_away_before_it_ran_runs_nothing(
    service: LocalService,
) -> None:
    import os
    import time

    from causeway.runs import local

    place = setting()
    made = recipe(place, definition(http_step("s1", service.url("/effect"))))
    was = local.enabled()
    local.enable(True)
    try:
        first = job_create(actor=place.admin, recipe=made, trigger_type="manual")
        second = job_create(actor=place.admin, recipe=made, trigger_type="manual")
    finally:
        local.enable(was)
    inserted = row(first)
    # Written already running, leased to this process: no claim of its own, and none by anyone else.
    assert (inserted.status, inserted.attempts) == ("running", 1)
    assert f":{os.getpid()}:" in inserted.lease_owner
    assert inserted.started_at is not None and inserted.deadline_at is not None
    assert runtime.claim(first.pk) is None

    held = runtime.Claim(job=first, owner=inserted.lease_owner)
    assert runtime.run(first.pk, claimed=held) == "succeeded"
    assert (row(first).status, row(first).attempts) == ("succeeded", 1)
    assert service.seen.effects == {f"{first.pk}:s1": 1}

    # The second waited in the queue past its lease; the reaper gave it away before it started.
    owner = row(second).lease_owner
    expire(second)
    assert runtime.reap()["requeued"] == 1
    waited = runtime.Claim(job=second, owner=owner, taken=time.monotonic() - 3600)
    assert runtime.run(second.pk, claimed=waited) == "lost"
    assert (row(second).status, row(second).attempts) == ("queued", 1)
    assert f"{second.pk}:s1" not in service.seen.effects
