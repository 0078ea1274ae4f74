"""What one job of the pipeline flow costs, counted rather than timed: database round trips, commits that
wrote, sealing and opening calls, and broker messages, for the web side (a signed webhook call accepted)
and the worker side (the job claimed, run and finished), in one process against the configured database
and broker.

Commits are counted where they end a write: the commit of a transaction, and a write statement run
outside one (the database commits it on its own). On PostgreSQL every such commit waits for one WAL flush
(an fsync); on SQLite in WAL mode with `synchronous=NORMAL` a commit syncs nothing (only checkpoints do).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@dataclass
class Counts:
    round_trips: int = 0
    commits: int = 0
    seals: int = 0
    opens: int = 0
    messages: int = 0


@contextmanager
def counting() -> Iterator[Counts]:
    """Count, on every database connection and thread of this process, until the block ends."""
    from celery import signals
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.utils import CursorWrapper

    from causeway.vault import fields

    counts = Counts()
    lock = threading.Lock()

    def add(field: str) -> None:
        with lock:
            setattr(counts, field, getattr(counts, field) + 1)

    saved_execute = CursorWrapper.execute
    saved_executemany = CursorWrapper.executemany
    saved_commit = BaseDatabaseWrapper.commit

    def statement(cursor: CursorWrapper, sql: str) -> None:
        add("round_trips")
        if not cursor.db.in_atomic_block and sql.lstrip().upper().startswith(WRITES):
            add("commits")

    def execute(self: CursorWrapper, sql: str, params: Any = None) -> Any:
        statement(self, sql)
        return saved_execute(self, sql, params)

    def executemany(self: CursorWrapper, sql: str, param_list: Any) -> Any:
        statement(self, sql)
        return saved_executemany(self, sql, param_list)

    def commit(self: BaseDatabaseWrapper) -> None:
        add("commits")
        add("round_trips")
        saved_commit(self)

    def published(**kwargs: Any) -> None:
        add("messages")

    saved = {
        name: getattr(fields, name) for name in ("seal", "seal_job_history", "open_", "open_job_history")
    }

    def wrap(name: str, field: str) -> Callable[..., bytes]:
        inner = saved[name]

        def call(*args: Any, **kwargs: Any) -> bytes:
            add(field)
            result: bytes = inner(*args, **kwargs)
            return result

        return call

    for name in saved:
        setattr(fields, name, wrap(name, "seals" if name.startswith("seal") else "opens"))
    CursorWrapper.execute = execute  # type: ignore[method-assign]
    CursorWrapper.executemany = executemany  # type: ignore[method-assign]
    BaseDatabaseWrapper.commit = commit  # type: ignore[method-assign]
    signals.before_task_publish.connect(published, weak=False)
    try:
        yield counts
    finally:
        signals.before_task_publish.disconnect(published)
        CursorWrapper.execute = saved_execute  # type: ignore[method-assign]
        CursorWrapper.executemany = saved_executemany  # type: ignore[method-assign]
        BaseDatabaseWrapper.commit = saved_commit  # type: ignore[method-assign]
        for name, value in saved.items():
            setattr(fields, name, value)


def _call(token: str, secret: str, n: int) -> Any:
    from causeway.runs.webhooks import sign, webhook_receive

    # Each body differs, so no two calls carry the same signature (which would be a replay).
    body = json.dumps({"email": f"Count{n}@Example.com", "n": n, "call": uuid.uuid4().hex}).encode()
    return webhook_receive(token=token, body=body, signature=sign(secret, int(time.time()), body))


def _succeeded(job_id: Any) -> None:
    from causeway.runs.models import Job

    status = Job.objects.get(pk=job_id).status
    if status != "succeeded":
        raise RuntimeError(f"a counted job ended {status}")


def per_job(token: str, secret: str, jobs: int = 20) -> dict[str, dict[str, float]]:
    """The mean counts per job over `jobs` jobs: the web side and the worker side of a job handed to the
    broker, each alone; then a job run where it started (the web process's own job threads: the call
    accepted, and the job run and finished), as the embedded default runs it."""
    from causeway.runs import local, tasks

    web, worker, here = Counts(), Counts(), Counts()
    for n in range(jobs):
        with counting() as counted:
            receipt = _call(token, secret, n)
        _add(web, counted)
        with counting() as counted:
            tasks.run_job.apply(args=[str(receipt.job.id)])
        _add(worker, counted)
        _succeeded(receipt.job.id)
    was = local.enabled()
    local.enable(True)
    try:
        for n in range(jobs):
            with counting() as counted:
                receipt = _call(token, secret, jobs + n)
                # Waited for without a query of its own: the job threads' queue is empty again.
                deadline = time.monotonic() + 60
                while local.runner().pending:
                    if time.monotonic() > deadline:
                        raise RuntimeError("a job run where it started did not finish within 60 s")
                    time.sleep(0.002)
            _add(here, counted)
            _succeeded(receipt.job.id)
    finally:
        local.enable(was)
    return {
        "web": {key: value / jobs for key, value in asdict(web).items()},
        "worker": {key: value / jobs for key, value in asdict(worker).items()},
        "here": {key: value / jobs for key, value in asdict(here).items()},
    }


def _add(total: Counts, more: Counts) -> None:
    for key, value in asdict(more).items():
        setattr(total, key, getattr(total, key) + value)
