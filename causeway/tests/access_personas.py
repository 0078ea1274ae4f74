"""The people and things every access test meets: one workspace with each kind of actor, and another.

`acme` holds: an Admin, an Analyst, an Operator, a member whose custom role covers project P1 only
(`custom`), a member whose only access is a group's read grant on recipe R1 (`group_only`), a service
account with an execute grant on R1 (`robot`); outside it, a staff user who is not a member and the
Admin of another workspace (`other_admin`). Each human has an API token; the robot has one too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from causeway.testing import make_user, make_workspace

MANUAL = {"trigger": {"type": "manual"}, "steps": [{"id": "s1", "type": "map", "fields": {"a": "1"}}]}
SCOPED_PERMS = [
    "project:view",
    "folder:view",
    "recipe:view",
    "recipe:edit",
    "recipe:run",
    "recipe:test",
    "job:view",
]
ACTORS = ("anon", "admin", "analyst", "operator", "custom", "group_only", "robot", "staff", "other_admin")


@dataclass
class World:
    ws: Any
    other: Any
    people: dict[str, Any]
    tokens: dict[str, str]
    p1: Any
    p2: Any
    r1: Any
    r2: Any
    other_recipe: Any
    custom_role: Any
    nothing_role: Any
    group: Any
    group_member: Any
    group_grant: Any
    robot: Any
    robot_token: Any
    operator_membership: Any
    invitation: Any
    platform_invitation: Any
    ids: dict[str, Any] = field(default_factory=dict)


def build_world() -> World:
    from causeway.access import services
    from causeway.access.perms import Perm  # noqa: F401
    from causeway.accounts.services import token_create
    from causeway.audit.models import ActorType
    from causeway.audit.services import Actor
    from causeway.recipes.services import project_create, recipe_create
    from causeway.workspaces import services as ws_services
    from causeway.workspaces.models import Membership

    system = Actor(type=ActorType.SYSTEM, label="test")
    people = {
        "admin": make_user("admin@acme.test"),
        "analyst": make_user("analyst@acme.test"),
        "operator": make_user("operator@acme.test"),
        "custom": make_user("custom@acme.test"),
        "group_only": make_user("grouponly@acme.test"),
        "staff": make_user("staff@platform.test", staff=True),
        "other_admin": make_user("admin@other.test"),
    }
    ws = make_workspace(
        "Acme",
        members={people["admin"]: "admin", people["analyst"]: "analyst", people["operator"]: "operator"},
    )
    other = make_workspace("Other", members={people["other_admin"]: "admin"})
    p1 = project_create(actor=system, workspace=ws, name="P1")
    p2 = project_create(actor=system, workspace=ws, name="P2")
    r1 = recipe_create(actor=people["analyst"], workspace=ws, project=p1, name="R1", definition=MANUAL)
    r2 = recipe_create(actor=system, workspace=ws, project=p2, name="R2", definition=MANUAL)
    op = project_create(actor=system, workspace=other, name="O1")
    other_recipe = recipe_create(actor=system, workspace=other, project=op, name="Theirs", definition=MANUAL)
    custom_role = services.role_create(
        actor=system,
        workspace=ws,
        name="Scoped builder",
        permissions=SCOPED_PERMS,
        all_projects=False,
        project_ids=[p1.id],
    )
    nothing_role = services.role_create(actor=system, workspace=ws, name="No access", permissions=[])
    Membership.objects.create(workspace=ws, user=people["custom"], role=custom_role)
    Membership.objects.create(workspace=ws, user=people["group_only"], role=nothing_role)
    group = services.group_create(actor=system, workspace=ws, name="Readers")
    group_member = services.group_member_add(actor=system, group=group, user=people["group_only"])
    group_grant = services.grant_set(
        actor=system, workspace=ws, recipe=r1, group=group, capabilities=["read"]
    )
    robot = services.service_account_create(actor=system, workspace=ws, name="robot")
    services.grant_set(actor=system, workspace=ws, recipe=r1, service_account=robot, capabilities=["execute"])
    robot_token, robot_secret = services.service_account_token_create(
        actor=system, workspace=ws, account=robot, name="ci", expires_in_days=30
    )
    tokens = {
        name: token_create(actor=user, name="t", expires_in_days=365)[1] for name, user in people.items()
    }
    tokens["robot"] = robot_secret
    invitation = ws_services.workspace_invitation_create(
        actor=system, workspace=ws, email="newcomer@acme.test", role="operator"
    ).invitation
    platform_invitation = ws_services.platform_invitation_create(
        actor=system, email="someone@platform.test"
    ).invitation
    return World(
        ws=ws,
        other=other,
        people=people,
        tokens=tokens,
        p1=p1,
        p2=p2,
        r1=r1,
        r2=r2,
        other_recipe=other_recipe,
        custom_role=custom_role,
        nothing_role=nothing_role,
        group=group,
        group_member=group_member,
        group_grant=group_grant,
        robot=robot,
        robot_token=robot_token,
        operator_membership=Membership.objects.get(workspace=ws, user=people["operator"]),
        invitation=invitation,
        platform_invitation=platform_invitation,
    )
