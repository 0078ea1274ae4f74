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
    """Count, on this thread's database connection and in this process, until the block ends."""
    from celery import signals
    from django.db import connection

    from causeway.vault import fields

    counts = Counts()

    def statement(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        counts.round_trips += 1
        if not connection.in_atomic_block and sql.lstrip().upper().startswith(WRITES):
            counts.commits += 1
        return execute(sql, params, many, context)

    original_commit = connection.commit

    def commit() -> None:
        counts.commits += 1
        counts.round_trips += 1
        original_commit()

    def published(**kwargs: Any) -> None:
        counts.messages += 1

    saved = {
        name: getattr(fields, name) for name in ("seal", "seal_job_history", "open_", "open_job_history")
    }

    def wrap(name: str, field: str) -> Callable[..., bytes]:
        inner = saved[name]

        def call(*args: Any, **kwargs: Any) -> bytes:
            setattr(counts, field, getattr(counts, field) + 1)
            result: bytes = inner(*args, **kwargs)
            return result

        return call

    for name in saved:
        setattr(fields, name, wrap(name, "seals" if name.startswith("seal") else "opens"))
    connection.commit = commit  # type: ignore[method-assign]
    signals.before_task_publish.connect(published, weak=False)
    try:
        with connection.execute_wrapper(statement):
            yield counts
    finally:
        signals.before_task_publish.disconnect(published)
        del connection.commit
        for name, value in saved.items():
            setattr(fields, name, value)


def per_job(token: str, secret: str, jobs: int = 20) -> dict[str, dict[str, float]]:
    """The mean counts per job over `jobs` jobs: the web side, then the worker side, each alone."""
    from causeway.runs import tasks
    from causeway.runs.models import Job
    from causeway.runs.webhooks import sign, webhook_receive

    web = Counts()
    worker = Counts()
    for n in range(jobs):
        # Each body differs, so no two calls carry the same signature (which would be a replay).
        body = json.dumps({"email": f"Count{n}@Example.com", "n": n, "call": uuid.uuid4().hex}).encode()
        with counting() as counted:
            receipt = webhook_receive(token=token, body=body, signature=sign(secret, int(time.time()), body))
        _add(web, counted)
        with counting() as counted:
            tasks.run_job.apply(args=[str(receipt.job.id)])
        _add(worker, counted)
        status = Job.objects.get(pk=receipt.job.id).status
        if status != "succeeded":
            raise RuntimeError(f"a counted job ended {status}")
    return {
        "web": {key: value / jobs for key, value in asdict(web).items()},
        "worker": {key: value / jobs for key, value in asdict(worker).items()},
    }


def _add(total: Counts, more: Counts) -> None:
    for key, value in asdict(more).items():
        setattr(total, key, getattr(total, key) + value)
