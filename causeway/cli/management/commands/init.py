"""`causeway init`: keys, certificate, database migrations and the first staff user."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from causeway.cli.install import announce, installation_prepare


class Command(BaseCommand):
    help = "Prepare a Causeway installation: keys, certificate, database, first staff user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-admin", action="store_true", help="do not create a staff user")

    def handle(self, *args: Any, **options: Any) -> None:
        announce(installation_prepare(create_admin=not options["no_admin"]), self.stdout)
