"""The Celery application shared by `causeway worker` and `causeway beat`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "causeway.settings")

app = Celery("causeway")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def broker_prepare() -> None:
    """Connect once and declare the task queue, so the broker's storage exists before processes share it.

    The embedded broker creates its tables on first use; web, worker and beat starting together
    would otherwise race to create them.
    """
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=3)
        for queue in app.amqp.queues.values():
            queue(connection.default_channel).declare()
