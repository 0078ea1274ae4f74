"""`causeway groups`: a workspace's groups, their members and roles, and the values of an identity
provider's group claim that put members into them at sign-in. Every change is audited."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from causeway.access import group_mappings, services
from causeway.cli.management.commands._access import cli_actor, run, workspace_of


class Command(BaseCommand):
    help = (
        "List, create and delete groups; add and remove members; set a group's roles; map values of an "
        "identity provider's group claim to groups (mappings, map, unmap)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        for name, extra in (
            ("list", ()),
            ("create", ("name",)),
            ("delete", ("group",)),
            ("add-member", ("group",)),
            ("remove-member", ("group", "member")),
            ("roles", ("group",)),
            ("mappings", ()),
            ("map", ("group",)),
            ("unmap", ("mapping",)),
        ):
            sub = actions.add_parser(name)
            sub.add_argument("--workspace", required=True, metavar="SLUG")
            for arg in extra:
                sub.add_argument(arg, metavar=arg.upper())
            if name == "add-member":
                sub.add_argument("--user", metavar="EMAIL")
                sub.add_argument("--service-account", metavar="NAME")
            if name == "roles":
                sub.add_argument("--role", dest="roles", action="append", default=[], metavar="KEY")
            if name == "map":
                sub.add_argument("--provider", required=True, metavar="SLUG")
                sub.add_argument("--claim", default=group_mappings.DEFAULT_CLAIM, metavar="NAME")
                sub.add_argument("--value", required=True, metavar="VALUE")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        workspace = workspace_of(actor, options["workspace"])
        action = options["action"]
        if action == "list":
            for group in services.groups_visible(actor, workspace):
                members = [
                    m.user.email if m.user is not None else f"sa:{getattr(m.service_account, 'name', '')}"
                    for m in group.members.all()
                ]
                roles = ",".join(sorted(r.key for r in group.roles.all())) or "-"
                self.stdout.write(
                    f"{group.name}\t{group.id}\troles {roles}\tmembers {','.join(members) or '-'}"
                )
            return
        if action == "mappings":
            for mapping in group_mappings.group_mappings_visible(actor, workspace):
                self.stdout.write(
                    f"{mapping.id}\t{mapping.provider.slug}\t{mapping.claim}={mapping.value}\t"
                    f"group {mapping.group.name}"
                )
            return
        if action == "unmap":
            mapping = run(lambda: group_mappings.group_mapping_get(actor, workspace, options["mapping"]))
            run(lambda: group_mappings.group_mapping_delete(actor=actor, mapping=mapping))
            self.stdout.write(f"No longer mapping {mapping.claim}={mapping.value} to {mapping.group.name}.")
            return
        if action == "create":
            group = run(lambda: services.group_create(actor=actor, workspace=workspace, name=options["name"]))
            self.stdout.write(f"Created group {group.name} ({group.id}).")
            return
        group = run(lambda: services.group_get(actor, workspace, options["group"]))
        if action == "delete":
            run(lambda: services.group_delete(actor=actor, group=group))
            self.stdout.write(f"Deleted group {group.name}.")
        elif action == "add-member":
            run(
                lambda: services.group_member_add(
                    actor=actor, group=group, user=options["user"], service_account=options["service_account"]
                )
            )
            self.stdout.write(f"Added to {group.name}.")
        elif action == "map":
            mapping = run(
                lambda: group_mappings.group_mapping_create(
                    actor=actor,
                    workspace=workspace,
                    provider=options["provider"],
                    claim=options["claim"],
                    value=options["value"],
                    group=group,
                )
            )
            self.stdout.write(
                f"Mapped {mapping.claim}={mapping.value} from {mapping.provider.slug} to {group.name} "
                f"({mapping.id})."
            )
        elif action == "remove-member":
            run(lambda: services.group_member_remove(actor=actor, group=group, member_id=options["member"]))
            self.stdout.write(f"Removed from {group.name}.")
        else:
            run(lambda: services.group_roles_set(actor=actor, group=group, roles=options["roles"]))
            self.stdout.write(f"Roles of {group.name}: {','.join(sorted(options['roles'])) or 'none'}.")
