"""`causeway projects`: list, create, rename and delete projects from the operator's command line. A
project exists in DEV, TEST and PROD; creating, renaming or deleting one does it in all three. Acts as
the system actor; every change is audited."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from causeway.access.perms import Environment, Perm
from causeway.cli.management.commands._access import cli_actor, run, workspace_of
from causeway.recipes import policy as access
from causeway.recipes import selectors, services


class Command(BaseCommand):
    help = "List, create, rename and delete projects (each in DEV, TEST and PROD). Audited."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        environments = [e.value for e in Environment]
        listing = actions.add_parser("list", help="each project's copy in each environment")
        listing.add_argument("--workspace", required=True, metavar="SLUG")
        listing.add_argument("--environment", choices=environments)
        create = actions.add_parser("create", help="a new project, in all three environments")
        create.add_argument("--workspace", required=True, metavar="SLUG")
        create.add_argument("--name", required=True)
        create.add_argument("--description", default="")
        rename = actions.add_parser("rename", help="rename a project (in all three environments)")
        rename.add_argument("--workspace", required=True, metavar="SLUG")
        rename.add_argument("project", metavar="PROJECT_ID")
        rename.add_argument("--name", required=True)
        delete = actions.add_parser("delete", help="delete an empty project (from all three environments)")
        delete.add_argument("--workspace", required=True, metavar="SLUG")
        delete.add_argument("project", metavar="PROJECT_ID")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        workspace = workspace_of(actor, options["workspace"])
        action = options["action"]
        if action == "list":
            for p in selectors.projects_list(actor, workspace, environment=options["environment"]):
                self.stdout.write(f"{p.id}\t{p.environment}\t{p.family}\t{p.name}")
            return
        if action == "create":
            made = run(
                lambda: services.project_create(
                    actor=actor, workspace=workspace, name=options["name"], description=options["description"]
                )
            )
            self.stdout.write(f"Project {made.name} created in DEV, TEST and PROD ({made.family}).")
            return
        found = run(lambda: access.project_get(actor, workspace, options["project"], need=Perm.PROJECT_VIEW))
        if action == "rename":
            renamed = run(lambda: services.project_rename(actor=actor, project=found, name=options["name"]))
            self.stdout.write(f"Project renamed to {renamed.name} in DEV, TEST and PROD.")
            return
        run(lambda: services.project_delete(actor=actor, project=found))
        self.stdout.write(f"Project {found.name} deleted from DEV, TEST and PROD.")
