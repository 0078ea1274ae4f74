"""The whole OAuth 2.0 authorization dance in headless Chromium: a person signs in to a real `causeway
web`, ticks a scope on the connect form, is sent to a real local provider (Authlib's server side),
allows access on its consent page, and comes back to the new connection's page; then a recipe step uses
the connection, and disconnecting revokes its tokens at the provider.

The provider redirects to the installation's public URL (CAUSEWAY_BASE_URL, the redirect URI registered
there); a deployment's reverse proxy serves that URL, and here the browser's request to it is handed to
the test's server the same way."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from causeway.connections.models import Connection, Health
from causeway.recipes.services import recipe_create
from causeway.runs import runtime
from causeway.runs.models import Job
from causeway.runs.services import job_create
from causeway.tests.oauth_kit import CLIENT_SECRET, oauth_kit
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from testkit.support import STRONG_PASSWORD


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_the_full_authorization_dance_then_a_step_then_disconnect(
    https_server: Any, transactional_db: Any
) -> None:
    base = https_server.url
    public = str(settings.BASE_URL).rstrip("/")
    with oauth_kit() as kit:
        running, profile, pat, acme, project = kit.running, kit.profile, kit.owner, kit.workspace, kit.project
        with chromium() as browser:
            page = browser.new_context(ignore_https_errors=True).new_page()
            # The public URL's reverse proxy: what the provider redirects to reaches this server.
            page.route(
                f"{public}/**",
                lambda route: route.fulfill(
                    status=302, headers={"Location": route.request.url.replace(public, base, 1)}
                ),
            )
            browser_sign_in(page, base, pat.email, STRONG_PASSWORD)
            page.goto(f"{base}/w/acme/connections/new?connector=oauth2&auth_method=oauth2_code")
            page.fill("#id_name", "Pat's provider")
            page.fill("#id_setting_base_url", running.url + "/api")
            page.select_option("#id_profile", str(profile.id))
            page.check("#scopes input[value='read']")
            page.click("#connection-form button[type='submit']")
            # At the provider: its own consent page, asking for exactly what was ticked.
            page.wait_for_selector("#allow")
            assert page.url.startswith(running.url + "/authorize?")
            assert page.locator("#scopes").inner_text() == "read"
            page.click("#allow")
            # Back at Causeway: the new connection's page, signed in, its tokens nowhere on it.
            page.wait_for_selector("#connection-facts")
            assert page.url.startswith(f"{base}/w/acme/connections/")
            assert "Healthy" in page.locator("#health").inner_text()
            content = page.content()
            issued = running.provider.tokens[-1]
            assert issued.access_token not in content and issued.refresh_token not in content
            assert CLIENT_SECRET not in content
        made = Connection.objects.get()
        assert (made.owner, made.granted_scopes, made.health) == (pat, ["read"], Health.HEALTHY)
        assert made.credentials["access_token"] == issued.access_token

        recipe = recipe_create(
            actor=pat,
            workspace=acme,
            project=project,
            name="Orders",
            definition={
                "trigger": {"type": "manual"},
                "steps": [
                    {
                        "id": "orders",
                        "type": "connector",
                        "connection": str(made.id),
                        "action": "get",
                        "input": {"path": "/orders"},
                    }
                ],
            },
        )
        job = job_create(actor=pat, recipe=recipe, trigger_type="manual", is_test=True)
        runtime.run(job.pk)
        assert Job.objects.get(pk=job.pk).status == "succeeded"
        assert running.provider.resource_calls == [(issued.access_token, 200)]

        with chromium() as browser:
            page = browser.new_context(ignore_https_errors=True).new_page()
            browser_sign_in(page, base, pat.email, STRONG_PASSWORD)
            page.goto(f"{base}/w/acme/connections/{made.id}")
            # Revoking asks first; the person says yes.
            page.once("dialog", lambda dialog: dialog.accept())
            page.click("#revoke-form button")
            page.wait_for_url(f"{base}/w/acme/connections")
        assert not Connection.objects.exists()
        assert running.provider.revocations and not running.provider.live(issued.access_token)
