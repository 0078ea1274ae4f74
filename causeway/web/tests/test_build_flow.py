"""The Build page shows the recipe as a flow: the trigger, then each step with its type, name and
status in the latest job, a condition's branches side by side, a for-each's body nested; each node
leads to its step's part of the form, and a node whose step has an error says so."""

from __future__ import annotations

import re
from typing import Any

import pytest

from causeway.recipes import services
from causeway.recipes.tests.personas import acme_people
from causeway.runs.tests.factories import make_job, make_step
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from causeway.workspaces.tests.helpers import fast_hashing, sign_in  # noqa: F401
from testkit.pages import reviewed
from testkit.support import STRONG_PASSWORD, https_client

FLOW = {
    "trigger": {"type": "manual"},
    "steps": [
        {"id": "load", "name": "Load orders", "type": "map", "fields": {"n": "{{ 1 }}"}},
        {
            "id": "check",
            "type": "condition",
            "if": "{{ steps.load.n > 0 }}",
            "then": [{"id": "big", "type": "map", "fields": {"size": "big"}}],
            "else": [],
        },
        {
            "id": "each",
            "type": "foreach",
            "items": "{{ [1, 2] }}",
            "steps": [{"id": "double", "type": "map", "fields": {"v": "{{ item * 2 }}"}}],
        },
    ],
}


@pytest.fixture
def people(request: pytest.FixtureRequest) -> dict[str, Any]:
    request.getfixturevalue("fast_hashing")
    people = acme_people()
    services.recipe_save(actor=people["analyst"], recipe=people["recipe"], definition=FLOW)
    return people


def nodes(html: str) -> list[str]:
    return re.findall(r'<li class="flow-node[^"]*" data-flow-step="([^"]+)">', html)


@pytest.mark.django_db
def test_the_flow_shows_each_step_in_order_with_branches_side_by_side_and_the_loop_nested(
    people: dict[str, Any],
) -> None:
    client = sign_in(https_client(), people["analyst"])
    html = client.get(f"/w/acme/recipes/{people['recipe'].id}/build").content.decode()
    flow = html[html.index('<nav class="flow"') : html.index("</nav>", html.index('<nav class="flow"'))]
    assert nodes(flow) == ["steps[0]", "steps[1]", "steps[1].then[0]", "steps[2]", "steps[2].steps[0]"]
    assert '<span class="flow-kind">Trigger</span> <strong>Manual' in flow
    first = r'<span class="flow-number">1</span> <span class="flow-kind">[^<]+</span> <strong>Load orders<'
    assert re.search(first, flow)
    condition = flow[flow.index('data-flow-step="steps[1]"') : flow.index('data-flow-step="steps[2]"')]
    assert '<div class="flow-branches">' in condition
    assert re.findall(r'<p class="flow-branch-label">([^<]+)</p>', condition) == ["If true", "Otherwise"]
    assert '<span class="muted flow-empty">no steps</span>' in condition
    loop = flow[flow.index('data-flow-step="steps[2]"') :]
    assert '<div class="flow-body">' in loop and "For each item" in loop
    # Each node leads to its step's part of the form.
    for anchor in re.findall(r'<a href="#(step-[^"]+)">', flow):
        assert f'id="{anchor}"' in html
    assert 'class="muted flow-last-run">Not run yet' in flow


@pytest.mark.django_db
def test_each_node_shows_its_status_in_the_latest_job_the_viewer_may_see(people: dict[str, Any]) -> None:
    recipe = people["recipe"]
    older = make_job(recipe, by=people["analyst"], status="succeeded")
    make_step(older, "load", 0, status="succeeded")
    latest = make_job(recipe, by=people["analyst"], status="failed", error="no")
    make_step(latest, "load", 0, status="succeeded")
    make_step(latest, "check", 1, status="succeeded")
    make_step(latest, "big", 2, status="succeeded")
    make_step(latest, "each", 3, status="failed")
    make_step(latest, "each[0].double", 4, status="succeeded")
    make_step(latest, "each[1].double", 5, status="failed")
    client = sign_in(https_client(), people["analyst"])
    html = client.get(f"/w/acme/recipes/{recipe.id}/build").content.decode()
    statuses = dict(
        re.findall(r'data-flow-step="([^"]+)">\s*<a[^>]*>.*?(?:data-status="([a-z]+)")', html, re.S)
    )
    assert statuses == {
        "steps[0]": "succeeded",
        "steps[1]": "succeeded",
        "steps[1].then[0]": "succeeded",
        "steps[2]": "failed",
        "steps[2].steps[0]": "failed",  # the pass that failed, not the one that succeeded
    }
    assert f'href="/w/acme/jobs/{latest.pk}">job <code>{str(latest.pk)[:8]}</code>' in html


@pytest.mark.django_db
def test_a_node_whose_step_is_wrong_says_so_after_a_save(people: dict[str, Any]) -> None:
    client = sign_in(https_client(), people["analyst"])
    url = f"/w/acme/recipes/{people['recipe'].id}/build"
    from causeway.web.tests.test_recipes_pages import build_form

    data = build_form(client.get(url).content.decode())
    data["steps[1].then[0].id"] = "not an id!"
    data["op"] = "save"
    answer = client.post(url, data)
    assert answer.status_code == 400
    html = answer.content.decode()
    invalid = re.findall(r'<li class="flow-node flow-invalid" data-flow-step="([^"]+)">', html)
    assert invalid == ["steps[1].then[0]"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_a_node_on_the_flow_opens_its_step_in_the_form(
    https_server: Any, transactional_db: Any
) -> None:
    people = acme_people()
    services.recipe_save(actor=people["analyst"], recipe=people["recipe"], definition=FLOW)
    base, recipe = https_server.url, people["recipe"]
    with chromium() as browser:
        page = browser.new_context(
            ignore_https_errors=True, viewport={"width": 1280, "height": 900}
        ).new_page()
        browser_sign_in(page, base, people["analyst"].email, STRONG_PASSWORD)
        page.goto(f"{base}/w/acme/recipes/{recipe.id}/build")
        reviewed(page, "build-flow")
        page.click('li[data-flow-step="steps[2].steps[0]"] > a')
        page.wait_for_function("() => location.hash === '#step-steps-2-steps-0'")
        target = page.locator(".panel.selected")
        assert target.get_attribute("data-step") == "steps[2].steps[0]"
        assert target.is_visible()
        phone = browser.new_context(
            ignore_https_errors=True, viewport={"width": 390, "height": 844}
        ).new_page()
        browser_sign_in(phone, base, people["analyst"].email, STRONG_PASSWORD)
        phone.goto(f"{base}/w/acme/recipes/{recipe.id}/build")
        reviewed(phone, "build-flow-phone")
