"""`causeway secrets`: list, set and delete a workspace's secrets from the operator's command line.

A value is read from a file or from standard input, never from the command line: arguments stay in
shell histories and are visible to every user of the machine in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.access import policy
from causeway.access.errors import NotFound
from causeway.cli.management.commands._files import text_from
from causeway.cli.management.commands.workspaces import cli_actor, refusal
from causeway.recipes import secrets as access_secrets

NO_VALUE_ARGUMENT = (
    "value: a secret is never given on the command line (shell history, process list); "
    "use --value-file PATH or standard input"
)


def _strip_line_end(text: str) -> str:
    """Drop the one line end that `echo` and editors add; anything else is part of the value."""
    for end in ("\r\n", "\n"):
        if text.endswith(end):
            return text[: -len(end)]
    return text


def read_value(value_file: str | None, stdin: TextIO) -> str:
    if value_file is not None:
        return _strip_line_end(text_from(value_file, stdin, option="value-file"))
    if stdin.isatty():
        return getpass.getpass("Value (not shown): ")
    return _strip_line_end(stdin.read())


class Command(BaseCommand):
    help = "List, set and delete a workspace's secrets. Acts as the system actor; every change is audited."
    # Tests hand the command its standard input the way a shell pipe would.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="names and metadata of the workspace's secrets")
        listing.add_argument("--workspace", required=True, metavar="SLUG")
        setting = actions.add_parser(
            "set", help="create a secret or replace its value, read from --value-file or standard input"
        )
        setting.add_argument("--workspace", required=True, metavar="SLUG")
        setting.add_argument("name", metavar="NAME")
        setting.add_argument(
            "--value-file", metavar="PATH", help="a file holding the value (one line end dropped)"
        )
        setting.add_argument(
            "--allowed-host",
            dest="allowed_hosts",
            action="append",
            default=[],
            metavar="HOST",
            help='a host the value may be sent to (repeat for more; "*.example.com" for subdomains)',
        )
        # Caught to refuse them with a reason, rather than let argparse print its usage.
        setting.add_argument("--value", dest="value_argument", help=argparse.SUPPRESS)
        setting.add_argument("stray", nargs="*", help=argparse.SUPPRESS)
        deleting = actions.add_parser("delete", help="delete a secret")
        deleting.add_argument("--workspace", required=True, metavar="SLUG")
        deleting.add_argument("name", metavar="NAME")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        try:
            workspace = policy.system_workspace_get(actor, options["workspace"])
        except NotFound:
            raise CommandError(f"workspace: no workspace {options['workspace']!r}") from None
        action = options["action"]
        try:
            if action == "list":
                for row in access_secrets.secrets_visible(actor, workspace):
                    hosts = ",".join(row.allowed_hosts) or "*"
                    when = f"{row.updated_at:%Y-%m-%d %H:%M} UTC"
                    self.stdout.write(f"{row.name}\thosts {hosts}\tset {when} by {row.updated_by}")
            elif action == "set":
                if options["value_argument"] is not None or options["stray"]:
                    raise CommandError(NO_VALUE_ARGUMENT)
                value = read_value(options["value_file"], options.get("stdin") or sys.stdin)
                written = access_secrets.secret_write(
                    actor=actor,
                    workspace=workspace,
                    name=options["name"],
                    value=value,
                    allowed_hosts=options["allowed_hosts"],
                )
                verb = "Created" if written.created else "Replaced"
                self.stdout.write(f"{verb} secret {written.row.name} in {workspace.slug}.")
            else:
                access_secrets.secret_remove(actor=actor, workspace=workspace, name=options["name"])
                self.stdout.write(f"Deleted secret {options['name']} from {workspace.slug}.")
        except ValidationError as exc:
            raise refusal(exc) from None
        except NotFound:
            raise CommandError(f"name: no secret {options['name']!r} in {workspace.slug}") from None
