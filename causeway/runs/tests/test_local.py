"""The web process's own job threads: what takes a place in their queue."""

from __future__ import annotations

from typing import Any

import pytest

from causeway.runs import local


def test_a_job_its_waiting_caller_runs_takes_no_place_in_the_queue_for_the_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[str] = []
    monkeypatch.setattr("causeway.runs.runtime.run", lambda job_id, **kwargs: ran.append(job_id) or "failed")
    monkeypatch.setattr("causeway.vault.masking.feed_from_secrets", lambda: None)
    runner = local.Runner(threads=1, queue_limit=1)
    queued: list[Any] = []
    # Nothing runs in the threads here: what counts is what is handed to them.
    monkeypatch.setattr(runner._pool, "submit", lambda *args: queued.append(args))
    try:
        # A webhook waiting for its answer runs its job in the request's own thread.
        assert runner.offer("in-caller", waited=True, claimed=object(), in_caller=True)  # type: ignore[arg-type]
        assert (runner.pending, runner.has_room(), queued) == (0, True, [])
        # So the threads' queue still has its one place for a job started without a waiting caller...
        assert runner.offer("queued", waited=False)
        assert (runner.pending, runner.has_room(), len(queued)) == (1, False, 1)
        # ...and none for the next one, which goes to the broker.
        assert not runner.offer("refused", waited=False)
        answer = runner.wait("in-caller", timeout=1)
        assert ran == ["in-caller"] and answer is not None and answer.job_status == "failed"
        # The job the caller ran gave back no place it never took.
        assert (runner.pending, runner.has_room()) == (1, False)
    finally:
        runner._pool.shutdown()
