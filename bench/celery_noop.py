"""A bare Celery application with a no-op task: the baseline Causeway's job throughput is compared with.

It uses the broker Causeway uses (`CAUSEWAY_BENCH_BROKER`) with the same worker settings (prefork, late
acknowledgement, prefetch of one, JSON), and nothing of Causeway: no database, no sealing, no masking.
"""

from __future__ import annotations

import os

from celery import Celery

app = Celery("bench_noop", broker=os.environ.get("CAUSEWAY_BENCH_BROKER", "memory://"))
app.conf.update(
    task_ignore_result=True,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    task_default_queue="bench-noop",
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.noop")
def noop() -> None:
    return None


@app.task(name="bench.marker")
def marker(reply_to: str) -> None:
    """Sent after the no-op tasks: its answer says the queue in front of it has drained."""
    with app.connection_for_write() as connection, connection.SimpleQueue(reply_to) as replies:
        replies.put({"done": True}, serializer="json")
