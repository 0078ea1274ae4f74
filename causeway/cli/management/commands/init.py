"""`causeway init`: keys, certificate, database migrations and the first staff user."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from causeway.accounts.models import User, UserType
from causeway.accounts.services import user_create
from causeway.audit.services import SYSTEM


class Command(BaseCommand):
    help = "Prepare a Causeway installation: keys, certificate, database, first staff user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-admin", action="store_true", help="do not create a staff user")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if options["no_admin"] or User.objects.filter(user_type=UserType.STAFF).exists():
            return
        email = os.environ.get("CAUSEWAY_ADMIN_EMAIL", "admin@localhost.localdomain")
        password = os.environ.get("CAUSEWAY_ADMIN_PASSWORD")
        shown = password is None
        if password is None:
            password = secrets.token_urlsafe(18)
        try:
            with transaction.atomic():
                user_create(
                    actor=SYSTEM,
                    email=email,
                    first_name="Platform",
                    last_name="Admin",
                    password=password,
                    user_type=UserType.STAFF,
                )
        except Exception as exc:
            raise CommandError(f"CAUSEWAY_ADMIN_EMAIL/CAUSEWAY_ADMIN_PASSWORD: {exc}") from None
        self.stdout.write(f"Created staff user {email}.")
        if shown:
            self.stdout.write(f"One-time password (shown only now): {password}")
