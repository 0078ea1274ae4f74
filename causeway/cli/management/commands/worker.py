"""`causeway worker`: the Celery worker that executes jobs, or `--probe` to ask a running one to answer."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from causeway.celery import app, beat_in_thread
from causeway.cli.server import refuse_unless_ready


class Command(BaseCommand):
    help = "Run a Celery worker (prefork pool), or probe the running workers with --probe."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--hostname",
            default="causeway@%h",
            help="node name, unique among the workers sharing a broker (default %(default)s)",
        )
        parser.add_argument(
            "--probe",
            action="store_true",
            help="send a health probe and wait for a worker to answer it (exit 1 if none does)",
        )
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds --probe waits")
        parser.add_argument(
            "--threads",
            action="store_true",
            help="run jobs in threads of this one process, not a prefork pool (as `causeway up` does)",
        )
        parser.add_argument(
            "--beat",
            action="store_true",
            help="run the scheduler (beat) in a thread of this worker: for a single-worker installation only",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_unless_ready(tls=False)
        if options["probe"]:
            self._probe(timeout=options["timeout"])
            return
        if options["beat"]:
            beat_in_thread()
        app.worker_main(
            [
                "worker",
                "--pool=threads" if options["threads"] else "--pool=prefork",
                f"--concurrency={settings.CELERY_WORKER_CONCURRENCY}",
                # Hand a task only to a pool process that is free, so one long job does not hold
                # up the tasks queued behind it.
                "-O",
                "fair",
                f"--hostname={options['hostname']}",
                f"--loglevel={logging.getLevelName(logging.getLogger().getEffectiveLevel())}",
            ]
        )

    def _probe(self, *, timeout: float) -> None:
        from causeway.cli.probe import worker_probe

        answer = worker_probe(timeout=timeout)
        if answer is None:
            sys.stderr.write(f"causeway: no worker answered the health probe within {timeout:g} s\n")
            raise SystemExit(1)
        self.stdout.write(
            f"Worker {answer['worker']} answered health probe {answer['probe_id']} "
            f"(database: {answer['database']})."
        )
