"""`causeway up`: the embedded all-in-one — migrate, first staff user, then web and worker (beat inside)."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from causeway.celery import broker_prepare
from causeway.cli.install import announce, installation_prepare
from causeway.cli.server import refuse_unless_ready, web_bind
from causeway.cli.supervisor import run_detached


class Command(BaseCommand):
    help = "Run Causeway on this machine: web and worker (with beat inside), stopped together by Ctrl-C."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", help=f"address:port for the web server (default {settings.WEB_BIND})")

    def handle(self, *args: Any, **options: Any) -> None:
        bind = web_bind(options["bind"])
        refuse_unless_ready(tls=True)
        created = installation_prepare(create_admin=True)
        announce(created, self.stdout)
        # Written before the children start sharing this terminal, so it is not lost among their logs.
        self.stdout.flush()
        broker_prepare()
        causeway = [sys.executable, "-m", "causeway"]
        run_detached(
            children=[
                ("web", [*causeway, "web", "--bind", str(bind), "--workers", str(settings.UP_WEB_WORKERS)]),
                # One worker process: jobs in threads (the web workers run most of them), beat inside.
                ("worker", [*causeway, "worker", "--threads", "--beat"]),
            ],
            url=bind.url,
            local_url=bind.local_url,
            cafile=str(settings.TLS_CERT),
            created=created is not None,
        )
