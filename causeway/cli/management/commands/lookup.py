"""`causeway lookup`: lookup tables and their rows from the operator's command line (the system actor)."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.access import policy
from causeway.access.errors import NotFound
from causeway.cli.management.commands.workspaces import cli_actor, refusal
from causeway.recipes import policy as access
from causeway.recipes import selectors, services


def _pairs(raw: list[str], what: str) -> list[tuple[str, str]]:
    pairs = []
    for item in raw:
        name, sep, value = item.partition("=" if what == "value" else ":")
        if not sep or not name:
            example = "COLUMN=VALUE" if what == "value" else "NAME:TYPE"
            raise CommandError(f"{what}: write each as {example} (got {item!r})")
        pairs.append((name, value))
    return pairs


class Command(BaseCommand):
    help = "List and create lookup tables; list, set and delete their rows. Acts as the system actor."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        tables = actions.add_parser("tables", help="the workspace's lookup tables")
        tables.add_argument("--workspace", required=True, metavar="SLUG")
        create = actions.add_parser("create", help="a lookup table with typed columns")
        create.add_argument("--workspace", required=True, metavar="SLUG")
        create.add_argument("--project", required=True, metavar="PROJECT_ID")
        create.add_argument("--name", required=True)
        create.add_argument(
            "--column",
            dest="columns",
            action="append",
            default=[],
            metavar="NAME:TYPE",
            help="text, integer, number, boolean or date (repeat for each column)",
        )
        create.add_argument("--key", required=True, metavar="COLUMN", help="the key column")
        rows = actions.add_parser("rows", help="every row of a table, one JSON object a line")
        rows.add_argument("--workspace", required=True, metavar="SLUG")
        rows.add_argument("table", metavar="TABLE_ID")
        put = actions.add_parser("put", help="create or update the row with KEY")
        put.add_argument("--workspace", required=True, metavar="SLUG")
        put.add_argument("table", metavar="TABLE_ID")
        put.add_argument("key", metavar="KEY")
        put.add_argument("values", nargs="*", metavar="COLUMN=VALUE")
        delete = actions.add_parser("delete", help="delete the row with KEY")
        delete.add_argument("--workspace", required=True, metavar="SLUG")
        delete.add_argument("table", metavar="TABLE_ID")
        delete.add_argument("key", metavar="KEY")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        try:
            workspace = policy.system_workspace_get(actor, options["workspace"])
        except NotFound:
            raise CommandError(f"workspace: no workspace {options['workspace']!r}") from None
        action = options["action"]
        try:
            if action == "tables":
                for table in selectors.lookup_tables_list(actor, workspace):
                    columns = ", ".join(f"{c['name']}:{c['type']}" for c in table.columns)
                    self.stdout.write(
                        f"{table.id}\t{table.name}\t{table.project.name}\tkey {table.key_column}\t{columns}"
                    )
            elif action == "create":
                project = access.project_get(actor, workspace, options["project"])
                table = services.lookup_table_create(
                    actor=actor,
                    workspace=workspace,
                    project=project,
                    name=options["name"],
                    columns=[{"name": n, "type": t} for n, t in _pairs(options["columns"], "column")],
                    key_column=options["key"],
                )
                self.stdout.write(f"Created lookup table {table.name}, id {table.id}.")
            else:
                table = access.lookup_table_get(actor, workspace, options["table"])
                if action == "rows":
                    for row in selectors.lookup_rows(table):
                        self.stdout.write(json.dumps(row, sort_keys=True))
                elif action == "put":
                    values = dict(_pairs(options["values"], "value"))
                    written = services.lookup_row_edit(
                        actor=actor, table=table, key=options["key"], values=values
                    )
                    self.stdout.write(json.dumps(written.values, sort_keys=True))
                else:
                    services.lookup_row_remove(actor=actor, table=table, key=options["key"])
                    self.stdout.write(f"Deleted row {options['key']} from {table.name}.")
        except ValidationError as exc:
            raise refusal(exc) from None
        except NotFound as exc:
            raise CommandError(f"{exc.what}: no such {exc.what} in {workspace.slug}") from None
