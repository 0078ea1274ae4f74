"""`causeway watches`: which recipes a member watches, watch or stop watching one for them, and the
workspace's notification interval. Audited, by the command line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.access.perms import Perm
from causeway.accounts.models import User
from causeway.accounts.selectors import user_by_email
from causeway.cli.management.commands._access import cli_actor, run, workspace_of
from causeway.recipes import policy as recipes_policy
from causeway.watches import selectors, services


def _user(email: str) -> User:
    found = user_by_email(email=email) if "\x00" not in email else None
    if found is None:
        raise CommandError(f"user: no user {email[:80]!r}")
    return found


class Command(BaseCommand):
    help = (
        "List a member's watches, watch a recipe for a member (by email and/or a Slack or HTTP/REST "
        "connection of theirs) or stop, and show or set the least minutes between two messages."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listed = actions.add_parser("list", help="the recipes a member watches")
        listed.add_argument("--workspace", required=True, metavar="SLUG")
        listed.add_argument("--user", required=True, metavar="EMAIL")
        add = actions.add_parser("add", help="watch a recipe for a member, or change how they are told")
        remove = actions.add_parser("remove", help="stop a member watching a recipe")
        for sub in (add, remove):
            sub.add_argument("--workspace", required=True, metavar="SLUG")
            sub.add_argument("--recipe", required=True, metavar="RECIPE_ID")
            sub.add_argument("--user", required=True, metavar="EMAIL")
        add.add_argument("--no-email", action="store_true", help="not by email (then a connection is needed)")
        add.add_argument(
            "--connection", metavar="ID", help="a Slack or HTTP/REST connection the member may use"
        )
        add.add_argument("--channel", default="", help="Slack: the channel's id; HTTP/REST: a path")
        add.add_argument("--include-tests", action="store_true", help="failed test runs too")
        interval = actions.add_parser("interval", help="show or set the least minutes between two messages")
        interval.add_argument("--workspace", required=True, metavar="SLUG")
        interval.add_argument("--minutes", type=int, metavar="N", help="1 to 10080")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        workspace = workspace_of(actor, options["workspace"])
        action = options["action"]
        if action == "interval":
            if options["minutes"] is not None:
                run(
                    lambda: services.notification_interval_set(
                        actor=actor, workspace=workspace, minutes=options["minutes"]
                    )
                )
            minutes = selectors.interval_minutes(workspace)
            self.stdout.write(
                f"{workspace.slug}: at most one message per recipe and watcher every {minutes} minutes."
            )
            return
        user = _user(options["user"])
        if action == "list":
            for watch in selectors.watches_list(user, workspace):
                how = ["email"] if watch.by_email else []
                if watch.connection is not None:
                    how.append(f"connection {watch.connection.name}")
                tests = "\ttest runs too" if watch.include_tests else ""
                self.stdout.write(f"{watch.recipe_id}\t{watch.recipe.name}\t{', '.join(how)}{tests}")
            return
        recipe = run(
            lambda: recipes_policy.recipe_get(actor, workspace, options["recipe"], need=Perm.RECIPE_VIEW)
        )
        if action == "add":
            run(
                lambda: services.watch_set(
                    actor=actor,
                    recipe=recipe,
                    watcher=user,
                    by_email=not options["no_email"],
                    connection_id=options["connection"],
                    channel=options["channel"],
                    include_tests=options["include_tests"],
                )
            )
            self.stdout.write(f"{user.email} watches {recipe.name}.")
        else:
            run(lambda: services.watch_remove(actor=actor, recipe=recipe, watcher=user))
            self.stdout.write(f"{user.email} no longer watches {recipe.name}.")
