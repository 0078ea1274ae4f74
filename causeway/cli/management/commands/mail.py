"""`causeway mail`: the messages in the outbox of the embedded default (no CAUSEWAY_SMTP_URL set)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway import mail


class Command(BaseCommand):
    help = "List or show the email Causeway wrote to its outbox."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("list", help="list the messages in the outbox, oldest first")
        show = actions.add_parser("show", help="show one message")
        show.add_argument("id", help="the message's id, as `causeway mail list` gives it")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            entries = mail.outbox_list()
            if not entries:
                self.stdout.write(f"The outbox ({mail.outbox_dir()}) is empty.")
            for entry in entries:
                written = entry.written.strftime("%Y-%m-%d %H:%M:%S")
                self.stdout.write(f"{entry.id}  {written}  {entry.to}  {entry.subject}")
            return
        try:
            self.stdout.write(mail.outbox_show(options["id"]))
        except mail.UnknownMessage:
            raise CommandError(f"ID: no message {options['id']!r} in the outbox") from None
