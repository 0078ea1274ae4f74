"""Nobody gives a permission they do not hold, nor raises their own (rules 2 and 8; "giving a permission
is itself a permission").

Each test attacks one path that gives — recipe grants (to oneself, to a group one is in, to another
user, to a service account), group roles, group members, custom roles, member roles, invitations — as
an attacker would, through the API and the pages, and checks the refusal, that the denial is on record,
and that nothing the policy reasons over changed. Where only Admins (who hold everything) may reach a
path at all, the attack is refused by the permission that path needs, and the giving rule itself is
shown to refuse a giver who is not an Admin, whichever interface would ask it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from causeway.access import giving, members, policy, services
from causeway.access.errors import Forbidden
from causeway.access.models import Group, GroupMember
from causeway.access.perms import CAPABILITY_NAMES, Perm, perms_of
from causeway.accounts.actors import SystemActor
from causeway.audit.models import AuditEvent
from causeway.recipes import grants
from causeway.recipes import policy as recipes_policy
from causeway.recipes.models import RecipeGrant
from causeway.tests.access_personas import World
from causeway.workspaces.models import Invitation, Membership, Role
from testkit.support import field_errors, https_client

pytestmark = pytest.mark.django_db

SYSTEM = SystemActor(label="test")


def api(world: World, who: str, method: str, path: str, body: Any = None) -> Any:
    return https_client().generic(
        method,
        f"/api/v1/workspaces/{world.ws.id}{path}",
        json.dumps(body) if body is not None else "",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.tokens[who]}",
    )


def page(world: World, who: str, path: str, data: dict[str, Any]) -> Any:
    client = https_client()
    client.force_login(world.people[who])
    return client.post(f"/w/{world.ws.slug}{path}", data)


def access_state() -> dict[str, list[Any]]:
    """Every row the policy reasons over, as plain values: what an escalation would have to change."""
    return {
        "grants": list(
            RecipeGrant.objects.order_by("id").values(
                "id", "recipe_id", "user_id", "service_account_id", "group_id", *CAPABILITY_NAMES
            )
        ),
        "group_members": list(
            GroupMember.objects.order_by("id").values("group_id", "user_id", "service_account_id")
        ),
        "group_roles": list(Group.roles.through.objects.order_by("id").values("group_id", "role_id")),
        "roles": list(Role.objects.order_by("id").values("id", "key", "name", "permissions", "all_projects")),
        "role_projects": list(Role.projects.through.objects.order_by("id").values("role_id", "project_id")),
        "memberships": list(Membership.objects.order_by("id").values("workspace_id", "user_id", "role_id")),
        "invitations": list(Invitation.objects.order_by("id").values("id", "role_id", "revoked_at")),
    }


def denials(world: World, perm: str) -> list[AuditEvent]:
    """The workspace's recorded denials naming `perm`, oldest first (details are sealed: read, then
    filtered)."""
    found = AuditEvent.objects.filter(workspace_id=world.ws.id, action="access.denied").order_by("seq")
    return [event for event in found if event.details.get("permission") == perm]


def refused(answer: Any, perm: str) -> None:
    assert answer.status_code == 403, answer.content
    assert answer.json()["permission"] == perm


# Recipe grants.


def test_rule_02_no_escalation_recipe_grant_to_self_via_api(world: World) -> None:
    """The attack as it was found: a member who may edit R1 but holds no debug there gives themselves
    debug on it. It answered 200; now it is refused, on record, and changes nothing."""
    custom = world.people["custom"]
    assert not policy.may(custom, Perm.RECIPE_DEBUG, world.r1)
    before, denied = access_state(), len(denials(world, "recipe:debug"))
    for caps in (["debug"], ["read", "debug"], ["read", "write", "execute", "debug"]):
        answer = api(
            world,
            "custom",
            "PUT",
            f"/recipes/{world.r1.id}/grants",
            {"user": "custom@acme.test", "capabilities": caps},
        )
        refused(answer, "recipe:debug")
        assert "you cannot give recipe:debug" in answer.json()["detail"]
    assert access_state() == before
    assert len(denials(world, "recipe:debug")) == denied + 3
    assert not policy.may(custom, Perm.RECIPE_DEBUG, world.r1)
    # What one holds one may keep giving oneself: it raises nothing. Execute is not among it: DEV's
    # default policy gives no person `recipe:run` (rule 5), so neither can a person give it.
    refused(
        api(
            world,
            "custom",
            "PUT",
            f"/recipes/{world.r1.id}/grants",
            {"user": "custom@acme.test", "capabilities": ["read", "execute"]},
        ),
        "recipe:run",
    )
    kept = api(
        world,
        "custom",
        "PUT",
        f"/recipes/{world.r1.id}/grants",
        {"user": "custom@acme.test", "capabilities": ["read"]},
    )
    assert kept.status_code == 200


def test_rule_02_no_escalation_recipe_grant_to_self_via_page(world: World) -> None:
    before, denied = access_state(), len(denials(world, "recipe:debug"))
    shown = page(
        world,
        "custom",
        f"/recipes/{world.r1.id}/access/grant",
        {"grantee_type": "user", "grantee": "custom@acme.test", "capabilities": ["debug"]},
    )
    assert shown.status_code == 403
    html = shown.content.decode()
    # A form error on the recipe's access page, not a page of its own.
    assert 'id="grant-form"' in html
    refused = field_errors(html, "capabilities", ids="id_grant_%s")
    assert refused and refused[0].startswith("you cannot give recipe:debug")
    assert access_state() == before
    recorded = denials(world, "recipe:debug")
    assert len(recorded) == denied + 1
    event = recorded[-1]
    assert event.actor_id == str(world.people["custom"].id)
    assert event.details["path"] == f"/w/{world.ws.slug}/recipes/{world.r1.id}/access/grant"


def test_rule_02_no_escalation_recipe_grant_to_a_group_one_is_in(world: World) -> None:
    services.group_member_add(actor=SYSTEM, group=world.group, user=world.people["custom"])
    before = access_state()
    answer = api(
        world,
        "custom",
        "PUT",
        f"/recipes/{world.r1.id}/grants",
        {"group": "Readers", "capabilities": ["read", "debug"]},
    )
    refused(answer, "recipe:debug")
    shown = page(
        world,
        "custom",
        f"/recipes/{world.r1.id}/access/grant",
        {"grantee_type": "group", "grantee": "Readers", "capabilities": ["read", "write"]},
    )
    assert shown.status_code == 403 and b"you cannot give recipe:delete" in shown.content
    assert access_state() == before
    for who in ("custom", "group_only"):
        assert not policy.may(world.people[who], Perm.RECIPE_DEBUG, world.r1)
        assert not policy.may(world.people[who], Perm.RECIPE_DELETE, world.r1)


def test_rule_02_no_escalation_recipe_grant_beyond_ones_own_to_another_user(world: World) -> None:
    """The custom role may edit R1 but not delete it nor see its whole history: it cannot give another
    member write (edit and delete) or debug; what it holds, it may give."""
    before = access_state()
    for caps, missing in ((["write"], "recipe:delete"), (["read", "debug"], "recipe:debug")):
        answer = api(
            world,
            "custom",
            "PUT",
            f"/recipes/{world.r1.id}/grants",
            {"user": "grouponly@acme.test", "capabilities": caps},
        )
        refused(answer, missing)
    # R2 is outside the role's scope: there the custom member holds nothing, not even read.
    assert (
        api(
            world,
            "custom",
            "PUT",
            f"/recipes/{world.r2.id}/grants",
            {"user": "grouponly@acme.test", "capabilities": ["read"]},
        ).status_code
        == 404
    )
    assert access_state() == before
    given = api(
        world,
        "custom",
        "PUT",
        f"/recipes/{world.r1.id}/grants",
        {"user": "grouponly@acme.test", "capabilities": ["read"]},
    )
    assert given.status_code == 200 and sorted(given.json()["capabilities"]) == ["read"]


def test_rule_02_no_escalation_service_account_grant(world: World) -> None:
    """An Admin lets people change PROD recipes but not run them there. An Analyst who may now edit R4
    cannot have a service account (which no ceiling binds) run it instead; the Admin may."""
    services.environment_policy_set(
        actor=SYSTEM, workspace=world.ws, environment="prod", capabilities=["read", "write", "debug"]
    )
    analyst = world.people["analyst"]
    assert policy.may(analyst, Perm.RECIPE_EDIT, world.r4)
    assert not policy.may(analyst, Perm.RECIPE_RUN, world.r4)
    before = access_state()
    answer = api(
        world,
        "analyst",
        "PUT",
        f"/recipes/{world.r4.id}/grants",
        {"service_account": "robot", "capabilities": ["execute"]},
    )
    refused(answer, "recipe:run")
    assert "you cannot give recipe:run" in answer.json()["detail"]
    # Nor through a group the robot is in.
    services.group_member_add(actor=SYSTEM, group=world.group, service_account=world.robot)
    before = access_state()
    through_group = page(
        world,
        "analyst",
        f"/recipes/{world.r4.id}/access/grant",
        {"grantee_type": "group", "grantee": "Readers", "capabilities": ["execute"]},
    )
    assert through_group.status_code == 403 and b"you cannot give recipe:" in through_group.content
    assert access_state() == before
    assert not policy.may(world.robot, Perm.RECIPE_RUN, world.r4)
    # The Admin gives it: the PROD ceiling keeps people from running, not service accounts.
    given = api(
        world,
        "admin",
        "PUT",
        f"/recipes/{world.r4.id}/grants",
        {"service_account": "robot", "capabilities": ["execute"]},
    )
    assert given.status_code == 200
    assert policy.may(world.robot, Perm.RECIPE_RUN, world.r4)


# Group roles, group members, custom roles, member roles, invitations: only Admins may reach them.


def test_rule_02_no_escalation_group_roles(world: World) -> None:
    before = access_state()
    for who in ("analyst", "custom", "group_only"):
        answer = api(world, who, "PATCH", f"/groups/{world.group.id}", {"roles": ["analyst"]})
        refused(answer, "member:manage")
        shown = page(world, who, f"/access/groups/{world.group.id}/roles", {"roles": ["analyst"]})
        assert shown.status_code == 403
    assert access_state() == before
    # The rule itself: a member who is not an Admin gives no role carrying more than they hold, the
    # Analyst role to a group by someone holding a scoped custom role, say.
    analyst_role = Role.objects.get(workspace=None, key="analyst")
    with pytest.raises(Forbidden) as refusal:
        giving.require_may_give_roles(world.people["custom"], world.ws, [analyst_role])
    assert "the role Analyst carries it" in str(refusal.value)
    with pytest.raises(Forbidden):
        giving.require_may_give_roles(
            world.people["analyst"], world.ws, [Role.objects.get(workspace=None, key="admin")]
        )
    giving.require_may_give_roles(world.people["analyst"], world.ws, [analyst_role, world.custom_role])
    giving.require_may_give_roles(world.people["admin"], world.ws, list(Role.objects.filter(workspace=None)))


def test_rule_02_no_escalation_group_members(world: World) -> None:
    """Joining a group gives its roles and its grants: nobody adds themselves to one that would raise
    their standing. The Readers group gets debug on R1 and the Analyst role to make it worth joining."""
    grants.grant_set(
        actor=SYSTEM, workspace=world.ws, recipe=world.r1, group=world.group, capabilities=["debug"]
    )
    services.group_roles_set(actor=SYSTEM, group=world.group, roles=["analyst"])
    before = access_state()
    for who, email in (("custom", "custom@acme.test"), ("operator", "operator@acme.test")):
        answer = api(world, who, "POST", f"/groups/{world.group.id}/members", {"user": email})
        refused(answer, "member:manage")
        member = f"user:{world.people[who].id}"
        shown = page(world, who, f"/access/groups/{world.group.id}/members", {"member": member})
        assert shown.status_code == 403
    assert access_state() == before
    assert not policy.may(world.people["custom"], Perm.RECIPE_DEBUG, world.r1)
    with pytest.raises(Forbidden) as refusal:
        giving.require_may_add_to_group(world.people["custom"], world.ws, world.group)
    assert refusal.value.perm in {
        str(p) for p in perms_of(Role.objects.get(workspace=None, key="analyst").permissions)
    }
    # Without its roles, the group's debug grant is still beyond them.
    services.group_roles_set(actor=SYSTEM, group=world.group, roles=[])
    with pytest.raises(Forbidden) as refusal:
        giving.require_may_add_to_group(world.people["custom"], world.ws, world.group)
    assert refusal.value.perm == "recipe:debug"
    giving.require_may_add_to_group(world.people["analyst"], world.ws, world.group)
    giving.require_may_add_to_group(world.people["admin"], world.ws, world.group)


def test_rule_02_no_escalation_custom_role(world: World) -> None:
    before = access_state()
    body = {"name": "Everything mine", "permissions": ["recipe:view", "recipe:debug", "recipe:delete"]}
    for who in ("analyst", "custom"):
        refused(api(world, who, "POST", "/roles", body), "role:manage")
        refused(
            api(world, who, "PATCH", f"/roles/{world.custom_role.id}", {"permissions": body["permissions"]}),
            "role:manage",
        )
        shown = page(
            world, who, "/access/roles/new", {"name": "Everything mine", "permissions": body["permissions"]}
        )
        assert shown.status_code == 403
    assert access_state() == before
    # The rule itself, for a giver who is not an Admin: the custom member holds recipe:edit in P1 only,
    # and no recipe:debug or recipe:delete anywhere.
    custom = world.people["custom"]
    recipes_policy.require_may_give_permissions(
        custom, world.ws, [Perm.RECIPE_EDIT], all_projects=False, project_ids=[world.p1.id]
    )
    for perms, all_projects, projects in (
        ([Perm.RECIPE_DEBUG], False, [world.p1.id]),
        ([Perm.RECIPE_DELETE], False, [world.p1.id]),
        ([Perm.RECIPE_EDIT], False, [world.p1.id, world.p2.id]),
        ([Perm.RECIPE_EDIT], True, []),
    ):
        with pytest.raises(Forbidden):
            recipes_policy.require_may_give_permissions(
                custom, world.ws, perms, all_projects=all_projects, project_ids=projects
            )
    recipes_policy.require_may_give_permissions(
        world.people["analyst"], world.ws, [Perm.RECIPE_DEBUG, Perm.RECIPE_DELETE], all_projects=True
    )


def test_rule_02_no_escalation_member_role(world: World) -> None:
    """Nobody changes their own role upward, nor anyone's to a role carrying more than they hold."""
    own = {
        who: Membership.objects.get(workspace=world.ws, user=world.people[who])
        for who in ("analyst", "custom")
    }
    before = access_state()
    for who, membership in own.items():
        for role in ("admin", "analyst"):
            refused(api(world, who, "PATCH", f"/members/{membership.id}", {"role": role}), "member:manage")
            shown = page(world, who, f"/members/{membership.id}/role", {"role": role})
            assert shown.status_code == 403
        refused(
            api(world, who, "PATCH", f"/members/{world.operator_membership.id}", {"role": "admin"}),
            "member:manage",
        )
    assert access_state() == before
    admin_role = Role.objects.get(workspace=None, key="admin")
    analyst_role = Role.objects.get(workspace=None, key="analyst")
    with pytest.raises(Forbidden):
        giving.require_may_give_roles(world.people["analyst"], world.ws, [admin_role])
    with pytest.raises(Forbidden):
        giving.require_may_give_roles(world.people["custom"], world.ws, [analyst_role])
    # An Admin still changes roles, their own downward too (another Admin remains).
    Membership.objects.filter(pk=own["analyst"].pk).update(role=admin_role)
    changed = api(world, "admin", "PATCH", f"/members/{world.operator_membership.id}", {"role": "analyst"})
    assert changed.status_code == 200 and changed.json()["role"] == "analyst"
    admin_membership = Membership.objects.get(workspace=world.ws, user=world.people["admin"])
    assert (
        api(world, "admin", "PATCH", f"/members/{admin_membership.id}", {"role": "operator"}).status_code
        == 200
    )


def test_rule_02_no_escalation_invitation_role(world: World) -> None:
    before = access_state()
    for who in ("analyst", "custom", "operator"):
        for role in ("admin", "analyst"):
            body = {"email": f"accomplice-{who}-{role}@acme.test", "role": role}
            refused(api(world, who, "POST", "/invitations", body), "member:manage")
            assert page(world, who, "/members/invite", body).status_code == 403
    assert access_state() == before
    with pytest.raises(Forbidden):
        members.workspace_invitation_create(
            actor=world.people["analyst"], workspace=world.ws, email="accomplice@acme.test", role="admin"
        )
    with pytest.raises(Forbidden):
        giving.require_may_give_roles(
            world.people["analyst"], world.ws, [Role.objects.get(workspace=None, key="admin")]
        )
    giving.require_may_give_roles(
        world.people["analyst"], world.ws, [Role.objects.get(workspace=None, key="operator")]
    )
    assert access_state() == before
    invited = api(world, "admin", "POST", "/invitations", {"email": "new-admin@acme.test", "role": "admin"})
    assert invited.status_code == 201 and invited.json()["role"] == "admin"
