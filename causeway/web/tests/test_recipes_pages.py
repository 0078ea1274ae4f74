"""Recipe pages: projects and folders, the Build editor, versions and diffs, export and import, lookup
tables, bookmarks; what an Operator and an outsider are refused."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from causeway.accounts.actors import SystemActor
from causeway.audit.models import AuditEvent
from causeway.recipes import services
from causeway.recipes.models import Bookmark, Folder, LookupRow, LookupTable, Project, Recipe, RecipeVersion
from causeway.recipes.schema import STEPS, TRIGGERS
from causeway.recipes.secrets import secret_write
from causeway.recipes.tests.personas import HTTP_STEP, acme_people, definition
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from causeway.workspaces.tests.helpers import AuditWatch, fast_hashing, sign_in  # noqa: F401
from testkit.support import STRONG_PASSWORD, field_errors, https_client, make_user, make_workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(request: pytest.FixtureRequest) -> dict[str, Any]:
    request.getfixturevalue("fast_hashing")
    return acme_people()


def as_user(user: Any) -> Any:
    return sign_in(https_client(), user)


def build_form(html: str) -> dict[str, str]:
    """The Build form's fields as a browser would post them (checked boxes only, selected options)."""
    form = html[html.index('id="build-form"') : html.index("</form>", html.index('id="build-form"'))]
    data: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or 'type="submit"' in tag:
            continue
        if 'type="checkbox"' in tag and " checked" not in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        data[name.group(1)] = _unescape(value.group(1)) if value else ""
    for name, body in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        data[name] = _unescape(body)
    for name, options in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options) or re.search(
            r'<option value="([^"]*)"', options
        )
        data[name] = chosen.group(1) if chosen else ""
    return data


def _unescape(text: str) -> str:
    return html.unescape(text)


def build_url(recipe: Any) -> str:
    return f"/w/acme/recipes/{recipe.id}/build"


def test_the_build_page_edits_nested_steps_and_saves_a_new_version(people: dict[str, Any]) -> None:
    client, recipe = as_user(people["analyst"]), people["recipe"]
    page = client.get(build_url(recipe)).content.decode()
    assert 'name="steps[0].url" id="f-steps-0-url" value="https://api.example.com/items"' in page
    assert "total: {{ steps.fetch.total }}" in page

    data = build_form(page) | {"op": "add:steps", "newtype:steps": "condition"}
    page = client.post(build_url(recipe), data).content.decode()
    assert 'value="condition_1"' in page and 'data-list="steps[2].then"' in page
    data = build_form(page) | {"op": "add:steps[2].then", "newtype:steps[2].then": "stop"}
    page = client.post(build_url(recipe), data).content.decode()
    data = build_form(page) | {"op": "down:steps[0]"}
    page = client.post(build_url(recipe), data).content.decode()
    data = build_form(page) | {
        "op": "save",
        "steps[2].if": "steps.fetch.total > 0",
        "steps[2].then[0].message": "nothing to do",
        "steps[1].headers": "Accept: application/json",
        "message": "check totals",
    }
    assert RecipeVersion.objects.filter(recipe=recipe).count() == 1
    response = client.post(build_url(recipe), data)
    assert (response.status_code, response["Location"]) == (302, build_url(recipe))
    version = Recipe.objects.get(pk=recipe.pk).current_version
    assert (version.number, version.message) == (2, "check totals")
    steps = version.definition["steps"]
    assert [s["id"] for s in steps] == ["shape", "fetch", "condition_1"]
    assert steps[1]["headers"] == {"Accept": "application/json"}
    assert steps[2]["then"] == [{"id": "stop_1", "type": "stop", "message": "nothing to do"}]
    assert steps[2]["if"] == "steps.fetch.total > 0" and steps[2]["else"] == []
    assert "Saved version 2." in client.get(build_url(recipe)).content.decode()


