"""The Build page as an editor: a step is added at any place on the flow and moved within its list;
every edit is kept as the editor's own draft (sealed, shown to nobody else) until it is saved as a
version or discarded, and a draft that does not pass every check never becomes a version."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection

from causeway.audit.models import AuditEvent
from causeway.recipes import services
from causeway.recipes.models import RecipeDraft
from causeway.recipes.tests.personas import acme_people
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from causeway.web.tests.test_recipes_pages import build_form
from causeway.workspaces.tests.helpers import fast_hashing, sign_in  # noqa: F401
from testkit.pages import reviewed
from testkit.support import STRONG_PASSWORD, https_client

THREE = {
    "trigger": {"type": "manual"},
    "steps": [
        {"id": "first", "type": "map", "fields": {"a": "1"}},
        {"id": "second", "type": "map", "fields": {"b": "2"}},
        {"id": "third", "type": "map", "fields": {"c": "3"}},
    ],
}


@pytest.fixture
def people(request: pytest.FixtureRequest) -> dict[str, Any]:
    request.getfixturevalue("fast_hashing")
    people = acme_people()
    services.recipe_save(actor=people["analyst"], recipe=people["recipe"], definition=THREE)
    return people


def stored_bytes(table: str, column: str) -> bytes:
    """Every value of a column as the database holds it, read past the model's sealed field."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")  # noqa: S608 - names fixed by the test
        return b"".join(bytes(row[0]) if not isinstance(row[0], str) else row[0].encode() for row in cursor)


def url(people: dict[str, Any]) -> str:
    return f"/w/acme/recipes/{people['recipe'].id}/build"


def step_ids(html: str) -> list[str]:
    return re.findall(r'name="steps\[\d+\]\.id" id="[^"]+" value="([^"]*)"', html)


@pytest.mark.django_db
def test_a_step_is_inserted_between_two_and_opens_selected(people: dict[str, Any]) -> None:
    client = sign_in(https_client(), people["analyst"])
    page = client.get(url(people)).content.decode()
    assert 'aria-label="Add a step between first and second"' in page
    answer = client.post(url(people), build_form(page) | {"op": "insert:steps:1", "newtype": "stop"})
    html = answer.content.decode()
    assert answer.status_code == 200
    assert step_ids(html) == ["first", "stop_1", "second", "third"]
    assert 'data-selected="step-steps-1"' in html


@pytest.mark.django_db
def test_a_step_moves_to_another_place_in_its_list(people: dict[str, Any]) -> None:
    client = sign_in(https_client(), people["analyst"])
    data = build_form(client.get(url(people)).content.decode())
    html = client.post(url(people), data | {"op": "move:steps[2]:0"}).content.decode()
    assert step_ids(html) == ["third", "first", "second"]
    assert 'data-selected="step-steps-0"' in html
    html = client.post(url(people), build_form(html) | {"op": "down:steps[0]"}).content.decode()
    assert step_ids(html) == ["first", "third", "second"]
    # A place outside the list leaves the list as it was.
    html = client.post(url(people), build_form(html) | {"op": "move:steps[0]:9"}).content.decode()
    assert step_ids(html) == ["first", "third", "second"]


@pytest.mark.django_db
def test_edits_are_kept_as_the_editors_own_draft_until_saved(people: dict[str, Any]) -> None:
    analyst, admin, recipe = people["analyst"], people["admin"], people["recipe"]
    recipe.refresh_from_db()
    base = recipe.current_version.number
    client = sign_in(https_client(), analyst)
    data = build_form(client.get(url(people)).content.decode())
    data["steps[0].fields"] = "a: {{ 40 + 2 }}"
    # htmx's own draft save gets back only the draft's note, swapped in place.
    answer = client.post(url(people), data | {"op": "draft"}, headers={"HX-Request": "true"})
    assert answer.status_code == 200 and answer["HX-Reswap"] == "none"
    assert 'id="draft-note"' in answer.content.decode() and "<form" not in answer.content.decode()
    assert AuditEvent.objects.filter(action="recipe.draft_started").count() == 1

    again = client.get(url(people)).content.decode()
    assert "a: {{ 40 + 2 }}" in again and f"from version {base}: not yet a version" in again
    # Nobody else sees it: the Admin opens the current version.
    other = sign_in(https_client(), admin).get(url(people)).content.decode()
    assert "a: {{ 40 + 2 }}" not in other and "No unsaved edits." in other
    # Sealed at rest (rule 10).
    stored = RecipeDraft.objects.filter(recipe=recipe).values_list("draft", flat=True).first()
    assert (
        b"40 + 2" not in bytes(stored)
        if isinstance(stored, bytes | memoryview)
        else "40 + 2" not in str(stored)
    )

    saved = client.post(url(people), build_form(again) | {"op": "save"})
    assert saved.status_code == 302
    recipe.refresh_from_db()
    assert recipe.current_version.number == base + 1
    assert recipe.current_version.definition["steps"][0]["fields"] == {"a": "{{ 40 + 2 }}"}
    assert not RecipeDraft.objects.filter(recipe=recipe).exists()


