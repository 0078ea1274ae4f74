"""`causeway break-glass`: list a workspace's break-glass sessions (who, why, how long, who approved,
whether self-approved, until when), refuse a request waiting for approval, end a session in force
before its time, and show or set whether a request approves itself. Approving is a named Admin's act,
on the Break-glass page or through the API, never the command line's; so is withdrawing, which is the
requester's own. Acts as the system actor; every change is audited."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from causeway.cli.management.commands._access import cli_actor, run, workspace_of
from causeway.runs import breakglass


class Command(BaseCommand):
    help = "List break-glass sessions to PROD job data, or show or set whether requests approve themselves."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="the workspace's sessions, newest first")
        listing.add_argument("--workspace", required=True, metavar="SLUG")
        listing.add_argument("--active", action="store_true", help="only the sessions in force now")
        for name, text in (
            ("refuse", "refuse a request waiting for approval; nothing opens"),
            ("end", "end a session in force now, before its time"),
        ):
            closing = actions.add_parser(name, help=text)
            closing.add_argument("--workspace", required=True, metavar="SLUG")
            closing.add_argument("session", metavar="SESSION_ID")
        setting = actions.add_parser("self-approval", help="whether a request approves itself (flagged)")
        setting.add_argument("--workspace", required=True, metavar="SLUG")
        setting.add_argument("state", choices=["on", "off", "show"])

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        workspace = workspace_of(actor, options["workspace"])
        if options["action"] in ("refuse", "end"):
            done = run(
                lambda: breakglass.break_glass_decide(
                    actor=actor, workspace=workspace, ref=options["session"], decision=options["action"]
                )
            )
            who = done.user.email if done.user else "a removed user"
            self.stdout.write(f"{done.id}\t{who}\t{done.status}")
            return
        if options["action"] == "self-approval":
            if options["state"] != "show":
                allowed = options["state"] == "on"
                run(
                    lambda: breakglass.break_glass_self_approval_set(
                        actor=actor, workspace=workspace, allowed=allowed
                    )
                )
            self.stdout.write(f"self-approval: {'on' if workspace.break_glass_self_approval else 'off'}")
            return
        for session in run(lambda: breakglass.break_glass_list(actor=actor, workspace=workspace)):
            active = breakglass.in_force(session)
            if options["active"] and not active:
                continue
            ends = f"{session.expires_at:%Y-%m-%d %H:%M}" if session.expires_at else "-"
            approver = session.approved_by.email if session.approved_by else "-"
            flag = "self-approved" if session.self_approved else ""
            who = session.user.email if session.user else "a removed user"
            self.stdout.write(
                f"{session.id}\t{who}\t{session.status}\t{flag}\t{approver}\t{ends}\t{session.minutes} min"
                f"\t{session.reason}"
            )
