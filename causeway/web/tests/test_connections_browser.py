"""Connections in a browser against a real `causeway web`: connect an account with a bearer token, then
test-run a recipe whose connector step uses it; a real local server records what the step sent."""

from __future__ import annotations

from typing import Any

import pytest

from causeway.connections import services as connections
from causeway.connections.models import Connection
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.databases import throwaway_database
from causeway.connections.tests.servers import Answer, Received, http_server
from causeway.recipes.services import project_create, recipe_create
from causeway.runs import runtime
from causeway.runs.models import Job
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from testkit.support import STRONG_PASSWORD, jobs_seen, make_user, make_workspace, poll_until

TOKEN = "browser-token-5e1d7c"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_connect_an_account_then_run_a_recipe_step_with_it(
    https_server: Any, transactional_db: Any
) -> None:
    analyst = make_user("analyst@example.com")
    admin = make_user("admin@example.com")
    acme = make_workspace("Acme", members={admin: "admin", analyst: "analyst"})
    outbound_hosts_set(actor=admin, workspace=acme, hosts=["127.0.0.1"])
    connections.connector_enable(actor=admin, workspace=acme, key="http", enabled=True)
    project = project_create(actor=admin, workspace=acme, name="Integrations")
    base = https_server.url

    def answer(got: Received) -> Answer:
        return Answer(body={"greeting": "hello from the API", "path": got.path})

    with http_server(answer) as api:
        with chromium() as browser:
            page = browser.new_context(ignore_https_errors=True).new_page()
            browser_sign_in(page, base, analyst.email, STRONG_PASSWORD)
            page.goto(f"{base}/w/acme/connections")
            assert page.locator("#no-personal").count() == 1
            page.click("#new-connection")
            page.select_option("#id_auth_choice", "bearer")
            page.click("#choose-form button")
            page.fill("#id_name", "My API")
            page.fill("#id_setting_base_url", api.url + "/v1")
            page.fill("#id_cred_token", TOKEN)
            page.check("#scopes input[value='read']")
            page.click("#connection-form button[type='submit']")
            page.wait_for_selector("#connection-facts")
            facts = page.locator("#connection-facts").inner_text()
            assert "••••••••" in facts and TOKEN not in page.content()
        made = Connection.objects.get()
        assert (made.kind, made.owner, made.granted_scopes) == ("personal", analyst, ["read"])
        recipe = recipe_create(
            actor=analyst,
            workspace=acme,
            project=project,
            name="Greet",
            definition={
                "trigger": {"type": "manual"},
                "steps": [
                    {
                        "id": "hello",
                        "type": "connector",
                        "connection": str(made.id),
                        "action": "get",
                        "input": {"path": "/greeting"},
                    }
                ],
            },
        )
        with chromium() as browser:
            page = browser.new_context(ignore_https_errors=True).new_page()
            browser_sign_in(page, base, analyst.email, STRONG_PASSWORD)
            page.goto(f"{base}/w/acme/recipes/{recipe.pk}/jobs")
            page.click("button[value='test']")
            page.wait_for_load_state()
        job = Job.objects.get(recipe=recipe)
        if runtime.run(job.pk) == "skipped":
            # The web process runs jobs in its own job threads when it may: it took this one.
            poll_until(
                lambda: Job.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).exists(),
                seconds=60,
                what="the job to finish",
                saw=lambda: jobs_seen([job]),
            )
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        (got,) = api.received
        assert (got.path, got.headers["Authorization"]) == ("/v1/greeting", f"Bearer {TOKEN}")
        with chromium() as browser:
            page = browser.new_context(ignore_https_errors=True).new_page()
            browser_sign_in(page, base, analyst.email, STRONG_PASSWORD)
            page.goto(f"{base}/w/acme/jobs/{job.pk}")
            assert "hello from the API" in (
                page.locator('tr[data-step="hello"] .step-output').text_content() or ""
            )
            page.goto(f"{base}/w/acme/connections/{made.pk}")
            assert page.locator("#uses tbody tr").count() == 1
            assert "Succeeded" in page.locator("#uses tbody tr").inner_text()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_connect_a_postgresql_database_and_test_it(https_server: Any, transactional_db: Any) -> None:
    analyst = make_user("analyst@example.com")
    admin = make_user("admin@example.com")
    acme = make_workspace("Acme", members={admin: "admin", analyst: "analyst"})
    outbound_hosts_set(actor=admin, workspace=acme, hosts=["127.0.0.1"])
    connections.connector_enable(actor=admin, workspace=acme, key="postgres", enabled=True)
    base = https_server.url
    with throwaway_database() as database, chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        browser_sign_in(page, base, analyst.email, STRONG_PASSWORD)
        page.goto(f"{base}/w/acme/connections/new?connector=postgres&auth_method=basic")
        assert page.input_value("#id_setting_port") == "5432"
        assert page.input_value("#id_setting_tls") == "verify-full"
        page.fill("#id_name", "Warehouse")
        page.fill("#id_setting_host", database.host)
        page.fill("#id_setting_port", str(database.port))
        page.fill("#id_setting_database", database.name)
        page.select_option("#id_setting_tls", "disable")
        page.fill("#id_cred_username", database.user)
        page.fill("#id_cred_password", database.password)
        page.check("#scopes input[value='read']")
        page.click("#connection-form button[type='submit']")
        page.wait_for_selector("#connection-facts")
        assert database.password not in page.content()
        page.click("#test-form button")
        page.wait_for_selector("#health")
        health = page.locator("#health").inner_text()
        assert "Healthy" in health and f"as {database.user}" in health, health
        assert database.password not in page.content()
    made = Connection.objects.get()
    assert made.settings == database.settings()