@pytest.mark.django_db
def test_a_draft_that_does_not_pass_stays_a_draft_with_every_error_shown(people: dict[str, Any]) -> None:
    client, recipe = sign_in(https_client(), people["analyst"]), people["recipe"]
    recipe.refresh_from_db()
    base = recipe.current_version.number
    data = build_form(client.get(url(people)).content.decode())
    data["steps[0].fields"] = "a line without its colon"
    data["steps[2].id"] = "not an id!"
    answer = client.post(url(people), data | {"op": "save"})
    assert answer.status_code == 400
    html = answer.content.decode()
    assert re.findall(r'data-field="([^"]+)"', html) == ["steps[0].fields", "steps[2].id"]
    assert '<a href="#step-steps-0">' in html and '<a href="#step-steps-2">' in html
    recipe.refresh_from_db()
    assert recipe.current_version.number == base
    # What was typed is not lost: it is the draft.
    assert "not an id!" in client.get(url(people)).content.decode()


@pytest.mark.django_db
def test_a_discarded_draft_gives_back_the_current_version(people: dict[str, Any]) -> None:
    client = sign_in(https_client(), people["analyst"])
    data = build_form(client.get(url(people)).content.decode())
    client.post(url(people), data | {"op": "remove:steps[0]"})
    assert step_ids(client.get(url(people)).content.decode()) == ["second", "third"]
    answer = client.post(url(people), data | {"op": "discard"}, headers={"HX-Request": "true"})
    assert answer.status_code == 204 and answer["HX-Redirect"] == url(people)
    assert step_ids(client.get(url(people)).content.decode()) == ["first", "second", "third"]
    assert AuditEvent.objects.filter(action="recipe.draft_discarded").count() == 1


@pytest.mark.django_db
def test_an_operator_keeps_no_draft(people: dict[str, Any]) -> None:
    client = sign_in(https_client(), people["operator"])
    answer = client.post(url(people), {"op": "draft", "steps[0].type": "map", "steps[0].id": "x"})
    assert answer.status_code in (403, 404)
    assert not RecipeDraft.objects.exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_steps_are_dragged_and_edited_on_the_flow_without_a_reload(
    https_server: Any, transactional_db: Any
) -> None:
    people = acme_people()
    services.recipe_save(actor=people["analyst"], recipe=people["recipe"], definition=THREE)
    base, recipe = https_server.url, people["recipe"]
    with chromium() as browser:
        page = browser.new_context(
            ignore_https_errors=True, viewport={"width": 1280, "height": 900}
        ).new_page()
        browser_sign_in(page, base, people["analyst"].email, STRONG_PASSWORD)
        page.goto(f"{base}/w/acme/recipes/{recipe.id}/build")
        # The first load's script and style stay under 200 KB, the vendored libraries included.
        weight = page.evaluate(
            "() => performance.getEntriesByType('resource')"
            ".filter(e => e.initiatorType === 'script' || e.initiatorType === 'link')"
            ".reduce((sum, e) => sum + e.decodedBodySize, 0)"
        )
        assert 0 < weight < 200_000, weight
        # A mark on the window survives only as long as the page is not reloaded.
        page.evaluate("() => { window.sameDocument = true; }")
        # Only the selected node's panel shows: the trigger's at first.
        assert page.locator("#trigger").is_visible() and not page.locator("#step-steps-0").is_visible()
        page.click('li[data-flow-step="steps[1]"] > a')
        assert page.locator("#step-steps-1").is_visible() and not page.locator("#trigger").is_visible()
        page.fill("#f-steps-1-fields", "b: {{ 2 * 21 }}")
        page.locator("#f-steps-1-fields").blur()
        page.wait_for_function(
            "() => document.getElementById('draft-note').textContent.includes('Draft kept')"
        )
        # Drag the third step to the top of the list.
        third = page.locator('li[data-flow-step="steps[2]"] .drag-handle')
        first = page.locator('li[data-flow-step="steps[0]"] .drag-handle')
        third.drag_to(first)
        page.wait_for_function("() => document.querySelector('#f-steps-0-id')?.value === 'third'")
        # The keyboard's way: select a step and move it down with its button.
        page.click('li[data-flow-step="steps[0]"] > a')
        page.click("#step-steps-0 button[value='down:steps[0]']")
        page.wait_for_function("() => document.querySelector('#f-steps-1-id').value === 'third'")
        assert page.evaluate("() => window.sameDocument") is True
        reviewed(page, "build-editor-draft")
        page.fill("#id_message", "reordered")
        page.click("#save")
        page.wait_for_url(re.compile(r".*/build(#.*)?$"))
        page.locator(".messages").filter(has_text="Saved version").wait_for()
    recipe.refresh_from_db()
    assert [s["id"] for s in recipe.current_version.definition["steps"]] == ["first", "third", "second"]
    assert recipe.current_version.definition["steps"][2]["fields"] == {"b": "{{ 2 * 21 }}"}


