"""`causeway jobs-retention WORKSPACE [--days N]`: show or set how long a workspace keeps job history."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.access import policy
from causeway.access.errors import NotFound
from causeway.cli.management.commands.workspaces import cli_actor, refusal
from causeway.runs import services
from causeway.workspaces.models import JOB_RETENTION_MAX_DAYS, JOB_RETENTION_MIN_DAYS


def whole_days(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise CommandError("days: must be a whole number of days") from None


class Command(BaseCommand):
    help = (
        "Show how many days a workspace keeps job history, or set it with --days. Acts as the system "
        "actor; a change is audited. Finished jobs older than this are deleted daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workspace", metavar="WORKSPACE", help="the workspace's slug or id")
        parser.add_argument(
            "--days",
            metavar="N",
            help=f"keep job history N days ({JOB_RETENTION_MIN_DAYS} to {JOB_RETENTION_MAX_DAYS})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        days = whole_days(options["days"])
        try:
            workspace = policy.system_workspace_get(actor, options["workspace"])
            if days is not None:
                services.workspace_retention_set(actor=actor, workspace=workspace, days=days)
        except ValidationError as exc:
            raise refusal(exc) from None
        except NotFound:
            raise CommandError(f"workspace: no workspace {options['workspace']!r}") from None
        self.stdout.write(f"{workspace.slug}: job history kept {workspace.job_retention_days} days.")
