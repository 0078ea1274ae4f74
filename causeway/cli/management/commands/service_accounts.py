"""`causeway service_accounts`: create, disable and enable service accounts; make and revoke tokens.

A token is printed once, on standard output, and kept only as a digest.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from causeway.access import services
from causeway.cli.management.commands._access import cli_actor, run, workspace_of


class Command(BaseCommand):
    help = "Service accounts of a workspace and their API tokens. Every change is audited."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        for name, extra in (
            ("list", ()),
            ("create", ("name",)),
            ("disable", ("account",)),
            ("enable", ("account",)),
            ("token", ("account",)),
            ("revoke", ("account", "token")),
        ):
            sub = actions.add_parser(name)
            sub.add_argument("--workspace", required=True, metavar="SLUG")
            for arg in extra:
                sub.add_argument(arg, metavar=arg.upper())
            if name == "token":
                sub.add_argument("--name", dest="token_name", required=True)
                sub.add_argument("--days", type=int, required=True, help="1 to 365")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        workspace = workspace_of(actor, options["workspace"])
        action = options["action"]
        if action == "list":
            for account in services.service_accounts_visible(actor, workspace):
                state = "active" if account.is_active else "disabled"
                tokens = sum(1 for t in account.tokens.all() if t.is_usable)
                self.stdout.write(f"{account.name}\t{account.id}\t{state}\t{tokens} usable token(s)")
            return
        if action == "create":
            account = run(
                lambda: services.service_account_create(
                    actor=actor, workspace=workspace, name=options["name"]
                )
            )
            self.stdout.write(f"Created service account {account.name} ({account.id}).")
            return
        account = run(lambda: services.service_account_get(actor, workspace, options["account"]))
        if action in ("disable", "enable"):
            run(
                lambda: services.service_account_set_enabled(
                    actor=actor, workspace=workspace, account=account, enabled=action == "enable"
                )
            )
            self.stdout.write(f"Service account {account.name} {action}d.")
        elif action == "token":
            token, secret = run(
                lambda: services.service_account_token_create(
                    actor=actor,
                    workspace=workspace,
                    account=account,
                    name=options["token_name"],
                    expires_in_days=options["days"],
                )
            )
            self.stderr.write(
                f"Token {token.name} expires {token.expires_at:%Y-%m-%d}; it is shown only now."
            )
            self.stdout.write(secret)
        else:
            token = run(
                lambda: services.service_account_token_get(actor, workspace, account, options["token"])
            )
            run(lambda: services.service_account_token_revoke(actor=actor, workspace=workspace, token=token))
            self.stdout.write(f"Token {token.name} revoked.")
