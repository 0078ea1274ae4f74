"""`causeway connectors list`: the connectors installed, and with `--workspace`, which are enabled there
(its declarative connectors included). Acts as the system actor; changes nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.access import policy
from causeway.access.errors import NotFound
from causeway.cli.management.commands.workspaces import cli_actor
from causeway.connections import registry, selectors
from causeway.connections.sdk import Connector


def _describe(connector: Connector) -> str:
    triggers = ",".join(f"{t.key}({t.kind})" for t in connector.triggers) or "-"
    actions = len(connector.actions)
    return (
        f"{connector.key}\t{connector.name}\tv{connector.version}\tactions: {actions}\ttriggers: {triggers}"
    )


class Command(BaseCommand):
    help = "List the installed connectors and, for a workspace, which are enabled there."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser(
            "list", help="installed connectors; with --workspace, enabled or not there"
        )
        listing.add_argument("--workspace", metavar="SLUG")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["workspace"]:
            for connector in registry.connectors().values():
                self.stdout.write(_describe(connector))
            return
        actor = cli_actor()
        try:
            workspace = policy.system_workspace_get(actor, options["workspace"])
        except NotFound:
            raise CommandError(f"workspace: no workspace {options['workspace']!r}") from None
        for entry in selectors.catalogue(actor=actor, workspace=workspace):
            state = "enabled" if entry.enabled else "disabled"
            origin = "declarative" if entry.custom else "installed"
            self.stdout.write(f"{_describe(entry.connector)}\t{origin}\t{state}")
