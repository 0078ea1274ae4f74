"""The API platform's pages in Chromium against a real `causeway web`: the collections, one collection with
its usage, and its Swagger page (Swagger UI served from Causeway itself, within the CSP)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from causeway.apiplat.models import ApiClient, ApiCollection, ApiEndpoint
from causeway.apiplat.tests.test_calls import ANSWER_STEPS, ORDER_SCHEMA, call, published
from causeway.recipes.services import project_create, recipe_create
from causeway.runs.tests.trigger_helpers import people
from causeway.runs.triggers import recipe_start
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from testkit.personas import member
from testkit.support import STRONG_PASSWORD, make_user


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_collection_page_shows_usage_and_swagger_shows_its_operations(
    https_server: Any, transactional_db: Any
) -> None:
    place = people()
    api = published(place, ANSWER_STEPS)
    path = api["base"] + "/shops/north/orders"
    assert call(https_server, path, api["secret"], json={"sku": "ABC", "quantity": 2}).status_code == 201
    assert call(https_server, path, api["secret"], json={"sku": "A"}).status_code == 400
    reader = make_user("reader@example.com")
    member(place["acme"], reader, "operator")
    base = https_server.url
    collection = api["collection"]
    with chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        browser_sign_in(page, base, reader.email, STRONG_PASSWORD)
        page.goto(f"{base}/w/acme/apis")
        page.click(f'tr[data-collection="{collection.pk}"] a >> nth=0')
        page.wait_for_url(f"{base}/w/acme/apis/{collection.pk}")
        row = page.locator("table.usage tbody tr").first
        assert "2" in row.locator("td").nth(3).inner_text()
        assert row.locator("td").nth(4).inner_text() == "1"
        assert "/apis/acme/prod/" + collection.slug in page.locator("ul.base-urls").inner_text()
        page.click("#swagger-link")
        page.wait_for_selector(".opblock-summary-path")
        assert page.locator(".opblock-summary-path").first.inner_text().replace("\u200b", "") == (
            "/shops/{shop}/orders"
        )
        assert "/apis/acme/dev/" + collection.slug in page.locator(".servers").inner_text()
        page.goto(f"{base}/w/acme/apis/{collection.pk}/swagger?environment=prod")
        page.wait_for_selector(".opblock-summary-path")
        assert "/apis/acme/prod/" + collection.slug in page.locator(".servers").inner_text()
        assert not [e for e in errors if "Content Security Policy" in e], errors


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_builds_a_collection_an_endpoint_and_a_client_then_the_key_calls_it(
    https_server: Any, transactional_db: Any
) -> None:
    place = people()
    admin, workspace = place["admin"], place["acme"]
    project = project_create(actor=admin, workspace=workspace, name="Shop")
    recipe = recipe_create(
        actor=admin,
        workspace=workspace,
        project=project,
        name="Take an order",
        definition={"trigger": {"type": "api_endpoint"}, "steps": ANSWER_STEPS},
    )
    recipe_start(actor=admin, recipe=recipe)
    base = https_server.url
    # Inside the browser's block the database is not read (Playwright runs an event loop there): what
    # the pages made is found on the pages, and checked in the database after.
    with chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        asked: list[str] = []

        def accept(dialog: Any) -> None:
            asked.append(dialog.message)
            dialog.accept()

        page.on("dialog", accept)
        browser_sign_in(page, base, admin.email, STRONG_PASSWORD)

        # A collection, refused first for a base path that is no slug, then made.
        page.goto(f"{base}/w/acme/apis")
        page.select_option("#collection-project_id", str(project.id))
        page.fill("#collection-name", "Shop orders")
        page.fill("#collection-slug", "Not A Slug")
        page.click("#collection-form button[type=submit]")
        assert "lower-case letters" in page.locator("#collection-slug + ul.errorlist").inner_text()
        page.fill("#collection-slug", "shop-orders")
        with page.expect_navigation():
            page.click("#collection-form button[type=submit]")
        collection_id = page.url.rsplit("/", 1)[-1]
        assert page.url == f"{base}/w/acme/apis/{collection_id}"

        # An endpoint with a request schema; bad JSON is refused beside its field.
        page.select_option("#id_method", "POST")
        page.fill("#id_path", "/shops/{shop}/orders")
        page.select_option("#id_recipe_id", str(recipe.id))
        page.fill("#id_request_schema", "{not json")
        page.fill("#id_query_parameters", "note")
        page.fill("#id_headers", "X-Channel")
        page.click("#endpoint-form button[type=submit]")
        assert page.locator("#id_request_schema + ul.errorlist").inner_text().startswith("not JSON")
        page.fill("#id_request_schema", json.dumps(ORDER_SCHEMA))
        with page.expect_navigation():
            page.click("#endpoint-form button[type=submit]")
        row = page.locator("tr[data-endpoint]")
        endpoint_id = uuid.UUID(row.get_attribute("data-endpoint") or "")
        assert "/shops/{shop}/orders" in row.inner_text()
        # Changed through its edit form: a shorter time-out.
        row.locator("summary").click()
        row.locator(f'input[name="e{endpoint_id.hex[:8]}-timeout_seconds"]').fill("12")
        with page.expect_navigation():
            row.locator("form.endpoint-edit button[type=submit]").click()
        assert "12 s" in page.locator(f'tr[data-endpoint="{endpoint_id}"]').inner_text()

        # A client calling it, with its first key shown once.
        page.goto(f"{base}/w/acme/api-clients")
        page.fill("#client-name", "Shop front")
        page.check(f'#client-form input[name="collection_ids"][value="{collection_id}"]')
        page.fill("#client-key_name", "prod")
        page.fill("#client-expires_in_days", "30")
        with page.expect_navigation():
            page.click("#client-form button[type=submit]")
        secret = page.locator("#key-secret").inner_text().strip()
        assert secret.startswith("cwak_")
        page.goto(f"{base}/w/acme/api-clients")
        assert secret not in page.content()

        path = "/apis/acme/dev/shop-orders/shops/north/orders"
        answer = call(https_server, path, secret, json={"sku": "ABC-1", "quantity": 4}, params={"note": "x"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["total"] == 12

        # Revoking the key, after its confirmation: the next call is refused.
        key_row = page.locator("section.api-client table.keys tbody tr").first
        with page.expect_navigation():
            key_row.locator("button.danger").click()
        assert asked and "Revoke this key" in asked[-1]
        assert call(https_server, path, secret, json={"sku": "ABC-1", "quantity": 4}).status_code == 401
    endpoint = ApiEndpoint.objects.get(pk=endpoint_id)
    assert (endpoint.collection_id, endpoint.timeout_seconds, endpoint.request_schema) == (
        uuid.UUID(collection_id),
        12,
        ORDER_SCHEMA,
    )
    assert ApiCollection.objects.get(pk=collection_id).slug == "shop-orders"
    client = ApiClient.objects.get(service_account__name="Shop front")
    assert [c.pk for c in client.collections.all()] == [uuid.UUID(collection_id)]
