"""Rule 5, the default environment policies: DEV read, debug, write; TEST and PROD read and debug. No
person and no group executes by default (execution belongs to service accounts, schedules and
triggers); test runs and starting or stopping a recipe's tests (`recipe:test`) are allowed in DEV and
are not execute. An Admin widens or narrows a policy, on record. And a project exists in DEV, TEST and
PROD: made, renamed and deleted in all three at once, through every interface.

The world is built once for the module; each test's changes are rolled back after it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from causeway.access import policy
from causeway.access import services as access_services
from causeway.access.errors import Forbidden
from causeway.access.perms import Environment, Perm
from causeway.accounts.actors import SystemActor
from causeway.audit.models import AuditEvent
from causeway.recipes import grants, services
from causeway.recipes.models import Project, Recipe
from causeway.runs.models import Job
from causeway.workspaces.tests.helpers import bearer, sign_in
from testkit.factories import ProjectFactory, RecipeFactory, UserFactory
from testkit.personas import cast, member
from testkit.support import https_client
from testkit.worlds import built_once, reread

SYSTEM = SystemActor(label="rule 5 environments test")
ENVS = [e.value for e in Environment]
HUMANS = ("admin", "analyst", "operator", "group_member")


def _build() -> dict[str, Any]:
    """Acme with an Admin, an Analyst, an Operator, a member who holds the Analyst role and an execute
    grant through a group, and a service account; one project, and in each environment's copy a recipe
    every one of them was granted everything on."""
    acme = cast("admin", "analyst", "operator", "robot")
    ws, people = acme.workspace, acme.people()
    people["group_member"] = UserFactory.create(email="group-member@example.com")
    member(ws, people["group_member"], "operator")
    group = access_services.group_create(actor=SYSTEM, workspace=ws, name="Runners")
    access_services.group_roles_set(actor=SYSTEM, group=group, roles=["analyst"])
    access_services.group_member_add(actor=SYSTEM, group=group, user=people["group_member"])
    dev = ProjectFactory.create(workspace=ws, name="Orders")
    copies = {p.environment: p for p in Project.objects.filter(family=dev.family)}
    recipes = {env: RecipeFactory.create(project=copies[env], name=f"Sync {env}") for env in ENVS}
    robot = acme.robot
    assert robot is not None
    everything = ["read", "write", "execute", "debug"]
    for recipe in recipes.values():
        for who in ("admin", "analyst", "operator"):
            grants.grant_set(
                actor=SYSTEM, workspace=ws, recipe=recipe, user=people[who], capabilities=everything
            )
        grants.grant_set(actor=SYSTEM, workspace=ws, recipe=recipe, group=group, capabilities=everything)
        grants.grant_set(
            actor=SYSTEM, workspace=ws, recipe=recipe, service_account=robot.account, capabilities=["execute"]
        )
    return {"ws": ws, "people": people, "copies": copies, "recipes": recipes, "robot": robot}


@pytest.fixture(scope="module")
def world_once(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    yield from built_once(_build, django_db_blocker)


@pytest.fixture
def w(world_once: dict[str, Any], db: None) -> dict[str, Any]:
    return reread(world_once)


def _run(w: dict[str, Any], who: str, env: str, *, test: bool) -> Any:
    headers = (
        {"HTTP_AUTHORIZATION": f"Bearer {w['robot'].secret}"} if who == "robot" else bearer(w["people"][who])
    )
    client = https_client(**headers)
    recipe = w["recipes"][env]
    return client.post(
        f"/api/v1/workspaces/{w['ws'].id}/recipes/{recipe.id}/jobs",
        json.dumps({"test": test}),
        content_type="application/json",
    )


def test_rule_05_default_policies_dev_read_debug_write_test_and_prod_read_debug(w: dict[str, Any]) -> None:
    names = policy.ceiling_names_of(w["ws"])
    assert {env: sorted(caps) for env, caps in names.items()} == {
        "dev": ["debug", "read", "write"],
        "test": ["debug", "read"],
        "prod": ["debug", "read"],
    }
    ceilings = policy.ceilings_of(w["ws"])
    assert Perm.RECIPE_TEST in ceilings["dev"] and Perm.RECIPE_DEBUG in ceilings["dev"]
    assert not {Perm.RECIPE_RUN} & (ceilings["dev"] | ceilings["test"] | ceilings["prod"])
    assert not {Perm.RECIPE_TEST, Perm.RECIPE_EDIT} & (ceilings["test"] | ceilings["prod"])


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("who", HUMANS)
def test_rule_05_no_human_and_no_group_executes_by_default(w: dict[str, Any], who: str, env: str) -> None:
    """Each of them holds execute by a grant (the Analyst and the group member also by role): the
    policy withholds it everywhere, on the API as in the policy; the service account runs."""
    person = w["people"][who]
    assert not policy.may(person, Perm.RECIPE_RUN, w["recipes"][env])
    assert f"the {env.upper()} environment's policy does not allow it" in str(
        policy.explain(person, Perm.RECIPE_RUN, w["recipes"][env])
    )
    refused = _run(w, who, env, test=False)
    assert refused.status_code == 403 and refused.json()["permission"] == "recipe:run"
    assert not Job.objects.filter(recipe=w["recipes"][env]).exists()
    ran = _run(w, "robot", env, test=False)
    assert ran.status_code == 201, ran.content


@pytest.mark.parametrize("who", HUMANS)
def test_rule_05_test_runs_are_allowed_in_dev_and_are_not_execute(w: dict[str, Any], who: str) -> None:
    person = w["people"][who]
    assert _run(w, who, "dev", test=True).status_code == 201
    assert Job.objects.filter(recipe=w["recipes"]["dev"], is_test=True).count() == 1
    started = services.recipe_activate(actor=person, recipe=w["recipes"]["dev"])
    assert started.active
    services.recipe_stop(actor=person, recipe=w["recipes"]["dev"])
    for env in ("test", "prod"):
        answer = _run(w, who, env, test=True)
        assert answer.status_code == 403 and answer.json()["permission"] == "recipe:test", env
        with pytest.raises(Forbidden, match="recipe:test"):
            services.recipe_activate(actor=person, recipe=w["recipes"][env])
    assert not Job.objects.exclude(recipe=w["recipes"]["dev"]).exists()
    # A service account tests nothing: it only executes (rule 8).
    assert _run(w, "robot", "dev", test=True).status_code in {403, 404}


def test_rule_05_an_admin_narrows_and_widens_a_policy_on_record(w: dict[str, Any]) -> None:
    ws, admin, analyst = w["ws"], w["people"]["admin"], w["people"]["analyst"]
    page = sign_in(https_client(), admin)
    narrowed = page.post(f"/w/{ws.slug}/access/environments/dev", {"capabilities": ["read"]})
    assert narrowed.status_code == 302
    assert _run(w, "analyst", "dev", test=True).json()["permission"] == "recipe:test"
    assert not policy.may(analyst, Perm.RECIPE_EDIT, w["recipes"]["dev"])
    refused = sign_in(https_client(), analyst).post(
        f"/w/{ws.slug}/access/environments/dev", {"capabilities": ["read", "write", "execute"]}
    )
    assert refused.status_code in {403, 404}
    assert sorted(policy.ceiling_names_of(ws)["dev"]) == ["read"]
    out = io.StringIO()
    call_command(
        "environments", "set", "--workspace", ws.slug, "dev", *_caps("read", "write", "execute"), stdout=out
    )
    assert _run(w, "analyst", "dev", test=False).status_code == 201
    changes = AuditEvent.objects.filter(workspace_id=ws.id, action="environment_policy.changed").order_by(
        "seq"
    )
    assert [(e.details["from"], e.details["to"]) for e in changes] == [
        (["debug", "read", "write"], ["read"]),
        (["read"], ["execute", "read", "write"]),
    ]
    assert changes[0].actor_id == str(admin.id)


def _caps(*names: str) -> list[str]:
    return [arg for name in names for arg in ("--cap", name)]


def test_a_project_exists_in_dev_test_and_prod_through_every_interface(w: dict[str, Any]) -> None:
    ws, analyst = w["ws"], w["people"]["analyst"]
    api = https_client(**bearer(analyst))
    made = api.post(
        f"/api/v1/workspaces/{ws.id}/projects",
        json.dumps({"name": "Billing"}),
        content_type="application/json",
    )
    assert made.status_code == 201 and made.json()["environment"] == "dev"
    family = made.json()["family"]
    assert sorted(Project.objects.filter(family=family).values_list("environment", "name")) == [
        ("dev", "Billing"),
        ("prod", "Billing"),
        ("test", "Billing"),
    ]
    taken = api.post(
        f"/api/v1/workspaces/{ws.id}/projects",
        json.dumps({"name": "Billing"}),
        content_type="application/json",
    )
    assert taken.status_code == 409 and "already exists" in taken.json()["detail"]
    page = sign_in(https_client(), analyst)
    assert page.post(f"/w/{ws.slug}/projects", {"name": "Payroll", "environment": "dev"}).status_code == 302
    assert Project.objects.filter(workspace=ws, name="Payroll").count() == 3
    out = io.StringIO()
    call_command("projects", "create", "--workspace", ws.slug, "--name", "Ledger", stdout=out)
    assert "DEV, TEST and PROD" in out.getvalue()
    ledger = Project.objects.filter(workspace=ws, name="Ledger")
    assert sorted(ledger.values_list("environment", flat=True)) == ["dev", "prod", "test"]
    listed = io.StringIO()
    call_command("projects", "list", "--workspace", ws.slug, "--environment", "prod", stdout=listed)
    assert sorted(line.split("\t")[3] for line in listed.getvalue().splitlines()) == [
        "Billing",
        "Ledger",
        "Orders",
        "Payroll",
    ]
    # Renamed from DEV: the name is the project's, in every environment.
    dev_copy = Project.objects.get(family=family, environment="dev")
    renamed = api.patch(
        f"/api/v1/workspaces/{ws.id}/projects/{dev_copy.id}",
        json.dumps({"name": "Invoices"}),
        content_type="application/json",
    )
    assert renamed.status_code == 200
    assert set(Project.objects.filter(family=family).values_list("name", flat=True)) == {"Invoices"}
    # Deleted from DEV: from all three, once every copy is empty; a copy with content names itself.
    prod_copy = Project.objects.get(family=family, environment="prod")
    RecipeFactory.create(project=prod_copy, name="Live")
    refused = api.delete(f"/api/v1/workspaces/{ws.id}/projects/{dev_copy.id}")
    assert refused.status_code == 400 and "not empty in PROD (1 recipes)" in refused.json()["detail"]
    assert Project.objects.filter(family=family).count() == 3
    Recipe.objects.filter(project=prod_copy).delete()
    with pytest.raises(CommandError, match="project: not found"):
        call_command("projects", "delete", "--workspace", ws.slug, "0" * 8, stdout=io.StringIO())
    call_command("projects", "delete", "--workspace", ws.slug, str(dev_copy.id), stdout=io.StringIO())
    assert not Project.objects.filter(family=family).exists()
    event = AuditEvent.objects.filter(workspace_id=ws.id, action="project.deleted").get()
    assert sorted(event.details["environments"]) == ["dev", "prod", "test"]
