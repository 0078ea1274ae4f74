"""`causeway roles`: list a workspace's roles; create, change and delete custom roles. Audited."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from causeway.cli.management.commands._access import cli_actor, run, workspace_of
from causeway.recipes import roles


class Command(BaseCommand):
    help = "List roles; create, change and delete custom roles (never with Admin-only powers)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list")
        listing.add_argument("--workspace", required=True, metavar="SLUG")
        for name in ("create", "update"):
            sub = actions.add_parser(name)
            sub.add_argument("--workspace", required=True, metavar="SLUG")
            sub.add_argument(
                "role" if name == "update" else "name", metavar="ROLE" if name == "update" else "NAME"
            )
            if name == "update":
                sub.add_argument("--name", dest="new_name")
            sub.add_argument("--perm", dest="perms", action="append", default=None, metavar="PERMISSION")
            sub.add_argument(
                "--project", dest="projects", action="append", default=None, metavar="PROJECT_ID"
            )
            sub.add_argument("--all-projects", action="store_true")
        deleting = actions.add_parser("delete")
        deleting.add_argument("--workspace", required=True, metavar="SLUG")
        deleting.add_argument("role", metavar="ROLE")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        workspace = workspace_of(actor, options["workspace"])
        action = options["action"]
        if action == "list":
            for role in roles.roles_visible(actor, workspace):
                scope = (
                    "all projects" if role.all_projects else ",".join(str(p.id) for p in role.projects.all())
                )
                kind = "system" if role.is_system else "custom"
                self.stdout.write(
                    f"{role.key}\t{role.name}\t{kind}\t{scope}\t{' '.join(sorted(role.permissions))}"
                )
        elif action == "create":
            role = run(
                lambda: roles.role_create(
                    actor=actor,
                    workspace=workspace,
                    name=options["name"],
                    permissions=options["perms"] or [],
                    all_projects=not options["projects"],
                    project_ids=options["projects"] or [],
                )
            )
            self.stdout.write(f"Created role {role.key} in {workspace.slug}.")
        elif action == "update":
            role = run(lambda: roles.role_get(actor, workspace, options["role"]))
            all_projects = True if options["all_projects"] else (False if options["projects"] else None)
            run(
                lambda: roles.role_update(
                    actor=actor,
                    role=role,
                    name=options["new_name"],
                    permissions=options["perms"],
                    all_projects=all_projects,
                    project_ids=options["projects"],
                )
            )
            self.stdout.write(f"Changed role {role.key} in {workspace.slug}.")
        else:
            role = run(lambda: roles.role_get(actor, workspace, options["role"]))
            run(lambda: roles.role_delete(actor=actor, role=role))
            self.stdout.write(f"Deleted role {role.key} from {workspace.slug}.")
