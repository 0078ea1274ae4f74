"""The API platform's pages in Chromium against a real `causeway web`: the collections, one collection with
its usage, and its Swagger page (Swagger UI served from Causeway itself, within the CSP)."""

from __future__ import annotations

from typing import Any

import pytest

from causeway.apiplat.tests.test_calls import ANSWER_STEPS, call, published
from causeway.runs.tests.trigger_helpers import people
from causeway.testkit.personas import member
from causeway.testkit.support import STRONG_PASSWORD, make_user
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium


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
