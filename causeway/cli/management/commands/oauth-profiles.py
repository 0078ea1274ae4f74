"""`causeway oauth-profiles`: a workspace's own OAuth clients, from the operator's command line (as the
system actor, who stands in for an Admin). Every change is audited.

The client secret is read from a file or from standard input, never from the command line: arguments
stay in shell histories and are visible to every user of the machine in the process list.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.access import policy
from causeway.access.errors import Forbidden, NotFound
from causeway.access.policy import Actor
from causeway.cli.management.commands._files import secret_from, split_list
from causeway.cli.management.commands.workspaces import cli_actor, refusal
from causeway.connections import oauth, oauth_profiles
from causeway.workspaces.models import Workspace


class Command(BaseCommand):
    help = (
        "A workspace's OAuth profiles (its own OAuth clients), as the system actor; every change is audited."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="the profiles (never a client secret)")
        listing.add_argument("--workspace", required=True, metavar="SLUG")
        for name, text in (("create", "add a profile"), ("update", "change a profile")):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("--workspace", required=True, metavar="SLUG")
            if name == "create":
                sub.add_argument("--connector", required=True, metavar="KEY")
            else:
                sub.add_argument("profile", metavar="ID")
            sub.add_argument("--name", dest="display_name", required=name == "create")
            sub.add_argument("--client-id", required=name == "create")
            sub.add_argument(
                "--client-secret-file",
                metavar="PATH",
                help="the client secret, from a file; - for standard input",
            )
            sub.add_argument("--authorize-url", required=name == "create")
            sub.add_argument("--token-url", required=name == "create")
            sub.add_argument("--revoke-url")
            sub.add_argument("--scopes", metavar="A,B", help="the scopes ticked by default")
            sub.add_argument("--logo-file", metavar="PATH", help="an SVG document")
        delete = actions.add_parser("delete", help="remove a profile no connection signed in through")
        delete.add_argument("--workspace", required=True, metavar="SLUG")
        delete.add_argument("profile", metavar="ID")

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
        except NotFound as exc:
            raise CommandError(f"{exc.what}: not found") from None
        except Forbidden as exc:
            raise CommandError(str(exc)) from None

    def _act(self, actor: Actor, workspace: Workspace, options: dict[str, Any]) -> None:
        action = options["action"]
        out = self.stdout.write
        if action == "list":
            for p in oauth_profiles.oauth_profiles(actor=actor, workspace=workspace):
                scopes = ",".join(p.default_scopes) or "-"
                out(f"{p.id}\t{p.connector_key}\t{p.display_name}\t{p.client_id}\t{scopes}")
            out(f"Redirect URI to register at providers: {oauth.redirect_uri(workspace)}")
            return
        if action == "delete":
            oauth_profiles.oauth_profile_delete(
                actor=actor, workspace=workspace, profile_id=options["profile"]
            )
            out(f"Removed OAuth profile {options['profile']}.")
            return
        logo = None
        if options["logo_file"]:
            try:
                logo = Path(options["logo_file"]).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                raise CommandError(f"logo-file: cannot read {options['logo_file']}") from None
        given: dict[str, Any] = {
            "display_name": options["display_name"],
            "client_id": options["client_id"],
            "client_secret": secret_from(options["client_secret_file"], options.get("stdin") or sys.stdin),
            "authorize_url": options["authorize_url"],
            "token_url": options["token_url"],
            "revoke_url": options["revoke_url"],
            "default_scopes": split_list(options["scopes"]),
            "logo": logo,
        }
        if action == "create":
            created = oauth_profiles.oauth_profile_create(
                actor=actor,
                workspace=workspace,
                connector_key=options["connector"],
                **{
                    k: ("" if v is None and k in ("client_secret", "revoke_url", "logo") else v)
                    for k, v in given.items()
                },
            )
            out(f"Created OAuth profile {created.display_name} ({created.id}).")
        else:
            changed = oauth_profiles.oauth_profile_update(
                actor=actor, workspace=workspace, profile_id=options["profile"], **given
            )
            out(f"Saved OAuth profile {changed.display_name}.")
