"""The environments in a browser against a real `causeway web`: a recipe created and built in DEV on
the Build page, looked at with View Changes, migrated to TEST, asked into PROD by one Admin and
approved by another (the two-person rule), then run in PROD by a service account, whose job runs the
signed version."""

from __future__ import annotations

import json
import ssl
from typing import Any

import httpx
import pytest

from causeway.recipes import promotion
from causeway.recipes.models import Project, Recipe
from causeway.recipes.signatures import version_refusal
from causeway.runs.models import FINISHED, Job
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from testkit.factories import ProjectFactory
from testkit.personas import robot
from testkit.support import (
    TEST_HOME,
    make_user,
    make_workspace,
    poll_until,
    process_env,
    start_worker,
    stop_together,
)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_dev_build_view_changes_migrate_to_test_approve_into_prod_and_a_service_account_runs_it(
    https_server: Any, transactional_db: Any, tmp_path: Any
) -> None:
    from playwright.sync_api import expect

    first = make_user("first@example.com")
    second = make_user("second@example.com")
    acme = make_workspace("Acme", members={first: "admin", second: "admin"})
    promotion.prod_approval_set(actor=first, workspace=acme, required=True)
    dev = ProjectFactory.create(workspace=acme, name="Orders")
    test = Project.objects.get(family=dev.family, environment="test")
    prod = Project.objects.get(family=dev.family, environment="prod")
    base = https_server.url
    with chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        browser_sign_in(page, base, first.email)
        # DEV: the recipe created and built on the pages, a map step added and saved.
        page.goto(f"{base}/w/acme/projects/{dev.pk}")
        page.fill("#id_recipe_name", "Totals")
        page.click("#recipe-form button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Build Totals")
        page.select_option("#id_newtype", "map")
        page.click("button[value='insert:steps:0']")
        page.click('li[data-flow-step="steps[0]"] > a')
        page.fill("#f-steps-0-fields", "sum: {{ 40 + 2 }}")
        page.fill("#id_message", "the total")
        page.click("#save")
        expect(page.locator(".messages")).to_contain_text("Saved version")
        # (The database is read after the browser closes: Playwright's loop owns this thread meanwhile.)
        built = page.url.split("/recipes/")[1].split("/")[0]
        page.goto(f"{base}/w/acme/recipes/{built}/versions")
        assert page.locator("tr[data-version]").count() >= 1
        # View Changes beside TEST.
        page.goto(f"{base}/w/acme/projects/{dev.pk}")
        page.click("#view-changes")
        page.wait_for_url(f"{base}/w/acme/projects/{dev.pk}/changes")
        assert page.locator('tr[data-recipe="Totals"]').get_attribute("data-kind") == "added"
        # Migrate to TEST.
        page.goto(f"{base}/w/acme/projects/{dev.pk}/migrate")
        page.check(f'input[name="recipes"][value="{built}"]')
        page.click("#promote")
        page.wait_for_url(f"{base}/w/acme/projects/{test.pk}")
        # From TEST, View Changes beside PROD shows the recipe PROD does not hold yet.
        page.goto(f"{base}/w/acme/projects/{test.pk}/changes")
        assert page.locator('#recipe-changes tr[data-recipe="Totals"]').get_attribute("data-kind") == "added"
        # From TEST, ask for PROD: it waits for a second person, whom the requester is not.
        page.goto(f"{base}/w/acme/projects/{test.pk}/migrate")
        tried = page.locator('input[name="recipes"]').first.get_attribute("value")
        page.check(f'input[name="recipes"][value="{tried}"]')
        page.click("#promote")
        page.wait_for_load_state()
        page.goto(f"{base}/w/acme/projects/{test.pk}/migrate")
        assert "yours: another person approves it" in page.locator("#pending-promotions").inner_text()
        assert page.locator("#pending-promotions button.approve").count() == 0
        page.context.clear_cookies()
        browser_sign_in(page, base, second.email)
        page.goto(f"{base}/w/acme/projects/{test.pk}/migrate")
        page.click("#pending-promotions button.approve")
        page.wait_for_url(f"{base}/w/acme/projects/{test.pk}/migrate")
        assert page.locator("#pending-promotions").count() == 0
        assert "second@example.com" in page.locator("#promotions").inner_text()
    made = Recipe.objects.get(project=dev, name="Totals")
    assert str(made.pk) == built and made.current_version is not None
    assert [s["type"] for s in made.current_version.definition["steps"]] == ["map"]
    live = Recipe.objects.get(project=prod)
    version = live.current_version
    assert version is not None and version.approved_by == second and version_refusal(version) is None
    # A service account with an execute grant runs the PROD recipe through the API.
    account = robot(acme, name="deployer")
    from causeway.recipes.models import RecipeGrant

    RecipeGrant.objects.create(workspace=acme, recipe=live, service_account=account.account, execute=True)
    trust = ssl.create_default_context(cafile=str(TEST_HOME / "tls" / "localhost.crt"))
    # A real worker, for a broker (Redis) whose jobs the web process leaves to the workers.
    worker = start_worker(process_env(), tmp_path)
    try:
        done = _run_as(account, base, acme, live, trust)
    finally:
        stop_together(worker)
    assert done.status == "succeeded", done.error
    assert done.version_id == version.pk and done.run_by_service_account_id == account.account.pk
    assert str(done.steps.get().output["sum"]) == "42"


def _run_as(account: Any, base: str, acme: Any, live: Any, trust: Any) -> Job:
    answer = httpx.post(
        f"{base}/api/v1/workspaces/{acme.id}/recipes/{live.pk}/jobs",
        headers={"Authorization": f"Bearer {account.secret}", "Content-Type": "application/json"},
        content=json.dumps({}),
        verify=trust,
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    job = Job.objects.get(pk=answer.json()["id"])
    done = poll_until(
        lambda: (found := Job.objects.get(pk=job.pk)).status in FINISHED and found,
        seconds=90,
        what="the PROD job to finish",
    )
    assert isinstance(done, Job)
    return done
