"""Projects written when each project lived in one environment become copies of one project in DEV,
TEST and PROD after the migration, on SQLite and PostgreSQL alike: a project in one environment is that
environment's copy, the same name in several environments is one project, the missing copies are made
empty, recipes and lookup tables of one name in its copies are copies of one another, and a role scoped
to the project covers all its copies within each environment's policy, through the policy and the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from causeway.access import policy
from causeway.access.perms import Perm
from causeway.accounts.actors import SystemActor
from causeway.recipes import services
from causeway.recipes.models import LookupTable, Project, Recipe
from causeway.workspaces.models import Membership
from testkit.factories import ApiTokenFactory, RoleFactory
from testkit.support import https_client, make_user, make_workspace, migrate_database

BEFORE = [("recipes", "0003_grants_and_role_scopes_kept_with_recipes")]
SYSTEM = SystemActor(label="environments migration test")


def _copies(workspace: Any, name: str) -> dict[str, Project]:
    return {p.environment: p for p in Project.objects.filter(workspace=workspace, name=name)}


@pytest.mark.django_db(transaction=True)
def test_rule_05_projects_of_one_environment_become_that_environments_copy(latest_afterwards: None) -> None:
    ada = make_user("ada@example.com")
    bob = make_user("bob@example.com", first="Bob")
    acme = make_workspace("Acme", members={ada: "admin"})
    other = make_workspace("Other", members={ada: "admin"})
    role = RoleFactory.create(
        workspace=acme, name="Sales builder", permissions=["project:view", "recipe:view", "recipe:edit"]
    )

    old = migrate_database(BEFORE)
    OldProject = old.get_model("recipes", "Project")
    OldRecipe = old.get_model("recipes", "Recipe")
    OldTable = old.get_model("recipes", "LookupTable")
    OldScope = old.get_model("recipes", "RoleProject")
    OldRole = old.get_model("workspaces", "Role")
    sales_dev = OldProject.objects.create(
        workspace_id=acme.pk, name="Sales", environment="dev", description="d"
    )
    sales_prod = OldProject.objects.create(workspace_id=acme.pk, name="Sales", environment="prod")
    ops_test = OldProject.objects.create(workspace_id=acme.pk, name="Ops", environment="test")
    elsewhere = OldProject.objects.create(workspace_id=other.pk, name="Sales", environment="dev")
    sync_dev = OldRecipe.objects.create(workspace_id=acme.pk, project=sales_dev, name="Sync")
    sync_prod = OldRecipe.objects.create(workspace_id=acme.pk, project=sales_prod, name="Sync")
    only_prod = OldRecipe.objects.create(workspace_id=acme.pk, project=sales_prod, name="Only in PROD")
    rates_dev = OldTable.objects.create(workspace_id=acme.pk, project=sales_dev, name="Rates", key_column="k")
    rates_prod = OldTable.objects.create(
        workspace_id=acme.pk, project=sales_prod, name="Rates", key_column="k"
    )
    OldRole.objects.filter(pk=role.pk).update(all_projects=False)
    OldScope.objects.create(role_id=role.pk, project=sales_dev)
    before = sorted(OldProject.objects.values_list("pk", flat=True))

    migrate_database()
    Membership.objects.create(workspace=acme, user=bob, role=role)

    # Every project is still there, as the copy in its own environment; the missing copies are new.
    sales, ops = _copies(acme, "Sales"), _copies(acme, "Ops")
    assert (sales["dev"].pk, sales["prod"].pk, ops["test"].pk) == (sales_dev.pk, sales_prod.pk, ops_test.pk)
    assert set(before) <= set(Project.objects.values_list("pk", flat=True))
    acme_projects = Project.objects.filter(workspace=acme)
    assert sorted(acme_projects.values_list("name", "environment")) == sorted(
        (name, env) for name in ("Ops", "Sales") for env in ("dev", "prod", "test")
    )
    assert len({p.family for p in sales.values()}) == 1 and len({p.family for p in ops.values()}) == 1
    assert sales["dev"].family != ops["dev"].family
    # A made copy takes the first copy's description; an existing one keeps its own.
    assert [sales[env].description for env in ("dev", "test", "prod")] == ["d", "d", ""]
    made = [sales["test"], ops["dev"], ops["prod"]]
    assert all(not p.recipes.exists() and not p.lookup_tables.exists() for p in made)
    # Another workspace's project of the same name is a project of its own there.
    there = Project.objects.filter(workspace=other)
    assert sorted(there.values_list("environment", flat=True)) == ["dev", "prod", "test"]
    assert {p.family for p in there} == {Project.objects.get(pk=elsewhere.pk).family}
    assert Project.objects.get(pk=elsewhere.pk).family != sales["dev"].family
    # Recipes and tables of one name in the copies of one project are copies of one another.
    recipes = {r.pk: r.family for r in Recipe.objects.all()}
    assert recipes[sync_dev.pk] == recipes[sync_prod.pk] != recipes[only_prod.pk]
    tables = {t.pk: t.family for t in LookupTable.objects.all()}
    assert tables[rates_dev.pk] == tables[rates_prod.pk]

    # The scope names the project: Bob reads Sales in PROD too, edits only where DEV's policy allows.
    sync_in_prod = Recipe.objects.get(pk=sync_prod.pk)
    assert policy.may(bob, Perm.RECIPE_EDIT, Recipe.objects.get(pk=sync_dev.pk))
    assert policy.may(bob, Perm.RECIPE_VIEW, sync_in_prod)
    assert not policy.may(bob, Perm.RECIPE_EDIT, sync_in_prod)
    assert not policy.may(bob, Perm.PROJECT_VIEW, ops["test"])
    token: Any = ApiTokenFactory.create(user=bob)
    client = https_client(HTTP_AUTHORIZATION=f"Bearer {token.secret}")
    listed = client.get(f"/api/v1/workspaces/{acme.pk}/projects").json()
    assert sorted((p["name"], p["environment"], p["family"]) for p in listed) == sorted(
        ("Sales", p.environment, str(p.family)) for p in sales.values()
    )
    # One project: its name is taken in every environment.
    with pytest.raises(ValidationError, match="already exists"):
        services.project_create(actor=SYSTEM, workspace=acme, name="Sales", environment="test")

    # Back: every project is kept, the copies made here as projects of their own.
    back = migrate_database(BEFORE)
    assert back.get_model("recipes", "Project").objects.filter(workspace_id=acme.pk).count() == 6
    assert back.get_model("recipes", "Recipe").objects.count() == 3
