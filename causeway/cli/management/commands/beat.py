"""`causeway beat`: the Celery scheduler (schedules, retention purge, key re-encryption, the job reaper)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from causeway.celery import app
from causeway.cli.server import refuse_unless_ready


class Command(BaseCommand):
    help = "Run Celery beat, the scheduler. Run exactly one per installation."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_unless_ready(tls=False)
        app.start(
            [
                "beat",
                # The schedule's state lives in the data directory, next to the other files it owns.
                f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}",
                f"--loglevel={logging.getLevelName(logging.getLogger().getEffectiveLevel())}",
            ]
        )
