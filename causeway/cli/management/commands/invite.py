"""`causeway invite`: invite someone to the platform or into a workspace; prints the link once."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.access import members as services
from causeway.access import policy
from causeway.access.errors import Forbidden, NotFound
from causeway.accounts.models import UserType
from causeway.cli.management.commands.workspaces import cli_actor, refusal


class Command(BaseCommand):
    help = (
        "Invite someone by email: to the platform (optionally as staff), or with --workspace into a "
        "workspace with a role. The link is sent by email and printed once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--staff", action="store_true", help="a platform invitation for a staff user")
        parser.add_argument("--workspace", metavar="SLUG", help="invite into this workspace")
        parser.add_argument("--role", help="admin, analyst or operator (with --workspace)")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        if options["workspace"] and options["staff"]:
            raise CommandError("--staff: only for platform invitations; a workspace invitation gives a role")
        if options["workspace"] and not options["role"]:
            raise CommandError("--role: required with --workspace (admin, analyst or operator)")
        if options["role"] and not options["workspace"]:
            raise CommandError("--role: only with --workspace")
        try:
            if options["workspace"]:
                workspace = policy.system_workspace_get(actor, options["workspace"])
                issued = services.workspace_invitation_create(
                    actor=actor, workspace=workspace, email=options["email"], role=options["role"]
                )
            else:
                user_type = UserType.STAFF if options["staff"] else UserType.STANDARD
                issued = services.platform_invitation_create(
                    actor=actor, email=options["email"], user_type=user_type
                )
        except ValidationError as exc:
            raise refusal(exc) from None
        except NotFound:
            raise CommandError(f"workspace: no workspace {options['workspace']!r}") from None
        except Forbidden as exc:
            raise CommandError(str(exc)) from None
        expires = issued.invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        self.stdout.write(f"Invitation sent to {issued.invitation.email}; it works once, until {expires}.")
        self.stdout.write("Link (shown only now):")
        self.stdout.write(issued.link)
