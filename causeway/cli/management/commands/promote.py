"""`causeway promote`: promote recipes of a project's DEV or TEST copy into the next environment, with
their connections mapped, as the Migrate page does; `causeway promote list` shows a project's
promotions; `approve` and `reject` decide one waiting for a second person's approval into PROD, and
`second-approval` sets whether promotions into PROD wait for one; `signing-key` shows or rotates the
key PROD versions are signed with (the shell stands for the fresh sign-in the page and the API ask
for). Acts as the command line's system
actor, named after the operator's account: a promotion it asked for, it cannot approve. Every
promotion and decision is audited."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.access.perms import Perm
from causeway.cli.management.commands._access import cli_actor, run, workspace_of
from causeway.recipes import policy as access
from causeway.recipes import promotion, signatures


def _pairs(values: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        source, sep, target = value.partition("=")
        if not sep or not source or not target:
            raise CommandError(f"connections: {value!r} is not SOURCE_ID=TARGET_ID")
        found[source] = target
    return found


class Command(BaseCommand):
    help = "Promote recipes into the next environment (DEV → TEST, TEST → PROD), or list promotions."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="a project's promotions, newest first")
        listing.add_argument("--workspace", required=True, metavar="SLUG")
        listing.add_argument("--project", required=True, metavar="PROJECT_ID")
        run_ = actions.add_parser("run", help="promote recipes of this DEV or TEST copy")
        run_.add_argument("--workspace", required=True, metavar="SLUG")
        run_.add_argument("--project", required=True, metavar="PROJECT_ID", help="the source copy")
        run_.add_argument("--recipe", dest="recipes", action="append", required=True, metavar="RECIPE_ID")
        run_.add_argument(
            "--map",
            dest="maps",
            action="append",
            default=[],
            metavar="SOURCE_ID=TARGET_ID",
            help="the target environment's connection for a connection the recipes use",
        )
        run_.add_argument("--rows", action="store_true", help="copy the lookup tables' rows too")
        run_.add_argument("--note", default="")
        for verb, text in (
            ("approve", "approve a promotion waiting for a second person"),
            ("reject", "turn it down"),
        ):
            decide = actions.add_parser(verb, help=text)
            decide.add_argument("--workspace", required=True, metavar="SLUG")
            decide.add_argument("--promotion", required=True, metavar="PROMOTION_ID")
        back = actions.add_parser("rollback", help="roll a PROD recipe back to an earlier version")
        back.add_argument("--workspace", required=True, metavar="SLUG")
        back.add_argument("--recipe", required=True, metavar="RECIPE_ID", help="the PROD recipe")
        back.add_argument("--to", required=True, type=int, metavar="N", help="the version to go back to")
        back.add_argument("--note", default="")
        second = actions.add_parser(
            "second-approval", help="whether promotions into PROD wait for a second person's approval"
        )
        second.add_argument("--workspace", required=True, metavar="SLUG")
        second.add_argument("state", choices=["on", "off", "show"])
        key = actions.add_parser("signing-key", help="show or rotate the key PROD versions are signed with")
        key.add_argument("--workspace", required=True, metavar="SLUG")
        key.add_argument("state", choices=["show", "rotate"])

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        workspace = workspace_of(actor, options["workspace"])
        if options["action"] in ("approve", "reject"):
            found = run(lambda: promotion.promotion_get(actor, workspace, options["promotion"]))
            decide = (
                promotion.promotion_approve if options["action"] == "approve" else promotion.promotion_reject
            )
            done = run(lambda: decide(actor=actor, promotion=found))
            self.stdout.write(f"Promotion {done.id} is {done.status}.")
            return
        if options["action"] == "rollback":
            recipe = run(
                lambda: access.recipe_get(actor, workspace, options["recipe"], need=Perm.RECIPE_VIEW)
            )
            preview = run(
                lambda: promotion.rollback_preview(actor=actor, recipe=recipe, number=options["to"])
            )
            done = run(
                lambda: promotion.rollback(
                    actor=actor, recipe=recipe, number=options["to"], note=options["note"]
                )
            )
            changed = 0 if preview.diff is None else len(preview.diff.steps) + len(preview.diff.trigger)
            if done.status == promotion.PENDING:
                self.stdout.write(
                    f"Rollback of {recipe.name} to v{options['to']} waits for a second person ({done.id})."
                )
            else:
                (item,) = done.details["recipes"]
                self.stdout.write(
                    f"Rolled {recipe.name} back to v{options['to']} as v{item['version']} "
                    f"({changed} change(s) from v{preview.current}; {done.id})."
                )
            return
        if options["action"] == "signing-key":
            if options["state"] == "rotate":
                done = run(lambda: signatures.signing_key_rotate(actor=actor, workspace=workspace))
                self.stdout.write(
                    f"PROD versions are signed with key {done.new_key_id} from now on "
                    f"(was {done.old_key_id if done.old_key_id is not None else 'none'}); "
                    "earlier signatures still verify."
                )
                return
            status = run(lambda: signatures.signing_key_status(actor=actor, workspace=workspace))
            counts = ", ".join(f"key {k}: {n}" for k, n in status["versions_by_key"].items()) or "none"
            self.stdout.write(f"signing key: {status['current_key_id']}; signed versions: {counts}")
            return
        if options["action"] == "second-approval":
            if options["state"] != "show":
                run(
                    lambda: promotion.prod_approval_set(
                        actor=actor, workspace=workspace, required=options["state"] == "on"
                    )
                )
            self.stdout.write(
                f"second approval into PROD: {'on' if workspace.prod_second_approval else 'off'}"
            )
            return
        source = run(lambda: access.project_get(actor, workspace, options["project"]))
        if options["action"] == "list":
            for done in promotion.promotions_of(actor=actor, project=source):
                moved = ",".join(
                    f"{item['name']}@v{item.get('version') or item.get('from_version')}"
                    for item in done.details.get("recipes", [])
                )
                self.stdout.write(
                    f"{done.id}\t{done.created_at:%Y-%m-%d %H:%M}\t{done.source.environment}"
                    f"\t{done.target.environment}\t{done.status}\t{moved}"
                )
            return
        maps = _pairs(options["maps"])
        done = run(
            lambda: promotion.promote(
                actor=actor,
                source=source,
                recipes=options["recipes"],
                connections=maps,
                with_rows=options["rows"],
                note=options["note"],
            )
        )
        if done.status == promotion.PENDING:
            waiting = ", ".join(f"{item['name']} v{item['from_version']}" for item in done.details["recipes"])
            self.stdout.write(
                f"Waiting for a second person's approval into {done.target.environment.upper()}: "
                f"{waiting} ({done.id})."
            )
            return
        moved = ", ".join(f"{item['name']} v{item['version']}" for item in done.details["recipes"])
        self.stdout.write(f"Promoted to {done.target.environment.upper()}: {moved} ({done.id}).")
