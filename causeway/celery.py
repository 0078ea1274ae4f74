"""The Celery application shared by `causeway worker` and `causeway beat`."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "causeway.settings")

app = Celery("causeway")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _embedded_broker_polling(**kwargs: Any) -> None:
    """How often the embedded broker's table is polled when idle.

    kombu's SQLAlchemy transport hands every transport option to SQLAlchemy's `create_engine`, which
    refuses `polling_interval`; the interval is the transport's class attribute instead.
    """
    from django.conf import settings
    from kombu.transport import sqlalchemy

    sqlalchemy.Transport.polling_interval = settings.BROKER_POLLING_INTERVAL


app.autodiscover_tasks()
# The schedule and poll ticks live with the triggers they run.
app.autodiscover_tasks(["causeway.runs"], related_name="triggers")


def broker_prepare() -> None:
    """Connect once and declare the task queue, so the broker's storage exists before processes share it.

    The embedded broker creates its tables on first use; web, worker and beat starting together
    would otherwise race to create them.
    """
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=3)
        for queue in app.amqp.queues.values():
            queue(connection.default_channel).declare()


def beat_in_thread() -> None:
    """Run beat in a thread of this worker once it is ready, stopped with it: one process fewer on a
    single machine. Only one beat may run per installation, so only one worker may do this."""
    from celery.beat import EmbeddedService
    from django.conf import settings

    service = EmbeddedService(app, thread=True, schedule_filename=settings.CELERY_BEAT_SCHEDULE_FILENAME)

    def start(**kwargs: Any) -> None:
        service.start()

    def stop(**kwargs: Any) -> None:
        service.stop()

    signals.worker_ready.connect(start, weak=False)
    signals.worker_shutdown.connect(stop, weak=False)


def _mask_worker_logs(**kwargs: Any) -> None:
    # Celery replaces the root logger's handlers with its own; they mask like every other (rule 13).
    from causeway.vault.masking import attach_masking_filter

    attach_masking_filter()


def _feed_masking(**kwargs: Any) -> None:
    # A worker masks the secrets set elsewhere too, not only those its own jobs resolved.
    from causeway.vault.masking import feed_from_secrets

    feed_from_secrets()


def _database_between_tasks(task: Any = None, **kwargs: Any) -> None:
    # As Django does between web requests: a connection that errored or outlived CONN_MAX_AGE is
    # closed, any other is kept for the next task (see CELERY_DB_REUSE_MAX). A task run in its
    # caller's process (`apply`) runs inside the caller's transaction: its connection is left alone.
    from django.db import close_old_connections

    if task is not None and getattr(task.request, "is_eager", False):
        return
    close_old_connections()


signals.after_setup_logger.connect(_mask_worker_logs, weak=False)
signals.after_setup_task_logger.connect(_mask_worker_logs, weak=False)
signals.task_prerun.connect(_feed_masking, weak=False)
signals.task_prerun.connect(_database_between_tasks, weak=False)
signals.task_postrun.connect(_database_between_tasks, weak=False)
signals.worker_init.connect(_embedded_broker_polling, weak=False)
