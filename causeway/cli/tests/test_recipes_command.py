"""`causeway recipes` and `causeway lookup`: the operator's command line, audited as the system."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from causeway.audit.models import ActorType, AuditEvent
from causeway.cli.management.commands.workspaces import cli_actor
from causeway.recipes import services
from causeway.recipes.models import LookupRow, Recipe
from causeway.recipes.secrets import secret_write, secrets_visible
from causeway.recipes.tests.personas import HTTP_STEP, acme_people, definition

pytestmark = pytest.mark.django_db


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def people() -> dict[str, Any]:
    return acme_people()


def test_list_show_create_start_stop(people: dict[str, Any], tmp_path: Path) -> None:
    recipe, project = people["recipe"], people["project"]
    listing = run("recipes", "list", "--workspace", "acme")
    assert listing == f"{recipe.id}\tSync\tSales (dev)\tv1\tmanual\tstopped\n"
    shown = run("recipes", "show", "--workspace", "acme", str(recipe.id))
    assert shown.startswith("Sync\tSales\tstopped\nversion 1: created\n")
    assert json.loads(shown.split("\n", 2)[2])["steps"][0]["id"] == "fetch"
    source = tmp_path / "definition.json"
    source.write_text(json.dumps(definition(HTTP_STEP)))
    created = run(
        "recipes",
        "create",
        "--workspace",
        "acme",
        "--project",
        str(project.id),
        "--name",
        "Nightly",
        "--definition-file",
        str(source),
    )
    nightly = Recipe.objects.get(name="Nightly")
    assert created == f"Created recipe Nightly, id {nightly.id}.\n"
    assert run("recipes", "start", "--workspace", "acme", str(nightly.id)) == "Started Nightly (version 1).\n"
    assert Recipe.objects.get(pk=nightly.pk).active
    assert run("recipes", "stop", "--workspace", "acme", str(nightly.id)) == "Stopped Nightly.\n"
    events = AuditEvent.objects.filter(action__in=["recipe.created", "recipe.started", "recipe.stopped"])
    system = [e for e in events if e.target_label == "Nightly"]
    assert len(system) == 3 and all(e.actor_type == ActorType.SYSTEM for e in system)


def test_export_then_import_as_recipe_and_as_version(people: dict[str, Any], tmp_path: Path) -> None:
    recipe, project = people["recipe"], people["project"]
    target = tmp_path / "sync.json"
    assert run("recipes", "export", "--workspace", "acme", str(recipe.id), "--output", str(target)) == (
        f"Exported Sync to {target}.\n"
    )
    exported = json.loads(target.read_text())
    assert exported["definition"] == recipe.current_version.definition
    assert str(recipe.id) not in target.read_text()
    assert json.loads(run("recipes", "export", "--workspace", "acme", str(recipe.id))) == exported
    output = run(
        "recipes",
        "import",
        "--workspace",
        "acme",
        str(target),
        "--project",
        str(project.id),
        "--name",
        "Copy",
    )
    copy = Recipe.objects.get(name="Copy")
    assert output == f"Imported recipe Copy, id {copy.id}.\n"
    assert run("recipes", "import", "--workspace", "acme", str(target), "--recipe", str(copy.id)) == (
        "Imported as version 2 of Copy.\n"
    )


def test_refusals_are_one_line_naming_the_field(people: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "causeway.recipe/1", "definition": {"trigger": {"type": "cron"}}}))
    cases = [
        (("recipes", "list", "--workspace", "nowhere"), r"^workspace: no workspace 'nowhere'$"),
        (
            ("recipes", "show", "--workspace", "acme", str(people["other_recipe"].id)),
            r"^recipe: no such recipe",
        ),
        (
            ("recipes", "import", "--workspace", "acme", str(bad), "--recipe", str(people["recipe"].id)),
            r"^trigger.type: must be one of",
        ),
        (
            ("recipes", "import", "--workspace", "acme", str(tmp_path / "none.json"), "--recipe", "x"),
            r"^file: cannot read",
        ),
        (
            ("lookup", "put", "--workspace", "acme", str(people["table"].id), "A", "price"),
            r"^value: write each",
        ),
    ]
    for args, message in cases:
        with pytest.raises(CommandError, match=message):
            run(*args)


def test_lookup_tables_and_rows(people: dict[str, Any]) -> None:
    project = people["project"]
    created = run(
        "lookup",
        "create",
        "--workspace",
        "acme",
        "--project",
        str(project.id),
        "--name",
        "Regions",
        "--column",
        "code:text",
        "--column",
        "size:integer",
        "--key",
        "code",
    )
    assert created.startswith("Created lookup table Regions, id ")
    tables = run("lookup", "tables", "--workspace", "acme")
    assert "\tRegions\tSales\tkey code\tcode:text, size:integer\n" in tables
    table = people["table"]
    assert run("lookup", "put", "--workspace", "acme", str(table.id), "SKU-1", "price=2.5") == (
        '{"price": 2.5, "sku": "SKU-1"}\n'
    )
    with pytest.raises(CommandError, match=r"^price: price must be a number$"):
        run("lookup", "put", "--workspace", "acme", str(table.id), "SKU-2", "price=lots")
    assert run("lookup", "rows", "--workspace", "acme", str(table.id)) == '{"price": 2.5, "sku": "SKU-1"}\n'
    assert (
        run("lookup", "delete", "--workspace", "acme", str(table.id), "SKU-1")
        == "Deleted row SKU-1 from Prices.\n"
    )
    assert not LookupRow.objects.exists()
    events = AuditEvent.objects.filter(action__startswith="lookup_row.").order_by("seq")
    assert [e.action for e in events] == ["lookup_row.created", "lookup_row.deleted"]
    assert all(e.actor_type == ActorType.SYSTEM for e in events)


def test_secrets_list_shows_the_recipes_that_use_each_secret(people: dict[str, Any]) -> None:
    secret_write(actor=people["admin"], workspace=people["acme"], name="CRM_TOKEN", value="crm-cli-canary-3")
    step = dict(HTTP_STEP, headers={"Authorization": "Bearer {{ secret.CRM_TOKEN }}"})
    services.recipe_save(actor=people["analyst"], recipe=people["recipe"], definition=definition(step))
    rows = secrets_visible(cli_actor(), people["acme"])
    assert [(r.name, r.referenced_by) for r in rows] == [("CRM_TOKEN", ("Sync",))]
    assert run("secrets", "list", "--workspace", "acme").startswith("CRM_TOKEN\t")
