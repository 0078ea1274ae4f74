"""Salesforce and Google Sheets signed in to in headless Chromium: a person on a real `causeway web`
chooses the connector, ticks its scopes, allows access on the local provider's consent page and comes
back to the new connection's page; a recipe step then uses the connection against the local provider's
API. The provider redirects to the installation's public URL, handed to the test's server as a reverse
proxy would (see `test_oauth_browser`)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.conf import settings

from causeway.connections.connectors.google_sheets import READ, WRITE
from causeway.connections.models import Connection, Health
from causeway.connections.tests.salesforce_server import salesforce_org
from causeway.connections.tests.sheets_server import sheets_api
from causeway.tests.catalogue_kit import catalogue, output, redirect_uris
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from testkit.support import STRONG_PASSWORD

CLIENT_SECRET = f"cs-cnry/{uuid.uuid4().hex[:12]}"


def connect_in_browser(
    base: str, kit: Any, profile: Any, scopes: list[str], consent_url: str, fill: dict[str, str] | None = None
) -> str:
    """Sign in through the connect form and the provider's consent page; the page content at the end."""
    public = str(settings.BASE_URL).rstrip("/")
    with chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        page.route(
            f"{public}/**",
            lambda route: route.fulfill(
                status=302, headers={"Location": route.request.url.replace(public, base, 1)}
            ),
        )
        browser_sign_in(page, base, kit.owner.email, STRONG_PASSWORD)
        page.goto(f"{base}/w/acme/connections/new?connector={kit.connector}&auth_method=oauth2_code")
        page.fill("#id_name", f"Pat's {kit.connector}")
        for selector, value in (fill or {}).items():
            page.fill(selector, value)
        page.select_option("#id_profile", str(profile.id))
        for scope in scopes:
            page.check(f"#scopes input[value='{scope}']")
        page.click("#connection-form button[type='submit']")
        page.wait_for_selector("#allow")
        assert page.url.startswith(consent_url + "?")
        assert page.locator("#scopes").inner_text() == " ".join(scopes)
        page.click("#allow")
        page.wait_for_selector("#connection-facts")
        assert page.url.startswith(f"{base}/w/acme/connections/")
        assert "Healthy" in page.locator("#health").inner_text()
        return str(page.content())


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_salesforce_sign_in_then_a_query(https_server: Any, transactional_db: Any) -> None:
    kit = catalogue("salesforce")
    with salesforce_org(client_secret=CLIENT_SECRET, redirect_uris=redirect_uris(kit.workspace)) as org:
        profile = kit.profile(org.provider, CLIENT_SECRET, ["api", "refresh_token"])
        content = connect_in_browser(
            https_server.url, kit, profile, ["api", "refresh_token"], f"{org.provider.url}/authorize"
        )
        issued = org.provider.provider.tokens[-1]
        assert issued.access_token not in content and CLIENT_SECRET not in content
        made = Connection.objects.get()
        assert (made.owner, made.granted_scopes, made.health) == (
            kit.owner,
            ["api", "refresh_token"],
            Health.HEALTHY,
        )
        assert made.credentials["instance_url"] == org.url
        org.add("Account", {"Name": "Acme"})
        job = kit.run(made, "query", {"soql": "SELECT Id, Name FROM Account"})
        assert job.status == "succeeded", job.error
        assert [r["Name"] for r in output(job)["records"]] == ["Acme"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_google_sheets_sign_in_with_offline_access_then_a_read(
    https_server: Any, transactional_db: Any
) -> None:
    kit = catalogue("google_sheets")
    with sheets_api(client_secret=CLIENT_SECRET, redirect_uris=redirect_uris(kit.workspace)) as sheets:
        sheets.books["1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"] = {"Orders": [["Order"], ["A-1"]]}
        profile = kit.profile(sheets.provider, CLIENT_SECRET, [READ])
        content = connect_in_browser(
            https_server.url,
            kit,
            profile,
            [READ, WRITE],
            f"{sheets.provider.url}/authorize",
            {"#id_setting_base_url": sheets.url},
        )
        [asked] = sheets.provider.provider.authorize_queries
        assert (asked["access_type"], asked["prompt"]) == ("offline", "consent")
        issued = sheets.provider.provider.tokens[-1]
        assert issued.access_token not in content and str(issued.refresh_token) not in content
        made = Connection.objects.get()
        assert made.granted_scopes == [READ, WRITE] and made.credentials["refresh_token"]
        job = kit.run(
            made,
            "read_range",
            {"spreadsheet_id": "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms", "range": "Orders!A2"},
        )
        assert job.status == "succeeded", job.error
        assert output(job)["values"] == [["A-1"]]
