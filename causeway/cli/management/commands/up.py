"""`causeway up`: the embedded all-in-one — migrate, first staff user, then web, worker and beat together."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from causeway.celery import broker_prepare
from causeway.cli.install import announce, installation_prepare
from causeway.cli.server import refuse_unless_ready, web_bind
from causeway.cli.supervisor import Child, Supervisor, health_answers


class Command(BaseCommand):
    help = "Run Causeway on this machine: web, worker and beat, stopped together by Ctrl-C."
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
        supervisor = Supervisor(
            children=[
                Child("web", [*causeway, "web", "--bind", str(bind)]),
                Child("worker", [*causeway, "worker"]),
                Child("beat", [*causeway, "beat"]),
            ],
            ready=health_answers(bind.local_url, cafile=str(settings.TLS_CERT)),
            on_ready=lambda: self._ready(bind.url, created is not None),
        )
        status = supervisor.run()
        if status == 0:
            self.stdout.write("Stopped web, worker and beat.")
        raise SystemExit(status)

    def _ready(self, url: str, created: bool) -> None:
        self.stdout.write(f"Causeway is ready: {url}")
        if created:
            self.stdout.write("Sign in with the staff user and one-time password printed above.")
        self.stdout.write("Ctrl-C stops web, worker and beat.")
        self.stdout.flush()
