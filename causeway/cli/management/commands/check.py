"""`causeway check`: Django's deployment checks, failing on warnings, plus Causeway's own start-up checks."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.check import Command as DjangoCheck


class Command(DjangoCheck):
    help = "Run Django's deployment checks (failing on warnings) and Causeway's start-up checks."

    def handle(self, *app_labels: Any, **options: Any) -> None:
        options["deploy"] = True
        if options.get("fail_level") in (None, "ERROR"):
            options["fail_level"] = "WARNING"
        super().handle(*app_labels, **options)
