"""Jobs run in this process's own threads: the web process runs the jobs it starts, without the broker hop.

A job run here is claimed, leased, heartbeated and finished exactly as a worker does it (`runtime.run`):
the Job row, not this process, is the source of truth. If the process dies, the job's lease runs out and
the reaper gives it to a worker; a job queued here and never started still has its `dispatched_at`, so
the reaper sends it to the broker a lease later. The worker is the backstop for anything this process
does not take: a full queue here sends the job to the broker at once.

Jobs are taken here only in a process that switched it on (`enable`, the web server's workers, when
CAUSEWAY_JOBS_IN_WEB is set), except a job whose caller waits for its answer (a webhook set to respond
with the result): that one always runs in the process holding the caller's request, and in the request's
own thread when it cannot outlast the caller's wait (`engine.runs_in_caller`), so no hand-over between
threads stands between the call and its answer.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import close_old_connections

if TYPE_CHECKING:
    from causeway.runs.runtime import Claim

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """What a caller waiting for a job is answered: a respond step's, the last step's output, or the
    job's failure. `job_status` is the job's, when the job was over before the answer was."""

    status: int
    headers: dict[str, str]
    body: Any
    job_status: str | None = None


@dataclass
class _Waiting:
    done: threading.Event = field(default_factory=threading.Event)
    answer: Answer | None = None
    final: dict[str, Any] | None = None
    # Run by the thread that waits for it (`in_caller`), with the lease taken as it was inserted.
    in_caller: bool = False
    claimed: Claim | None = None


class Runner:
    def __init__(self, threads: int, queue_limit: int) -> None:
        self.threads = threads
        self.queue_limit = queue_limit
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="causeway-job")
        self._lock = threading.Lock()
        self._pending = 0
        self._waiting: dict[str, _Waiting] = {}

    @property
    def pending(self) -> int:
        """Jobs queued for this process's threads, or running in them. A job its waiting caller runs
        in its own thread (`in_caller`) is not one: it takes neither a thread nor a place in the queue."""
        return self._pending

    def has_room(self) -> bool:
        return self._pending < self.queue_limit

    def offer(
        self, job_id: str, *, waited: bool, claimed: Claim | None = None, in_caller: bool = False
    ) -> bool:
        """Queue the job here; False (and nothing queued) when the queue is full and nobody waits. A job
        already `claimed` for this process is always queued: it was found room for before its insert.
        `in_caller`: a `claimed` job that the thread waiting for it runs, in `wait`."""
        in_caller = in_caller and waited and claimed is not None
        with self._lock:
            if not waited and claimed is None and not self.has_room():
                return False
            if not in_caller:
                self._pending += 1
            if waited:
                self._waiting[job_id] = _Waiting(in_caller=in_caller, claimed=claimed)
        if not in_caller:
            self._pool.submit(self._run, job_id, claimed)
        return True

    def _answered(self, job_id: str, answer: dict[str, Any], final: bool) -> None:
        waiting = self._waiting.get(job_id)
        if waiting is None or waiting.done.is_set():
            return
        if final:
            # The last step's output, given only once the job is committed as succeeded.
            waiting.final = answer
            return
        waiting.answer = Answer(status=answer["status"], headers=answer["headers"], body=answer["body"])
        waiting.done.set()

    def _run(self, job_id: str, claimed: Claim | None, *, in_caller: bool = False) -> None:
        from causeway.runs import runtime
        from causeway.vault.masking import feed_from_secrets

        outcome = "lost"
        # A request's thread keeps its connection as the request does; a job thread's is its own.
        if not in_caller:
            close_old_connections()
        try:
            # As a worker does before each task: mask the secrets set elsewhere too (rule 13).
            feed_from_secrets()
            outcome = runtime.run(
                job_id, answer=lambda answer, final: self._answered(job_id, answer, final), claimed=claimed
            )
        except Exception:
            logger.exception("job %s: could not be run in this process; the reaper will recover it", job_id)
        finally:
            with self._lock:
                if not in_caller:
                    self._pending -= 1
                waiting = self._waiting.get(job_id)
            if waiting is not None and not waiting.done.is_set():
                if outcome == "succeeded" and waiting.final is not None:
                    final = waiting.final
                    waiting.answer = Answer(
                        status=final["status"],
                        headers=final["headers"],
                        body=final["body"],
                        job_status=outcome,
                    )
                elif outcome == "failed":
                    waiting.answer = Answer(
                        status=500, headers={}, body={"job": job_id, "status": "failed"}, job_status=outcome
                    )
                waiting.done.set()
            if not in_caller:
                close_old_connections()

    def wait(self, job_id: str, timeout: float) -> Answer | None:
        """The answer for a job offered with `waited`; None when there is none within `timeout`. A job
        offered `in_caller` is run here, in the calling thread, whose wait its steps bound."""
        waiting = self._waiting.get(job_id)
        if waiting is None:
            return None
        try:
            if waiting.in_caller:
                waiting.in_caller = False
                self._run(job_id, waiting.claimed, in_caller=True)
            else:
                waiting.done.wait(timeout)
            return waiting.answer
        finally:
            with self._lock:
                self._waiting.pop(job_id, None)


_runner: Runner | None = None
_runner_pid = 0
_enabled = False
_runner_lock = threading.Lock()


def enable(on: bool | None = None) -> None:
    """Run in this process the jobs it starts (the web server's workers call this once loaded), as
    CAUSEWAY_JOBS_IN_WEB says, or as `on` says."""
    global _enabled
    _enabled = bool(settings.JOBS_IN_WEB if on is None else on)


def enabled() -> bool:
    return _enabled


def runner() -> Runner:
    global _runner, _runner_pid
    with _runner_lock:
        # A forked child never uses its parent's threads.
        if _runner is None or _runner_pid != os.getpid():
            _runner = Runner(settings.JOB_THREADS, settings.JOB_THREADS_QUEUE)
            _runner_pid = os.getpid()
        return _runner


def would_take(*, waited: bool = False) -> bool:
    """Whether a job started now would run here (its caller waits for it, or this process runs jobs and
    its queue has room)."""
    return waited or (_enabled and runner().has_room())


def take(
    job_id: uuid.UUID | str,
    *,
    waited: bool = False,
    claimed: Claim | None = None,
    in_caller: bool = False,
) -> bool:
    """Run the job here if this process runs jobs (or the caller waits for it, or it was claimed for
    this process as it was inserted); False: send it on. `in_caller`: the waiting caller's thread runs
    it (`wait`)."""
    if not (waited or _enabled or claimed is not None):
        return False
    return runner().offer(str(job_id), waited=waited, claimed=claimed, in_caller=in_caller)


def wait(job_id: uuid.UUID | str, timeout: float) -> Answer | None:
    return runner().wait(str(job_id), timeout)
