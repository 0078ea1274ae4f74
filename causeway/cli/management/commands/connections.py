"""`causeway connections`: the connector catalogue and its switches, and company connections, from the
operator's command line.

The command line acts as the system actor, which stands in for an Admin: it enables connectors and
creates, changes, tests and revokes company connections. It sees that personal connections exist and
may revoke one, but never creates, tests or uses one (rule 6): those are their owners'. Linking is a
person's consent, given on the Connections page or through the API.

Credentials are read from a JSON file or from standard input, never from the command line: arguments
stay in shell histories and are visible to every user of the machine in the process list.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.access import policy
from causeway.access.errors import Forbidden, NotFound
from causeway.access.policy import Actor
from causeway.cli.management.commands._files import split_list, text_from
from causeway.cli.management.commands.workspaces import cli_actor, refusal
from causeway.connections import budgets, registry, selectors, services
from causeway.workspaces.models import Workspace


def _credentials(path: str | None, stdin: TextIO) -> dict[str, Any]:
    if path is None and stdin.isatty():
        raise CommandError("credentials: give --credentials-file PATH, or a JSON object on standard input")
    text = stdin.read() if path is None else text_from(path, stdin, option="credentials-file")
    if not text.strip():
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        raise CommandError("credentials: not a JSON object") from None
    if not isinstance(found, dict):
        raise CommandError("credentials: not a JSON object")
    return found


def _settings(pairs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"setting: {pair!r} is not NAME=VALUE")
        found[name] = value
    return found


class Command(BaseCommand):
    help = "Connectors and company connections of a workspace, as the system actor; every change is audited."
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        for name, text in (
            ("connectors", "the connectors installed, and whether each is enabled here"),
            ("list", "the workspace's connections (never a credential)"),
        ):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("--workspace", required=True, metavar="SLUG")
        for name, text in (("enable", "enable a connector"), ("disable", "disable a connector")):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("--workspace", required=True, metavar="SLUG")
            sub.add_argument("connector", metavar="KEY")
        define = actions.add_parser(
            "define", help="define or replace a declarative connector from a JSON or YAML document"
        )
        define.add_argument("--workspace", required=True, metavar="SLUG")
        define.add_argument(
            "--file", required=True, metavar="PATH", help="the document; - for standard input"
        )
        undefine = actions.add_parser("undefine", help="remove a declarative connector no connection uses")
        undefine.add_argument("--workspace", required=True, metavar="SLUG")
        undefine.add_argument("connector", metavar="KEY")
        create = actions.add_parser(
            "create", help="create a company connection; credentials as JSON from a file or standard input"
        )
        create.add_argument("--workspace", required=True, metavar="SLUG")
        create.add_argument("--connector", required=True, metavar="KEY")
        create.add_argument("--name", required=True)
        create.add_argument("--auth", required=True, metavar="METHOD", help="none, api_key, basic, bearer...")
        create.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE")
        create.add_argument("--scopes", metavar="A,B", help="the scopes granted (default: none)")
        create.add_argument("--actions", metavar="A,B", help="the actions enabled (default: all)")
        create.add_argument("--credentials-file", metavar="PATH")
        change = actions.add_parser("scopes", help="set a company connection's scopes and enabled actions")
        change.add_argument("--workspace", required=True, metavar="SLUG")
        change.add_argument("connection", metavar="ID")
        change.add_argument("--scopes", metavar="A,B")
        change.add_argument("--actions", metavar="A,B")
        budget = actions.add_parser(
            "budget",
            help="set or remove a rate budget: a connector's in the workspace, or a company connection's",
        )
        budget.add_argument("--workspace", required=True, metavar="SLUG")
        whose = budget.add_mutually_exclusive_group(required=True)
        whose.add_argument("--connector", metavar="KEY")
        whose.add_argument("--connection", metavar="ID")
        amount = budget.add_mutually_exclusive_group(required=True)
        amount.add_argument("--limit", type=int, metavar="N", help="requests per period")
        amount.add_argument("--remove", action="store_true")
        budget.add_argument("--per", type=int, default=60, metavar="SECONDS", help="the period (default 60)")
        for name, text in (
            ("test", "test a company connection with its credentials"),
            ("revoke", "revoke a connection: its credentials are destroyed"),
            ("uses", "a company connection's usage history"),
        ):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("--workspace", required=True, metavar="SLUG")
            sub.add_argument("connection", metavar="ID")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        try:
            workspace = policy.system_workspace_get(actor, options["workspace"])
        except NotFound:
            raise CommandError(f"workspace: no workspace {options['workspace']!r}") from None
        try:
            self._act(actor, workspace, options)
        except ValidationError as exc:
            raise refusal(exc) from None
        except registry.UnknownConnector as exc:
            raise CommandError(f"connector: {exc}") from None
        except NotFound as exc:
            raise CommandError(f"{exc.what}: not found") from None
        except Forbidden as exc:
            raise CommandError(str(exc)) from None

    def _act(self, actor: Actor, workspace: Workspace, options: dict[str, Any]) -> None:
        action = options["action"]
        out = self.stdout.write
        if action == "connectors":
            for entry in selectors.catalogue(actor=actor, workspace=workspace):
                state = "enabled" if entry.enabled else "disabled"
                out(f"{entry.connector.key}\t{entry.connector.name}\t{state}")
        elif action in ("enable", "disable"):
            services.connector_enable(
                actor=actor, workspace=workspace, key=options["connector"], enabled=action == "enable"
            )
            out(f"{options['connector']} {action}d in {workspace.slug}.")
        elif action == "define":
            row = services.custom_connector_save(
                actor=actor,
                workspace=workspace,
                document=text_from(options["file"], options.get("stdin") or sys.stdin, option="file"),
            )
            out(f"Saved connector {row.key} in {workspace.slug}; enable it with: causeway connections enable")
        elif action == "undefine":
            services.custom_connector_delete(actor=actor, workspace=workspace, key=options["connector"])
            out(f"Removed connector {options['connector']} from {workspace.slug}.")
        elif action == "list":
            for view in selectors.connections_list(actor=actor, workspace=workspace):
                c = view.connection
                scopes = ",".join(c.granted_scopes) or "-"
                used = f"{c.last_used_at:%Y-%m-%d %H:%M}" if c.last_used_at else "never"
                out(f"{c.id}\t{c.kind}\t{c.name}\t{c.connector_key}\t{view.owner}\t{scopes}\tused {used}")
        elif action == "create":
            created = services.connection_create(
                actor=actor,
                workspace=workspace,
                kind="company",
                connector_key=options["connector"],
                name=options["name"],
                auth_method=options["auth"],
                settings=_settings(options["setting"]),
                credentials=_credentials(options["credentials_file"], options.get("stdin") or sys.stdin),
                scopes=split_list(options["scopes"]),
                enabled_actions=split_list(options["actions"]),
            )
            out(f"Created company connection {created.name} ({created.id}).")
        elif action == "scopes":
            changed = services.connection_update(
                actor=actor,
                workspace=workspace,
                connection_id=options["connection"],
                scopes=split_list(options["scopes"]),
                enabled_actions=split_list(options["actions"]),
            )
            out(
                f"{changed.name}: scopes {','.join(changed.granted_scopes) or '-'}, "
                f"actions {','.join(changed.enabled_actions) or '-'}."
            )
        elif action == "budget":
            limit = None if options["remove"] else options["limit"]
            if options["connector"]:
                set_budget = budgets.connector_budget_set(
                    actor=actor,
                    workspace=workspace,
                    key=options["connector"],
                    limit=limit,
                    period_seconds=options["per"],
                )
                whose = options["connector"]
            else:
                set_budget = budgets.connection_budget_set(
                    actor=actor,
                    workspace=workspace,
                    connection_id=options["connection"],
                    limit=limit,
                    period_seconds=options["per"],
                )
                whose = f"connection {options['connection']}"
            out(f"{whose}: {'at most ' + set_budget.describe() if set_budget else 'no rate budget'}.")
        elif action == "test":
            tested = services.connection_test(
                actor=actor, workspace=workspace, connection_id=options["connection"]
            )
            out(f"{tested.name}: {tested.health} {tested.health_message}".rstrip())
        elif action == "revoke":
            services.connection_revoke(actor=actor, workspace=workspace, connection_id=options["connection"])
            out(f"Revoked connection {options['connection']}.")
        else:
            for use in selectors.connection_uses(
                actor=actor, workspace=workspace, connection_id=options["connection"]
            ):
                who = use.on_behalf_of.email if use.on_behalf_of else "-"
                where = f"{use.host}\t{who}\t{use.detail}"
                out(f"{use.used_at:%Y-%m-%d %H:%M}\t{use.action}\t{use.outcome}\t{where}")
