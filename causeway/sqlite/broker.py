"""The embedded broker's SQLite connections: write-ahead log, and no sync on each commit.

The broker's file holds only the hand-over of a job to a worker, never the job: the Job row is the
source of truth, and the reaper sends again any queued job a lease after its message was due. So a
message lost to a power cut costs a lease's delay, not a job, and each publish, delivery and
acknowledgement need not wait for the disk (SQLite's default journal syncs two or three times per
commit, which made every hand-over cost a disk flush). The main database is opened the same way
(`synchronous=NORMAL` in WAL mode: a commit is durable once the next checkpoint syncs).
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import Any

# A writer of another process waits this long for the file's write lock before it fails.
BUSY_SECONDS = 30.0


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=BUSY_SECONDS, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def transport_options(url: str) -> dict[str, Any]:
    """kombu's SQLAlchemy transport options for a `sqla+sqlite:///<path>` broker URL."""
    path = url.removeprefix("sqla+sqlite:///")
    # SQLAlchemy calls this for each new connection of its pool, instead of opening the URL itself.
    return {"creator": partial(_connect, path)}
