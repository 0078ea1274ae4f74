"""`causeway grants`: who holds read, write, execute and debug on a recipe; give and take grants."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from causeway.access.perms import CAPABILITY_NAMES, Perm
from causeway.cli.management.commands._access import cli_actor, run, workspace_of
from causeway.recipes import grants
from causeway.recipes import policy as recipes_policy


class Command(BaseCommand):
    help = "List, set and remove per-recipe grants (read, write, execute, debug). Audited."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        for name in ("list", "set", "remove"):
            sub = actions.add_parser(name)
            sub.add_argument("--workspace", required=True, metavar="SLUG")
            sub.add_argument("--recipe", required=True, metavar="RECIPE_ID")
            if name == "set":
                who = sub.add_mutually_exclusive_group(required=True)
                who.add_argument("--user", metavar="EMAIL")
                who.add_argument("--service-account", metavar="NAME")
                who.add_argument("--group", metavar="NAME")
                sub.add_argument(
                    "--cap", dest="caps", action="append", default=[], choices=list(CAPABILITY_NAMES)
                )
            if name == "remove":
                sub.add_argument("grant", metavar="GRANT_ID")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        workspace = workspace_of(actor, options["workspace"])
        recipe = run(
            lambda: recipes_policy.recipe_get(actor, workspace, options["recipe"], need=Perm.RECIPE_VIEW)
        )
        action = options["action"]
        if action == "list":
            for g in grants.grants_visible(actor, workspace, recipe):
                who = (
                    f"user {g.user.email}"
                    if g.user
                    else f"service_account {g.service_account.name}"
                    if g.service_account
                    else f"group {g.group.name}"  # type: ignore[union-attr]
                )
                self.stdout.write(f"{g.id}\t{who}\t{','.join(sorted(g.capabilities))}")
        elif action == "set":
            grant = run(
                lambda: grants.grant_set(
                    actor=actor,
                    workspace=workspace,
                    recipe=recipe,
                    user=options["user"],
                    service_account=options["service_account"],
                    group=options["group"],
                    capabilities=options["caps"],
                )
            )
            self.stdout.write("Grant taken away." if grant is None else f"Grant {grant.id} saved.")
        else:
            grant = run(lambda: grants.grant_get(actor, workspace, recipe, options["grant"]))
            run(lambda: grants.grant_remove(actor=actor, workspace=workspace, grant=grant))
            self.stdout.write("Grant taken away.")