def test_removing_a_step_and_changing_a_type_only_redraw_the_form(people: dict[str, Any]) -> None:
    client, recipe = as_user(people["analyst"]), people["recipe"]
    page = client.get(build_url(recipe)).content.decode()
    page = client.post(build_url(recipe), build_form(page) | {"op": "remove:steps[0]"}).content.decode()
    assert 'data-step="steps[1]"' not in page and 'value="shape"' in page
    data = build_form(page) | {"op": "refresh", "steps[0].type": "lookup_read"}
    page = client.post(build_url(recipe), data).content.decode()
    assert 'name="steps[0].table"' in page and 'name="steps[0].fields"' not in page
    assert RecipeVersion.objects.filter(recipe=recipe).count() == 1


def test_errors_are_shown_under_the_field_they_are_about(people: dict[str, Any]) -> None:
    client, recipe = as_user(people["analyst"]), people["recipe"]
    page = client.get(build_url(recipe)).content.decode()
    page = client.post(
        build_url(recipe), build_form(page) | {"op": "add:steps", "newtype:steps": "http"}
    ).content
    data = build_form(page.decode()) | {
        "op": "save",
        "steps[2].url": "",
        "steps[0].headers": "no colon here",
        "steps[1].id": "Shape!",
        "trigger.type": "schedule",
        "trigger.cron": "every day",
    }
    response = client.post(build_url(recipe), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="not-saved"' in html
    # The schedule fields were not on the posted form; a type change shows them with the error under cron.
    for field, message in (
        ("steps[2].url", "this field is required"),
        ("steps[0].headers", "line 1: write each entry as name: template"),
    ):
        found = re.search(
            rf'name="{re.escape(field)}"[^>]*aria-invalid="true"[^>]*>.*?</div>\s*<p class="error" '
            rf'role="alert" data-field="{re.escape(field)}">{re.escape(message)}</p>',
            html,
            re.S,
        )
        assert found, field
    assert RecipeVersion.objects.filter(recipe=recipe).count() == 1
    data = build_form(html) | {"op": "save", "steps[0].headers": "", "trigger.cron": "every day"}
    html = client.post(build_url(recipe), data).content.decode()
    assert 'data-field="steps[1].id">an id is a lower-case letter' in html
    assert 'data-field="trigger.cron">not a valid cron expression' in html


def test_a_json_body_that_does_not_parse_is_named(people: dict[str, Any]) -> None:
    client, recipe = as_user(people["analyst"]), people["recipe"]
    data = build_form(client.get(build_url(recipe)).content.decode()) | {
        "op": "save",
        "steps[0].body_type": "json",
        "steps[0].body": '{"a": ',
    }
    html = client.post(build_url(recipe), data).content.decode()
    assert 'data-field="steps[0].body">not valid JSON' in html
    data["steps[0].body"] = '{"a": "{{ trigger.a }}"}'
    assert client.post(build_url(recipe), data).status_code == 302
    assert Recipe.objects.get(pk=recipe.pk).current_version.definition["steps"][0]["body"] == {
        "a": "{{ trigger.a }}"
    }


def test_versions_and_the_diff_page(people: dict[str, Any]) -> None:
    recipe, analyst = people["recipe"], people["analyst"]
    changed = dict(HTTP_STEP, url="https://api.example.com/v2/items")
    services.recipe_save(
        actor=analyst,
        recipe=recipe,
        definition=definition({"id": "first", "type": "stop", "message": "x"}, changed),
    )
    client = as_user(people["operator"])
    versions = client.get(f"/w/acme/recipes/{recipe.id}/versions").content.decode()
    assert 'data-version="2"' in versions and 'data-version="1"' in versions
    html = client.get(f"/w/acme/recipes/{recipe.id}/diff?from=1&to=2").content.decode()
    assert "Version 1 → version 2" in html
    assert re.search(r'class="added" data-step="first"', html)
    assert re.search(r'class="removed" data-step="shape"', html)
    assert "<del>https://api.example.com/items</del> → <ins>https://api.example.com/v2/items</ins>" in html
    # A version the recipe does not have is not found; one that is no version number at all is a 400.
    assert client.get(f"/w/acme/recipes/{recipe.id}/diff?from=1&to=9").status_code == 404
    assert client.get(f"/w/acme/recipes/{recipe.id}/diff?from=1&to=abc").status_code == 400
    assert client.get(f"/w/acme/recipes/{recipe.id}/export?version=abc").status_code == 400
    assert client.get(f"/w/acme/recipes/{recipe.id}/export?version=999").status_code == 404


def test_export_downloads_the_definition_and_import_makes_a_recipe_or_a_version(
    people: dict[str, Any],
) -> None:
    client, recipe, project = as_user(people["analyst"]), people["recipe"], people["project"]
    response = client.get(f"/w/acme/recipes/{recipe.id}/export")
    assert response["Content-Disposition"] == 'attachment; filename="sync-v1.json"'
    exported = json.loads(response.content)
    assert exported["definition"] == recipe.current_version.definition
    assert str(recipe.id) not in response.content.decode()

    upload = SimpleUploadedFile("sync.json", response.content, content_type="application/json")
    created = client.post(f"/w/acme/projects/{project.id}/import", {"file": upload, "name": "Sync again"})
    copy = Recipe.objects.get(name="Sync again")
    assert created["Location"] == f"/w/acme/recipes/{copy.id}"
    upload = SimpleUploadedFile("sync.json", response.content, content_type="application/json")
    assert client.post(f"/w/acme/recipes/{copy.id}/import", {"file": upload}).status_code == 302
    assert copy.versions.count() == 2
    bad = SimpleUploadedFile("bad.json", b"not json", content_type="application/json")
    refused = client.post(f"/w/acme/recipes/{copy.id}/import", {"file": bad})
    assert refused.status_code == 400
    assert field_errors(refused.content.decode(), "file") == ["the file is not JSON"]


def test_projects_folders_and_recipes_through_the_pages(people: dict[str, Any]) -> None:
    client = as_user(people["analyst"])
    response = client.post("/w/acme/projects", {"name": "Billing", "environment": "dev"})
    project = Project.objects.get(name="Billing", environment="dev")
    assert response["Location"] == f"/w/acme/projects/{project.id}"
    assert client.post("/w/acme/projects", {"name": "Billing", "environment": "dev"}).status_code == 400
    client.post(f"/w/acme/projects/{project.id}/folders", {"name": "Invoices"})
    folder = Folder.objects.get(name="Invoices")
    client.post(f"/w/acme/projects/{project.id}/folders", {"name": "Late", "parent": str(folder.id)})
    created = client.post(
        f"/w/acme/projects/{project.id}/recipes", {"name": "Dunning", "folder": str(folder.id)}
    )
    recipe = Recipe.objects.get(name="Dunning")
    assert created["Location"] == f"/w/acme/recipes/{recipe.id}/build"
    html = client.get(f"/w/acme/projects/{project.id}").content.decode()
    assert 'data-folder="Late"' in html and "indent-2" in html and "Dunning" in html
    refused = client.post(f"/w/acme/folders/{folder.id}/delete")
    assert refused.status_code == 400
    assert "the folder is not empty (1 folders, 1 recipes)" in refused.content.decode()
    refused = client.post(f"/w/acme/projects/{project.id}/delete")
    assert "the project is not empty (1 recipes, 2 folders)" in refused.content.decode()
    client.post(f"/w/acme/recipes/{recipe.id}/move", {"folder": ""})
    client.post(f"/w/acme/recipes/{recipe.id}/rename", {"name": "Dunning letters"})
    assert Recipe.objects.get(pk=recipe.pk).folder is None
    assert client.post(f"/w/acme/recipes/{recipe.id}/delete")["Location"] == f"/w/acme/projects/{project.id}"
    for f in Folder.objects.filter(name="Late"):
        client.post(f"/w/acme/folders/{f.id}/delete")
    client.post(f"/w/acme/folders/{folder.id}/delete")
    assert client.post(f"/w/acme/projects/{project.id}/delete")["Location"] == "/w/acme/recipes"
    assert not Project.objects.filter(name="Billing").exists()
    # Nobody creates in PROD by default (rule 5): the operator's command line stands in for promotion.
    services.project_create(
        actor=SystemActor(label="cli (test)"),
        workspace=people["acme"],
        name="Live",
        environment="prod",
    )
    prod = client.get("/w/acme/recipes?environment=prod").content.decode()
    # Each project is listed by its PROD copy, Sales (made in DEV) included.
    sales = {p.environment: p for p in Project.objects.filter(workspace=people["acme"], name="Sales")}
    assert 'data-project="Live"' in prod and f'/w/acme/projects/{sales["prod"].id}"' in prod
    assert f'/w/acme/projects/{sales["dev"].id}"' not in prod
    found = client.get("/w/acme/recipes?q=syn").content.decode()
    assert f'href="/w/acme/recipes/{people["recipe"].id}">Sync</a>' in found


def test_lookup_rows_on_the_page(people: dict[str, Any]) -> None:
    client, table = as_user(people["analyst"]), people["table"]
    url = f"/w/acme/lookup-tables/{table.id}"
    assert client.post(f"{url}/rows", {"col:sku": "A-1", "col:price": "4.5"}).status_code == 302
    assert client.post(f"{url}/rows", {"col:sku": "A-1", "col:price": "5"}).status_code == 302
    refused = client.post(f"{url}/rows", {"col:sku": "A-2", "col:price": "cheap"})
    assert refused.status_code == 400
    assert field_errors(refused.content.decode(), "col:price") == ["price must be a number"]
    html = client.get(url).content.decode()
    assert re.search(r'<tr data-key="A-1"><td>A-1</td><td>5.0</td>', html)
    editing = client.get(f"{url}?edit=A-1").content.decode()
    assert 'name="col:price" id="id_col_2" value="5.0"' in editing and "Change the row" in editing
    assert client.post(f"{url}/rows/delete", {"key": "A-1"}).status_code == 302
    assert not LookupRow.objects.exists()
    created = client.post(
        f"/w/acme/projects/{people['project'].id}/lookup-tables",
        {
            "name": "Regions",
            "column_name": ["code", "name", ""],
            "column_type": ["text", "text", "text"],
            "key_column": "code",
        },
    )
    regions = LookupTable.objects.get(name="Regions")
    assert created["Location"] == f"/w/acme/lookup-tables/{regions.id}"
    assert regions.columns == [{"name": "code", "type": "text"}, {"name": "name", "type": "text"}]


def test_bookmarks_are_pinned_listed_and_unpinned(people: dict[str, Any]) -> None:
    client, recipe = as_user(people["operator"]), people["recipe"]
    assert client.post(f"/w/acme/recipes/{recipe.id}/bookmark", {"pin": "1"}).status_code == 302
    assert 'data-recipe="Sync"' in client.get("/w/acme/bookmarks").content.decode()
    assert "Remove bookmark" in client.get(f"/w/acme/recipes/{recipe.id}").content.decode()
    client.post(f"/w/acme/recipes/{recipe.id}/bookmark", {"pin": "0"})
    assert "No bookmarks yet" in client.get("/w/acme/bookmarks").content.decode()
    assert not Bookmark.objects.exists()


def test_the_vault_page_lists_the_recipes_that_use_a_secret(people: dict[str, Any]) -> None:
    secret_write(actor=people["admin"], workspace=people["acme"], name="CRM_TOKEN", value="crm-page-canary-9")
    step = dict(HTTP_STEP, headers={"Authorization": "Bearer {{ secret.CRM_TOKEN }}"})
    services.recipe_save(actor=people["analyst"], recipe=people["recipe"], definition=definition(step))
    html = as_user(people["operator"]).get("/w/acme/vault").content.decode()
    row = re.search(r'<tr data-secret="CRM_TOKEN">(.*?)</tr>', html, re.S)
    assert row and '<td class="recipes">Sync</td>' in row.group(1)


@pytest.fixture
def folder(people: dict[str, Any]) -> Folder:
    return services.folder_create(
        actor=people["admin"], workspace=people["acme"], project=people["project"], name="Shared"
    )


def write_requests(people: dict[str, Any], folder: Folder) -> list[tuple[str, dict[str, Any]]]:
    project, recipe = people["project"], people["recipe"]
    export = json.dumps(services.recipe_export(actor=people["admin"], recipe=recipe)).encode()
    return [
        ("/w/acme/projects", {"name": "Mine", "environment": "dev"}),
        (f"/w/acme/projects/{project.id}/rename", {"name": "Mine"}),
        (f"/w/acme/projects/{project.id}/delete", {}),
        (f"/w/acme/projects/{project.id}/folders", {"name": "Mine"}),
        (f"/w/acme/projects/{project.id}/recipes", {"name": "Mine"}),
        (f"/w/acme/projects/{project.id}/import", {"file": SimpleUploadedFile("e.json", export)}),
        (
            f"/w/acme/projects/{project.id}/lookup-tables",
            {"name": "Mine", "column_name": "a", "key_column": "a"},
        ),
        (f"/w/acme/folders/{folder.id}/rename", {"name": "Mine"}),
        (f"/w/acme/folders/{folder.id}/delete", {}),
        (f"/w/acme/recipes/{recipe.id}/build", {"op": "save", "trigger.type": "manual"}),
        (f"/w/acme/recipes/{recipe.id}/rename", {"name": "Mine"}),
        (f"/w/acme/recipes/{recipe.id}/move", {"folder": str(folder.id)}),
        (f"/w/acme/recipes/{recipe.id}/delete", {}),
        (f"/w/acme/recipes/{recipe.id}/import", {"file": SimpleUploadedFile("e.json", export)}),
    ]


def snapshot(people: dict[str, Any]) -> tuple[Any, ...]:
    recipe = Recipe.objects.get(pk=people["recipe"].pk)
    return (
        sorted(Project.objects.values_list("name", flat=True)),
        sorted(Folder.objects.values_list("name", "parent_id")),
        sorted(Recipe.objects.values_list("name", "folder_id", "active")),
        RecipeVersion.objects.count(),
        sorted(LookupTable.objects.values_list("name", flat=True)),
        LookupRow.objects.count(),
        recipe.current_version_id,
    )


def test_rule_04_operator_gets_403_on_every_write_and_nothing_changes(
    people: dict[str, Any], folder: Folder
) -> None:
    client = as_user(people["operator"])
    before = snapshot(people)
    watch = AuditWatch()
    for path, data in write_requests(people, folder):
        response = client.post(path, data)
        assert response.status_code == 403, path
        assert "<code>" in response.content.decode()
    assert snapshot(people) == before
    assert {e.action for e in watch.new()} == {"access.denied"}
    # Lookup tables are not in what rule 4 lets an Operator read: their pages and forms are not found.
    table = people["table"]
    for path, data in (
        (f"/w/acme/lookup-tables/{table.id}/rows", {"col:sku": "X", "col:price": "1"}),
        (f"/w/acme/lookup-tables/{table.id}/rows/delete", {"key": "X"}),
        (f"/w/acme/lookup-tables/{table.id}/delete", {}),
    ):
        assert client.post(path, data).status_code == 404
    assert snapshot(people) == before


def test_rule_04_operator_starts_and_stops_in_dev_but_not_in_prod(people: dict[str, Any]) -> None:
    client, recipe = as_user(people["operator"]), people["recipe"]
    page = client.get(f"/w/acme/recipes/{recipe.id}").content.decode()
    assert 'id="start"' in page and "/build" not in page and 'id="rename-form"' not in page
    assert client.post(f"/w/acme/recipes/{recipe.id}/start").status_code == 302
    assert Recipe.objects.get(pk=recipe.pk).active
    assert client.post(f"/w/acme/recipes/{recipe.id}/stop").status_code == 302
    assert not Recipe.objects.get(pk=recipe.pk).active
    # Nobody writes in PROD by default (rule 5): the operator's command line puts the project and the
    # recipe there.
    prod = services.project_create(
        actor=SystemActor(label="cli (test)"),
        workspace=people["acme"],
        name="Live",
        environment="prod",
    )
    live = services.recipe_create(
        actor=SystemActor(label="cli (test)"),
        workspace=people["acme"],
        project=prod,
        name="Live",
        definition=definition(),
    )
    response = client.post(f"/w/acme/recipes/{live.id}/start")
    assert response.status_code == 403 and "<code>recipe:test</code>" in response.content.decode()
    assert not Recipe.objects.get(pk=live.pk).active


def test_rule_09_another_workspaces_ids_are_not_found(people: dict[str, Any], folder: Folder) -> None:
    client = as_user(people["outsider"])
    before = snapshot(people)
    recipe, project, table = people["recipe"], people["project"], people["table"]
    reads = [
        f"/w/other/recipes/{recipe.id}",
        f"/w/other/recipes/{recipe.id}/build",
        f"/w/other/recipes/{recipe.id}/versions",
        f"/w/other/recipes/{recipe.id}/diff?from=1&to=1",
        f"/w/other/recipes/{recipe.id}/export",
        f"/w/other/projects/{project.id}",
        f"/w/other/lookup-tables/{table.id}",
        f"/w/acme/recipes/{recipe.id}",
        "/w/acme/recipes",
    ]
    for path in reads:
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Sync" not in response.content.decode()
    for path, data in write_requests(people, folder):
        for slug in ("other", "acme"):
            if path == "/w/acme/projects" and slug == "other":
                continue
            assert client.post(path.replace("/w/acme/", f"/w/{slug}/"), data).status_code == 404, (slug, path)
    assert client.post(f"/w/other/recipes/{recipe.id}/start").status_code == 404
    assert client.post(f"/w/other/recipes/{recipe.id}/bookmark").status_code == 404
    assert snapshot(people) == before and not Bookmark.objects.exists()
    assert not AuditEvent.objects.filter(action__in=["recipe.started", "recipe.renamed"]).exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_analyst_builds_a_recipe_with_two_steps_and_saves_a_second_version(
    https_server: Any, transactional_db: Any
) -> None:
    from playwright.sync_api import expect

    admin = make_user("grace@example.com", first="Grace", last="Hopper")
    analyst = make_user("alan@example.com", first="Alan", last="Turing")
    acme = make_workspace("Acme", members={admin: "admin", analyst: "analyst"})
    services.project_create(actor=admin, workspace=acme, name="Sales")
    base = https_server.url
    with chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        browser_sign_in(page, base, analyst.email, STRONG_PASSWORD)
        # Sales is in DEV, TEST and PROD: the analyst builds in DEV.
        page.goto(f"{base}/w/acme/recipes?environment=dev")
        page.click("a:has-text('Sales')")
        expect(page.locator("#environments")).to_contain_text("DEV · TEST · PROD")
        page.fill("#id_recipe_name", "Orders to CRM")
        page.click("#recipe-form button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Build Orders to CRM")

        # A step is added at a place on the flow; it opens in the side panel.
        page.select_option("#id_newtype", "http")
        page.click("#flow button[value='insert:steps:0']")
        page.fill("#f-steps-0-url", "https://api.example.com/orders")
        page.fill("#f-steps-0-headers", "Accept: application/json")
        page.select_option("#id_newtype", "map")
        page.click("#flow button[value='insert:steps:1']")
        expect(page.locator("#f-steps-1-id")).to_have_value("map_1")
        page.fill("#f-steps-1-fields", "total: {{ steps.http_1.total }}")
        # Changing the type redraws the step with that type's fields (a small script presses Show fields).
        page.select_option("#f-steps-1-type", "stop")
        expect(page.locator("#f-steps-1-message")).to_be_visible()
        page.select_option("#f-steps-1-type", "map")
        expect(page.locator("#f-steps-1-fields")).to_be_visible()
        page.fill("#f-steps-1-fields", "total: {{ steps.http_1.total }}")
        page.click('li[data-flow-step="steps[0]"] > a')
        page.fill("#f-steps-0-url", "")
        page.click("#save")
        expect(page.locator('p[data-field="steps[0].url"]')).to_have_text("this field is required")
        page.fill("#f-steps-0-url", "https://api.example.com/orders")
        page.fill("#id_message", "two steps")
        page.click("#save")
        expect(page.locator(".messages")).to_contain_text("Saved version 2.")
        expect(page.locator("#f-steps-1-fields")).to_have_value("total: {{ steps.http_1.total }}")
        page.click("a:has-text('← Orders to CRM')")
        page.click("a:has-text('Versions')")
        page.click("#compare-form button[type=submit]")
        expect(page.locator("#step-changes")).to_contain_text("added http_1")
    recipe = Recipe.objects.get(name="Orders to CRM")
    assert recipe.current_version.number == 2
    steps = recipe.current_version.definition["steps"]
    assert [(s["id"], s["type"]) for s in steps] == [("http_1", "http"), ("map_1", "map")]
    assert steps[0]["headers"] == {"Accept": "application/json"}
    assert steps[1]["fields"] == {"total": "{{ steps.http_1.total }}"}


def test_a_secret_value_pasted_into_a_template_comes_back_masked(people: dict[str, Any]) -> None:
    from causeway.vault.masking import registry

    registry.clear()
    value = "crm-pasted-canary-77"
    secret_write(actor=people["admin"], workspace=people["acme"], name="CRM_TOKEN", value=value)
    step = dict(HTTP_STEP, headers={"Authorization": f"Bearer {value}"})
    services.recipe_save(actor=people["analyst"], recipe=people["recipe"], definition=definition(step))
    client = as_user(people["analyst"])
    for path in (
        f"/w/acme/recipes/{people['recipe'].id}/build",
        f"/w/acme/recipes/{people['recipe'].id}/diff",
    ):
        html = client.get(path).content.decode()
        assert value not in html and "[masked:CRM_TOKEN]" in html
    registry.clear()


def test_every_step_and_trigger_type_is_on_the_build_page_with_its_models_labels(
    people: dict[str, Any],
) -> None:
    client, recipe = as_user(people["analyst"]), people["recipe"]
    page = client.get(build_url(recipe)).content.decode()
    for kind, label in STEPS.labels():
        assert f'<option value="{kind}">{html.escape(label)}</option>' in page, kind
    for kind, label in TRIGGERS.labels():
        assert re.search(
            rf'<option value="{kind}"( selected)?>{re.escape(html.escape(label))}</option>', page
        )
    # One step of each type: its header says the type's label, and each of its fields has its label.
    kinds = list(STEPS.models)
    for kind in kinds:
        data = build_form(page) | {"op": "add:steps", "newtype:steps": kind}
        page = client.post(build_url(recipe), data).content.decode()
    for index, kind in enumerate(kinds, start=2):
        assert f"{index + 1}. {html.escape(STEPS.label(kind))}</strong>" in page, kind
        for spec in STEPS.fields(kind):
            if spec.widget == "steps":
                assert f'data-list="steps[{index}].{spec.key}"' in page, (kind, spec.key)
            else:
                field = f"steps[{index}].{spec.key}"
                dom_id = "f-" + re.sub(r"[^a-z0-9_]+", "-", field.lower()).strip("-")
                assert f'<label for="{dom_id}">{html.escape(spec.label)}</label>' in page, field
    for kind in TRIGGERS.models:
        data = build_form(page) | {"op": "refresh", "trigger.type": kind}
        page = client.post(build_url(recipe), data).content.decode()
        for spec in TRIGGERS.fields(kind):
            assert f'<label for="f-trigger-{spec.key}">{html.escape(spec.label)}</label>' in page, (
                kind,
                spec.key,
            )
