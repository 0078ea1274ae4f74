"""Promotion (Migrate): chosen recipes move DEV → TEST → PROD with the lookup tables they use (schema;
rows only if asked), their connections mapped to the target environment's (an unmapped one refuses the
whole promotion, naming it). It needs write on the recipes in the source and `environment:promote` in
the target (the Admin's; a custom role may hold it), and each promotion is one audit event listing what
moved — through the services, the API, the Migrate page and the command line.

The world is built once for the module; each test's changes are rolled back after it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from causeway.access.errors import Forbidden
from causeway.accounts.actors import SystemActor
from causeway.audit.models import AuditEvent
from causeway.connections import services as connections
from causeway.connections.outbound import outbound_hosts_set
from causeway.recipes import promotion, services
from causeway.recipes.models import LookupRow, LookupTable, Project, Promotion, Recipe, RecipeVersion
from causeway.runs import triggers
from causeway.workspaces.tests.helpers import bearer, sign_in
from testkit.factories import ProjectFactory
from testkit.personas import cast
from testkit.support import https_client
from testkit.worlds import built_once, reread

SYSTEM = SystemActor(label="promotion test")
PROMOTER_PERMS = ["project:view", "folder:view", "recipe:view", "recipe:edit", "environment:promote"]


def _connection(admin: Any, ws: Any, name: str) -> Any:
    return connections.connection_create(
        actor=admin,
        workspace=ws,
        kind="company",
        connector_key="http",
        name=name,
        auth_method="basic",
        settings={"base_url": "https://127.0.0.1:9"},
        credentials={"username": "acme", "password": "not-used"},
        scopes=["read"],
    )


def _build() -> dict[str, Any]:
    acme = cast(
        "admin", "analyst", "operator", "builder", builder_perms=PROMOTER_PERMS, builder_role="Promoter"
    )
    ws, people = acme.workspace, acme.people()
    admin = people["admin"]
    outbound_hosts_set(actor=admin, workspace=ws, hosts=["127.0.0.1"])
    connections.connector_enable(actor=admin, workspace=ws, key="http", enabled=True)
    crm = {env: _connection(admin, ws, f"CRM {env.upper()}") for env in ("dev", "test", "prod")}
    dev = ProjectFactory.create(workspace=ws, name="Orders")
    rates = services.lookup_table_create(
        actor=admin,
        workspace=ws,
        project=dev,
        name="Rates",
        columns=[{"name": "code", "type": "text"}, {"name": "rate", "type": "number"}],
        key_column="code",
    )
    services.lookup_row_put(actor=admin, table=rates, key="EUR", values={"rate": 1.1})
    definition = {
        "trigger": {"type": "manual"},
        "steps": [
            {"id": "rate", "type": "lookup_read", "table": "Rates", "key": "EUR"},
            {
                "id": "call",
                "type": "connector",
                "connection": str(crm["dev"].id),
                "action": "get",
                "input": {"path": "/orders"},
            },
        ],
    }
    sync = services.recipe_create(actor=admin, workspace=ws, project=dev, name="Sync", definition=definition)
    plain = services.recipe_create(
        actor=admin,
        workspace=ws,
        project=dev,
        name="Plain",
        definition={
            "trigger": {"type": "manual"},
            "steps": [{"id": "m", "type": "map", "fields": {"a": "1"}}],
        },
    )
    copies = {p.environment: p for p in Project.objects.filter(family=dev.family)}
    return {
        "ws": ws,
        "people": people,
        "crm": crm,
        "copies": copies,
        "sync": sync,
        "plain": plain,
        "rates": rates,
    }


@pytest.fixture(scope="module")
def world_once(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    yield from built_once(_build, django_db_blocker)


@pytest.fixture
def w(world_once: dict[str, Any], db: None) -> dict[str, Any]:
    return reread(world_once)


def _promote(w: dict[str, Any], who: str, source: str = "dev", **kwargs: Any) -> Promotion:
    actor = SYSTEM if who == "system" else w["people"][who]
    kwargs.setdefault("recipes", [w["sync"].id])
    kwargs.setdefault("connections", {str(w["crm"]["dev"].id): str(w["crm"]["test"].id)})
    return promotion.promote(actor=actor, source=w["copies"][source], **kwargs)


def _state() -> tuple[Any, ...]:
    return (
        sorted(Recipe.objects.values_list("id", "project_id", "current_version_id")),
        RecipeVersion.objects.count(),
        sorted(LookupTable.objects.values_list("id", "project_id", "name")),
        LookupRow.objects.count(),
        Promotion.objects.count(),
    )


def test_promotion_moves_the_chosen_recipes_with_their_tables_and_mapped_connections(
    w: dict[str, Any],
) -> None:
    done = _promote(w, "admin")
    test = w["copies"]["test"]
    copy = Recipe.objects.get(project=test)
    assert (copy.name, copy.family) == ("Sync", w["sync"].family)
    assert copy.current_version is not None and copy.current_version.number == 1
    steps = copy.current_version.definition["steps"]
    assert steps[1]["connection"] == str(w["crm"]["test"].id)
    # The table came by its schema, not its rows.
    table = LookupTable.objects.get(project=test)
    assert (table.name, table.family, table.key_column) == ("Rates", w["rates"].family, "code")
    assert not LookupRow.objects.filter(table=table).exists()
    assert not Recipe.objects.filter(project=test, name="Plain").exists()
    event = AuditEvent.objects.filter(workspace_id=w["ws"].id, action="project.promoted").get()
    assert event.details["from"] == "dev" and event.details["to"] == "test"
    assert [(r["name"], r["from_version"], r["version"]) for r in event.details["recipes"]] == [
        ("Sync", 1, 1)
    ]
    assert event.details["connections"] == {"CRM DEV": "CRM TEST"}
    assert event.details["lookup_tables"][0]["name"] == "Rates"
    assert event.details["promotion"] == str(done.id)
    # Again, with a newer DEV version and rows: a new version of the same copy; the mapping is kept.
    services.recipe_save(
        actor=w["people"]["admin"], recipe=w["sync"], definition=w["sync"].current_version.definition
    )
    _promote(w, "admin", connections={}, with_rows=True)
    copy.refresh_from_db()
    assert copy.current_version is not None and copy.current_version.number == 2
    assert Recipe.objects.filter(project=test).count() == 1
    assert [row.values for row in LookupRow.objects.filter(table=table)] == [{"code": "EUR", "rate": 1.1}]
    # Then TEST → PROD, mapped to PROD's connection.
    to_prod = {str(w["crm"]["test"].id): str(w["crm"]["prod"].id)}
    _promote(w, "admin", "test", recipes=[copy.id], connections=to_prod)
    live = Recipe.objects.get(project=w["copies"]["prod"])
    assert live.current_version is not None
    assert live.current_version.definition["steps"][1]["connection"] == str(w["crm"]["prod"].id)


def test_an_unmapped_connection_refuses_the_whole_promotion_naming_it(w: dict[str, Any]) -> None:
    before = _state()
    with pytest.raises(ValidationError, match="map a TEST connection to CRM DEV first"):
        _promote(w, "admin", recipes=[w["plain"].id, w["sync"].id], connections={})
    assert _state() == before
    api = https_client(**bearer(w["people"]["admin"]))
    answer = api.post(
        f"/api/v1/workspaces/{w['ws'].id}/projects/{w['copies']['dev'].id}/promotions",
        json.dumps({"recipes": [str(w["sync"].id)]}),
        content_type="application/json",
    )
    assert answer.status_code == 400 and "CRM DEV" in answer.json()["detail"]
    assert _state() == before


@pytest.mark.parametrize("who", ["analyst", "operator"])
def test_promotion_needs_promote_in_the_target(w: dict[str, Any], who: str) -> None:
    """The Analyst may write the DEV recipe but holds no promote; the Operator holds neither."""
    before = _state()
    with pytest.raises(Forbidden, match="environment:promote"):
        _promote(w, who)
    page = sign_in(https_client(), w["people"][who])
    assert page.get(f"/w/{w['ws'].slug}/projects/{w['copies']['dev'].id}/migrate").status_code == 403
    html = page.get(f"/w/{w['ws'].slug}/projects/{w['copies']['dev'].id}").content.decode()
    assert 'id="migrate"' not in html
    assert _state() == before


def test_a_custom_role_with_promote_promotes_what_it_may_write(w: dict[str, Any]) -> None:
    builder = w["people"]["builder"]
    _promote(w, "builder")
    assert Recipe.objects.filter(project=w["copies"]["test"], name="Sync").exists()
    # Write is asked where the recipe is built (DEV): what was tried in TEST moves on to PROD.
    copy = Recipe.objects.get(project=w["copies"]["test"])
    _promote(
        w,
        "builder",
        "test",
        recipes=[copy.id],
        connections={str(w["crm"]["test"].id): str(w["crm"]["prod"].id)},
    )
    assert Recipe.objects.filter(project=w["copies"]["prod"], name="Sync").exists()
    events = AuditEvent.objects.filter(action="project.promoted")
    assert {e.actor_id for e in events} == {str(builder.id)} and events.count() == 2


def test_prod_promotes_nowhere_and_another_projects_recipe_is_refused(w: dict[str, Any]) -> None:
    other = ProjectFactory.create(workspace=w["ws"], name="Elsewhere")
    stray = services.recipe_create(
        actor=SYSTEM,
        workspace=w["ws"],
        project=other,
        name="Stray",
        definition=w["plain"].current_version.definition,
    )
    with pytest.raises(ValidationError, match="not in this project"):
        _promote(w, "admin", recipes=[stray.id])
    with pytest.raises(ValidationError, match="PROD is the last environment"):
        promotion.promote(actor=SYSTEM, source=w["copies"]["prod"], recipes=[w["sync"].id])
    page = sign_in(https_client(), w["people"]["admin"])
    assert page.get(f"/w/{w['ws'].slug}/projects/{w['copies']['prod'].id}/migrate").status_code == 404


def test_the_migrate_page_promotes_and_lists_promotions(w: dict[str, Any]) -> None:
    ws, dev = w["ws"], w["copies"]["dev"]
    page = sign_in(https_client(), w["people"]["admin"])
    html = page.get(f"/w/{ws.slug}/projects/{dev.id}").content.decode()
    assert f'href="/w/{ws.slug}/projects/{dev.id}/migrate" id="migrate"' in html
    shown = page.get(f"/w/{ws.slug}/projects/{dev.id}/migrate").content.decode()
    assert "Migrate Orders" in shown and "CRM DEV" in shown and 'value="' + str(w["sync"].id) + '"' in shown
    refused = page.post(
        f"/w/{ws.slug}/projects/{dev.id}/migrate",
        {"recipes": [str(w["sync"].id)], "map_from": [str(w["crm"]["dev"].id)], "map_to": [""]},
    )
    assert refused.status_code == 400 and "map a TEST connection to CRM DEV first" in refused.content.decode()
    done = page.post(
        f"/w/{ws.slug}/projects/{dev.id}/migrate",
        {
            "recipes": [str(w["sync"].id)],
            "map_from": [str(w["crm"]["dev"].id)],
            "map_to": [str(w["crm"]["test"].id)],
            "lookup_rows": "on",
            "note": "reviewed",
        },
    )
    assert done.status_code == 302 and done["Location"] == f"/w/{ws.slug}/projects/{w['copies']['test'].id}"
    made = Promotion.objects.get()
    assert (made.note, made.details["rows"], made.requested_by) == ("reviewed", True, w["people"]["admin"])
    listed = page.get(f"/w/{ws.slug}/projects/{dev.id}/migrate").content.decode()
    assert "Sync v1" in listed
    # From TEST the link leads on to PROD; PROD has none.
    test_page = page.get(f"/w/{ws.slug}/projects/{w['copies']['test'].id}").content.decode()
    assert f'/w/{ws.slug}/projects/{w["copies"]["test"].id}/migrate" id="migrate"' in test_page
    prod_page = page.get(f"/w/{ws.slug}/projects/{w['copies']['prod'].id}").content.decode()
    assert 'id="migrate"' not in prod_page


def test_the_api_and_the_command_line_promote_and_list(w: dict[str, Any]) -> None:
    ws, dev = w["ws"], w["copies"]["dev"]
    api = https_client(**bearer(w["people"]["admin"]))
    base = f"/api/v1/workspaces/{ws.id}/projects/{dev.id}/promotions"
    made = api.post(
        base,
        json.dumps(
            {
                "recipes": [str(w["sync"].id)],
                "connections": {str(w["crm"]["dev"].id): str(w["crm"]["test"].id)},
                "workspace_id": "ignored?",
            }
        ),
        content_type="application/json",
    )
    assert made.status_code == 422  # strict input: an unknown field is refused, nothing promoted
    assert not Promotion.objects.exists()
    made = api.post(
        base,
        json.dumps(
            {
                "recipes": [str(w["sync"].id)],
                "connections": {str(w["crm"]["dev"].id): str(w["crm"]["test"].id)},
            }
        ),
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["source_environment"], body["target_environment"]) == ("dev", "test")
    assert [r["name"] for r in body["details"]["recipes"]] == ["Sync"]
    assert [p["id"] for p in api.get(base).json()] == [body["id"]]
    out = io.StringIO()
    test_copy = Recipe.objects.get(project=w["copies"]["test"])
    call_command(
        "promote",
        "run",
        "--workspace",
        ws.slug,
        "--project",
        str(w["copies"]["test"].id),
        "--recipe",
        str(test_copy.id),
        "--map",
        f"{w['crm']['test'].id}={w['crm']['prod'].id}",
        stdout=out,
    )
    assert "Promoted to PROD: Sync v1" in out.getvalue()
    listed = io.StringIO()
    call_command("promote", "list", "--workspace", ws.slug, "--project", str(dev.id), stdout=listed)
    assert len(listed.getvalue().splitlines()) == 2
    # The mapping made for TEST is kept: promoting again needs no --map; a malformed one is refused.
    again = io.StringIO()
    args = ["promote", "run", "--workspace", ws.slug, "--project", str(dev.id), "--recipe", str(w["sync"].id)]
    call_command(*args, stdout=again)
    assert "Promoted to TEST: Sync v2" in again.getvalue()
    with pytest.raises(CommandError, match="is not SOURCE_ID=TARGET_ID"):
        call_command(*args, "--map", "nonsense", stdout=io.StringIO())
    assert Promotion.objects.count() == 3


def test_view_changes_shows_recipes_step_by_step_tables_and_mappings(w: dict[str, Any]) -> None:
    ws, dev = w["ws"], w["copies"]["dev"]
    admin = w["people"]["admin"]
    before = promotion.environment_changes(actor=admin, source=dev)
    assert [(r.name, r.kind) for r in before.recipes] == [("Plain", "added"), ("Sync", "added")]
    assert [(t.name, t.kind) for t in before.tables] == [("Rates", "added")]
    _promote(w, "admin")
    # The promoted recipe is unchanged: its connection reads as the one mapped for TEST.
    same = promotion.environment_changes(actor=admin, source=dev)
    assert [(r.name, r.kind) for r in same.recipes] == [("Plain", "added"), ("Sync", "unchanged")]
    assert same.bindings == [("CRM DEV", "CRM TEST")]
    changed = json.loads(json.dumps(w["sync"].current_version.definition))
    changed["steps"][0]["key"] = "USD"
    changed["steps"].append({"id": "note", "type": "map", "fields": {"a": "1"}})
    services.recipe_save(actor=admin, recipe=w["sync"], definition=changed)
    answer = https_client(**bearer(admin)).get(f"/api/v1/workspaces/{ws.id}/projects/{dev.id}/changes")
    assert answer.status_code == 200
    sync = next(r for r in answer.json()["recipes"] if r["name"] == "Sync")
    assert (sync["kind"], sync["source_version"], sync["target_version"]) == ("changed", 2, 1)
    steps = {s["id"]: s for s in sync["diff"]["steps"]}
    assert steps["note"]["kind"] == "added"
    assert steps["rate"]["changes"] == [{"field": "key", "old": "EUR", "new": "USD"}]
    html = sign_in(https_client(), admin).get(f"/w/{ws.slug}/projects/{dev.id}/changes").content.decode()
    assert 'data-recipe="Sync" data-kind="changed"' in html and 'data-step="note"' in html
    assert "CRM DEV → CRM TEST" in html
    with pytest.raises(Forbidden, match="environment:promote"):
        promotion.environment_changes(actor=w["people"]["analyst"], source=dev)


def test_view_changes_shows_schedules_per_environment_and_every_connection_binding(w: dict[str, Any]) -> None:
    ws, dev, test = w["ws"], w["copies"]["dev"], w["copies"]["test"]
    admin = w["people"]["admin"]
    # Sync uses CRM DEV, which nothing maps into TEST yet: shown, and shown as what refuses a promotion.
    unmapped = promotion.environment_changes(actor=admin, source=dev)
    assert unmapped.bindings == [("CRM DEV", None)] and unmapped.schedules == []
    html = sign_in(https_client(), admin).get(f"/w/{ws.slug}/projects/{dev.id}/changes").content.decode()
    assert '<li data-connection="CRM DEV" class="unmapped">' in html and "none mapped" in html
    every_five = {
        "trigger": {"type": "schedule", "cron": "*/5 * * * *", "timezone": "Europe/Paris"},
        "steps": [{"id": "m", "type": "map", "fields": {"a": "1"}}],
    }
    services.recipe_save(actor=admin, recipe=w["plain"], definition=every_five)
    added = promotion.environment_changes(actor=admin, source=dev)
    [schedule] = added.schedules
    assert (schedule.name, schedule.kind, schedule.source, schedule.target) == (
        "Plain",
        "added",
        "*/5 * * * * (Europe/Paris)",
        None,
    )
    _promote(w, "admin", recipes=[w["plain"].id, w["sync"].id])
    copy = Recipe.objects.get(project=test, family=w["plain"].family)
    triggers.recipe_start(actor=SYSTEM, recipe=copy)  # no person starts a recipe in TEST
    hourly = {**every_five, "trigger": {"type": "schedule", "cron": "0 * * * *", "timezone": "UTC"}}
    services.recipe_save(actor=admin, recipe=w["plain"], definition=hourly)
    answer = https_client(**bearer(admin)).get(f"/api/v1/workspaces/{ws.id}/projects/{dev.id}/changes")
    assert answer.status_code == 200
    assert answer.json()["schedules"] == [
        {
            "name": "Plain",
            "kind": "changed",
            "source": "0 * * * * (UTC)",
            "target": "*/5 * * * * (Europe/Paris)",
            "source_started": False,
            "target_started": True,
        }
    ]
    assert answer.json()["connections"] == [{"source": "CRM DEV", "target": "CRM TEST"}]
    html = sign_in(https_client(), admin).get(f"/w/{ws.slug}/projects/{dev.id}/changes").content.decode()
    assert '<tr data-recipe="Plain" data-kind="changed"><td>Plain</td><td>changed</td>' in html
    assert "<code>*/5 * * * * (Europe/Paris)</code> started" in html and "CRM DEV → CRM TEST" in html
    # From TEST, PROD holds neither: the schedule is added there, the connection not yet mapped.
    onward = promotion.environment_changes(actor=admin, source=test)
    assert [(c.name, c.kind, c.target) for c in onward.schedules] == [("Plain", "added", None)]
    assert onward.bindings == [("CRM TEST", None)]
