"""Operator tasks: the health probe proving a worker takes tasks from the broker and reaches the database."""

from __future__ import annotations

import re
from typing import Any

from celery.utils.log import get_task_logger
from django.db import connection

from causeway.celery import app

REPLY_PREFIX = "causeway.probe."
logger = get_task_logger(__name__)


@app.task(name="causeway.cli.tasks.health_probe", bind=True, ignore_result=True)  # type: ignore[untyped-decorator]
def health_probe(self: Any, *, probe_id: str, reply_to: str) -> dict[str, str]:
    """Read (never write) the database, log the answer and send it back on the prober's own queue."""
    # Only a probe's reply queue may be written to, so a forged probe cannot drop messages into
    # the task queue itself.
    if not re.fullmatch(r"[0-9a-f]{16}", probe_id) or reply_to != f"{REPLY_PREFIX}{probe_id}":
        raise ValueError("health probe: malformed probe id or reply queue")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    answer = {"probe_id": probe_id, "worker": str(self.request.hostname), "database": connection.vendor}
    logger.info(
        "health probe %s answered by %s (database: %s)", probe_id, answer["worker"], answer["database"]
    )
    with app.connection_for_write() as broker, broker.SimpleQueue(reply_to) as replies:
        replies.put(answer, serializer="json")
    return answer