def pill_templates(html: str) -> list[str]:
    return re.findall(r'data-pill="([^"]+)"', html)


@pytest.mark.django_db
def test_data_pills_come_from_the_latest_test_run_masked(people: dict[str, Any]) -> None:
    from causeway.recipes.secrets import secret_write
    from causeway.runs.tests.factories import make_job, make_step
    from causeway.vault.masking import registry

    registry.clear()
    canary = "pill-canary-secret-4417"
    secret_write(actor=people["admin"], workspace=people["acme"], name="CRM_TOKEN", value=canary)
    recipe = people["recipe"]
    client = sign_in(https_client(), people["analyst"])
    assert "No test run yet" in client.get(url(people)).content.decode()
    make_job(recipe, by=people["analyst"], status="succeeded", is_test=False, payload={"not": "a test"})
    job = make_job(
        recipe, by=people["analyst"], status="succeeded", is_test=True, payload={"order": {"id": 7}}
    )
    make_step(
        job,
        "first",
        0,
        status="succeeded",
        output={"body": {"id": 1, "token": canary}, "items": [{"sku": "a"}]},
    )
    make_step(job, "second", 1, status="succeeded", output={"odd key": True})
    html = client.get(url(people)).content.decode()
    assert pill_templates(html) == [
        "{{ trigger.order }}",
        "{{ trigger.order.id }}",
        "{{ steps.first.body }}",
        "{{ steps.first.body.id }}",
        "{{ steps.first.body.token }}",
        "{{ steps.first.items }}",
        "{{ steps.first.items[0] }}",
        "{{ steps.first.items[0].sku }}",
        "{{ steps.second[&quot;odd key&quot;] }}",
    ]
    assert f'From test job <a href="/w/acme/jobs/{job.pk}">' in html
    assert "not" not in pill_templates(html)[0]
    # The output's secret value is never shown, whether as a sample or in the completions (rule 13).
    assert canary not in html and "[masked:CRM_TOKEN]" in html
    assert '"steps.first.body.token"' in html.split('id="pill-completions"')[1]
    registry.clear()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_a_pill_and_a_completion_put_fields_into_a_template(
    https_server: Any, transactional_db: Any
) -> None:
    from causeway.runs.tests.factories import make_job, make_step

    people = acme_people()
    recipe = people["recipe"]
    services.recipe_save(actor=people["analyst"], recipe=recipe, definition=THREE)
    job = make_job(
        recipe, by=people["analyst"], status="succeeded", is_test=True, payload={"order": {"id": 7}}
    )
    make_step(job, "first", 0, status="succeeded", output={"body": {"id": 1, "name": "Ada"}})
    base = https_server.url
    with chromium() as browser:
        page = browser.new_context(
            ignore_https_errors=True, viewport={"width": 1280, "height": 900}
        ).new_page()
        browser_sign_in(page, base, people["analyst"].email, STRONG_PASSWORD)
        page.goto(f"{base}/w/acme/recipes/{recipe.id}/build")
        page.click('li[data-flow-step="steps[1]"] > a')
        field = page.locator("#f-steps-1-fields")
        field.fill("b: ")
        field.press("End")
        page.click('button[data-pill="{{ steps.first.body.id }}"]')
        assert field.input_value() == "b: {{ steps.first.body.id }}"
        page.wait_for_function(
            "() => document.getElementById('draft-note').textContent.includes('Draft kept')"
        )
        # Typing "{{" offers the same fields; the arrow keys choose, Enter takes.
        field.press("End")
        field.press("Enter")
        field.type("c: {{ body.na")
        options = page.locator("#pill-complete [role=option]")
        options.first.wait_for()
        assert options.all_text_contents() == ["steps.first.body.name"]
        reviewed(page, "build-data-pills")
        field.press("Enter")
        assert field.input_value() == "b: {{ steps.first.body.id }}\nc: {{ steps.first.body.name }}"
        assert page.locator("#pill-complete").count() == 0
        page.wait_for_function("() => !document.querySelector('#build-form.htmx-request')")
        page.wait_for_load_state("networkidle")
    drafts = RecipeDraft.objects.filter(recipe=recipe).get()
    assert (
        drafts.draft["steps"][1]["fields"] == "b: {{ steps.first.body.id }}\nc: {{ steps.first.body.name }}"
    )
