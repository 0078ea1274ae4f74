"""`causeway workspaces`: create, list and configure workspaces from the operator's command line."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.access import members as services
from causeway.access import policy
from causeway.access.errors import NotFound
from causeway.accounts.actors import SystemActor
from causeway.connections import outbound
from causeway.workspaces import selectors


def cli_actor() -> SystemActor:
    """The system actor, labelled with the operating-system account that ran the command."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return SystemActor(label=f"cli ({who})", command_line=True)


def refusal(exc: ValidationError) -> CommandError:
    """One line for stderr, naming each wrong field."""
    if hasattr(exc, "error_dict"):
        text = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    else:
        text = " ".join(exc.messages)
    return CommandError(text.replace("\n", " "))


def minutes(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise CommandError("session_timeout: must be a whole number of minutes") from None


class Command(BaseCommand):
    help = "Create, list and configure workspaces. Acts as the system actor; every change is audited."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a workspace with its first Admin")
        create.add_argument("--name", required=True)
        create.add_argument("--admin", required=True, metavar="EMAIL", help="an existing user's email")
        create.add_argument("--slug", default="", help="the URL name (default: made from the name)")
        actions.add_parser("list", help="list every workspace")
        settings = actions.add_parser(
            "settings", help="rename a workspace, set its session timeout or require a second factor"
        )
        settings.add_argument("workspace", metavar="SLUG")
        settings.add_argument("--name")
        settings.add_argument("--session-timeout", metavar="MINUTES", help="15 to 20160 (14 days)")
        settings.add_argument(
            "--mfa-required",
            choices=["yes", "no"],
            help="whether members need a second factor to act in the workspace",
        )
        hosts = actions.add_parser(
            "outbound-hosts",
            help="show or set the hosts recipes may call even at loopback, private or link-local addresses",
        )
        hosts.add_argument("workspace", metavar="SLUG")
        hosts.add_argument(
            "--set",
            nargs="*",
            metavar="HOST",
            dest="hosts",
            help="replace the list: host names, *.domain patterns or IP addresses (none: empty it)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        try:
            if options["action"] == "create":
                workspace = services.workspace_create(
                    actor=actor, name=options["name"], slug=options["slug"], admin_email=options["admin"]
                )
                self.stdout.write(
                    f"Created workspace {workspace.name} (/w/{workspace.slug}/), id {workspace.id}."
                )
            elif options["action"] == "list":
                for workspace in policy.workspaces_visible(actor).order_by("slug"):
                    timeout = selectors.session_timeout_minutes(workspace)
                    members = workspace.memberships.count()
                    self.stdout.write(
                        f"{workspace.slug}\t{workspace.name}\t{members} members\t"
                        f"timeout {timeout} min\t{workspace.id}"
                    )
            elif options["action"] == "outbound-hosts":
                workspace = policy.system_workspace_get(actor, options["workspace"])
                hosts = workspace.outbound_allowed_hosts or []
                if options["hosts"] is not None:
                    hosts = outbound.outbound_hosts_set(
                        actor=actor, workspace=workspace, hosts=options["hosts"]
                    )
                if hosts:
                    self.stdout.write("\n".join(hosts))
                else:
                    self.stdout.write(f"{workspace.slug}: no outbound hosts allowed beyond public addresses.")
            else:
                workspace = policy.system_workspace_get(actor, options["workspace"])
                services.workspace_settings_update(
                    actor=actor,
                    workspace=workspace,
                    name=options["name"],
                    session_timeout_minutes=minutes(options["session_timeout"]),
                    mfa_required=None
                    if options["mfa_required"] is None
                    else options["mfa_required"] == "yes",
                )
                self.stdout.write(
                    f"{workspace.slug}: name {workspace.name}, "
                    f"session timeout {selectors.session_timeout_minutes(workspace)} minutes, "
                    f"two-factor authentication {'required' if workspace.mfa_required else 'not required'}."
                )
        except ValidationError as exc:
            raise refusal(exc) from None
        except NotFound:
            raise CommandError(f"workspace: no workspace {options['workspace']!r}") from None
