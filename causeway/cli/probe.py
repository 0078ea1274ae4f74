"""The client side of the worker health probe: send one probe, wait for a worker's answer."""

from __future__ import annotations

import secrets
from queue import Empty
from typing import Any

from causeway.celery import app
from causeway.cli.tasks import REPLY_PREFIX, health_probe


def worker_probe(*, timeout: float) -> dict[str, Any] | None:
    """A worker's answer to a fresh probe, or None when none answered within timeout seconds."""
    probe_id = secrets.token_hex(8)
    reply_to = f"{REPLY_PREFIX}{probe_id}"
    with app.connection_for_write() as broker:
        # The reply queue exists before the probe is sent, so an answer can never arrive to nowhere.
        replies = broker.SimpleQueue(reply_to)
        try:
            # A probe nobody took in time must not run later and answer into an abandoned queue.
            health_probe.apply_async(kwargs={"probe_id": probe_id, "reply_to": reply_to}, expires=timeout)
            try:
                message = replies.get(block=True, timeout=timeout)
            except Empty:
                return None
            message.ack()
            answer: dict[str, Any] = message.payload
            return answer if answer.get("probe_id") == probe_id else None
        finally:
            replies.queue.delete()
            replies.close()
