"""`causeway web`: serve pages and the API over HTTPS (TLS 1.2 and 1.3 only)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from causeway.cli.server import serve, web_bind


class Command(BaseCommand):
    help = "Serve Causeway over HTTPS."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", help=f"address:port (default {settings.WEB_BIND})")
        parser.add_argument("--workers", type=int, default=settings.WEB_WORKERS)

    def handle(self, *args: Any, **options: Any) -> None:
        bind = web_bind(options["bind"])
        serve(bind=bind, workers=options["workers"])
