"""Roles, memberships, groups, recipe grants and roles' project scopes written before roles moved to
`workspaces` and grants and scopes to `recipes` are all there after the migration, on SQLite and
PostgreSQL alike, and the policy still enforces them: the rows are written the way the old schema held
them, the database is migrated, and each actor holds exactly what those rows gave, through the policy
and through the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import ProtectedError

from causeway.access import policy
from causeway.access.models import Group, GroupMember
from causeway.access.perms import Perm
from causeway.recipes.models import Project, Recipe, RecipeGrant, RoleProject
from causeway.workspaces.models import Membership, Role
from testkit.factories import ApiTokenFactory, ServiceAccountFactory
from testkit.support import https_client, make_user, make_workspace, migrate_database

BEFORE = [
    ("access", "0006_job_history_for_analysts_and_operators"),
    ("workspaces", "0004_api_tokens_of_both_kinds"),
    ("recipes", "0002_lookup_key_index_length"),
]
SCOPED_PERMS = ["project:view", "recipe:view", "recipe:edit"]


def _api(user: Any, path: str) -> int:
    token = ApiTokenFactory.create(user=user)
    client = https_client(HTTP_AUTHORIZATION=f"Bearer {token.secret}")
    return int(client.get(f"/api/v1{path}").status_code)


@pytest.mark.django_db(transaction=True)
def test_rule_02_roles_grants_and_scopes_written_before_the_move_are_kept_and_enforced(
    latest_afterwards: None,
) -> None:
    ada = make_user("ada@example.com")
    bob = make_user("bob@example.com", first="Bob")
    cy = make_user("cy@example.com", first="Cyd")
    dee = make_user("dee@example.com", first="Dee")
    acme = make_workspace("Acme", members={ada: "admin"})
    robot = ServiceAccountFactory.create(workspace=acme, name="robot")
    p1 = Project.objects.create(workspace=acme, name="P1")
    p2 = Project.objects.create(workspace=acme, name="P2")
    r1 = Recipe.objects.create(workspace=acme, project=p1, name="R1")
    r2 = Recipe.objects.create(workspace=acme, project=p2, name="R2")

    old = migrate_database(BEFORE)
    OldRole = old.get_model("access", "Role")
    OldMembership = old.get_model("workspaces", "Membership")
    OldGroup = old.get_model("access", "Group")
    OldGroupMember = old.get_model("access", "GroupMember")
    OldGrant = old.get_model("access", "RecipeGrant")
    operator = OldRole.objects.get(workspace=None, key="operator")
    scoped = OldRole.objects.create(
        workspace_id=acme.pk,
        key="p1-builder",
        name="P1 builder",
        permissions=SCOPED_PERMS,
        all_projects=False,
    )
    scoped.projects.add(p1.pk)
    OldMembership.objects.create(workspace_id=acme.pk, user_id=bob.pk, role=scoped)
    OldMembership.objects.create(workspace_id=acme.pk, user_id=cy.pk, role=operator)
    OldMembership.objects.create(workspace_id=acme.pk, user_id=dee.pk, role=operator)
    builders = OldGroup.objects.create(workspace_id=acme.pk, name="builders")
    builders.roles.add(scoped)
    OldGroupMember.objects.create(group=builders, user_id=cy.pk)
    OldGroupMember.objects.create(group=builders, service_account_id=robot.pk)
    OldGrant.objects.create(workspace_id=acme.pk, recipe_id=r2.pk, user_id=dee.pk, write=True)
    OldGrant.objects.create(workspace_id=acme.pk, recipe_id=r2.pk, group=builders, execute=True)
    counts_before = {
        "roles": OldRole.objects.count(),
        "scopes": OldRole.projects.through.objects.count(),
        "grants": OldGrant.objects.count(),
        "group_roles": OldGroup.roles.through.objects.count(),
    }

    migrate_database()

    # The rows, under the models' new homes.
    role = Role.objects.get(pk=scoped.pk)
    assert (role.workspace_id, role.key, role.permissions, role.all_projects) == (
        acme.pk,
        "p1-builder",
        SCOPED_PERMS,
        False,
    )
    assert list(RoleProject.objects.filter(role=role).values_list("project_id", flat=True)) == [p1.pk]
    assert list(role.projects.all()) == [p1]
    assert Membership.objects.get(workspace=acme, user=bob).role == role
    assert list(Group.objects.get(pk=builders.pk).roles.all()) == [role]
    assert GroupMember.objects.filter(group_id=builders.pk).count() == 2
    grants = {(g.user_id, g.group_id): g.capabilities for g in RecipeGrant.objects.filter(recipe=r2)}
    assert grants == {(dee.pk, None): {"write"}, (None, builders.pk): {"execute"}}
    assert {
        "roles": Role.objects.count(),
        "scopes": RoleProject.objects.count(),
        "grants": RecipeGrant.objects.count(),
        "group_roles": Group.roles.through.objects.count(),
    } == counts_before
    # A role a member holds still cannot be deleted from under them.
    with pytest.raises(ProtectedError):
        role.delete()

    # Enforced: the scoped role gives its permissions in P1 only.
    assert policy.may(bob, Perm.RECIPE_EDIT, r1)
    assert not policy.may(bob, Perm.RECIPE_VIEW, r2)
    assert list(Recipe.objects.visible_to(bob, Perm.RECIPE_EDIT)) == [r1]
    assert "role P1 builder via membership" in str(policy.explain(bob, Perm.RECIPE_EDIT, r1))
    # Through the group: the Operator also gets the scoped role, in P1 only.
    assert policy.may(cy, Perm.RECIPE_EDIT, r1) and not policy.may(cy, Perm.RECIPE_EDIT, r2)
    assert "role P1 builder via builders" in str(policy.explain(cy, Perm.RECIPE_EDIT, r1))
    # A direct grant: write on R2, within DEV's ceiling; and no more than that on R1.
    assert policy.may(dee, Perm.RECIPE_EDIT, r2) and not policy.may(dee, Perm.RECIPE_EDIT, r1)
    # A group's grant reaches the service account in it, never the group's role (rule 8).
    assert policy.may(robot, Perm.RECIPE_RUN, r2)
    assert not policy.may(robot, Perm.RECIPE_RUN, r1)
    assert not policy.may(robot, Perm.RECIPE_VIEW, r1)
    # And the API answers as the policy does (rule 9: a recipe out of scope does not exist).
    assert _api(bob, f"/workspaces/{acme.pk}/recipes/{r1.pk}") == 200
    assert _api(bob, f"/workspaces/{acme.pk}/recipes/{r2.pk}") == 404
