"""`causeway access_review`: every actor of a workspace and what it may do where, and why (CSV or JSON)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from causeway.cli.management.commands._access import cli_actor, run, workspace_of
from causeway.recipes import review


class Command(BaseCommand):
    help = "Export the access review of a workspace to standard output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, metavar="SLUG")
        parser.add_argument("--format", choices=("csv", "json"), default="csv")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        workspace = workspace_of(actor, options["workspace"])
        rows = run(lambda: review.access_review(actor, workspace))
        self.stdout.write(
            review.review_csv(rows) if options["format"] == "csv" else review.review_json(rows), ending=""
        )
