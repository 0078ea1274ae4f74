"""`causeway environments`: each environment's policy (the most a person may hold there); set one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from causeway.access import services
from causeway.access.perms import CAPABILITY_NAMES, Environment
from causeway.cli.management.commands._access import cli_actor, run, workspace_of


class Command(BaseCommand):
    help = "Show and set the DEV, TEST and PROD policies of a workspace. Audited."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list")
        listing.add_argument("--workspace", required=True, metavar="SLUG")
        setting = actions.add_parser("set")
        setting.add_argument("--workspace", required=True, metavar="SLUG")
        setting.add_argument("environment", choices=[e.value for e in Environment])
        setting.add_argument(
            "--cap", dest="caps", action="append", default=[], choices=list(CAPABILITY_NAMES)
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        workspace = workspace_of(actor, options["workspace"])
        if options["action"] == "list":
            for env, caps in services.environment_policies(actor, workspace).items():
                self.stdout.write(f"{env}\t{','.join(sorted(caps)) or '-'}")
            return
        found = run(
            lambda: services.environment_policy_set(
                actor=actor,
                workspace=workspace,
                environment=options["environment"],
                capabilities=options["caps"],
            )
        )
        self.stdout.write(f"{found.environment} now allows {','.join(found.capabilities) or 'nothing'}.")
