"""Single sign-on in Debian's Chromium against the real server and a real OpenID Connect provider: the
login page's button, the provider's sign-in page, back signed in; then an authenticator app set up, and
the next sign-in through the provider asks for its code."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest
from django.conf import settings

from causeway.access import identity_providers
from causeway.accounts.actors import SystemActor
from causeway.accounts.models import User
from causeway.accounts.tests.oidc_provider import CLIENT_ID, oidc_provider
from causeway.audit.models import AuditEvent
from causeway.web.tests.test_accounts_pages import chromium

CLIENT_SECRET = "browser-sso-client-secret"
STEP_SECONDS = 30


@pytest.fixture
def loopback_provider(settings: Any) -> None:
    """The provider runs over http on 127.0.0.1: allowed here as in the server (`process_env`)."""
    settings.SSO_LOOPBACK_HTTP = True


def through_provider(page: Any, base: str) -> None:
    page.goto(f"{base}/login")
    page.click("#sso-acme")
    page.locator("#person").wait_for()
    page.click("#allow")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_signs_in_through_the_provider_then_with_a_second_factor(
    loopback_provider: None, https_server: Any, transactional_db: Any
) -> None:
    base = https_server.url
    public = str(settings.BASE_URL).rstrip("/")
    with oidc_provider(client_secret=CLIENT_SECRET) as running:
        # The provider sends the browser back to Causeway's public address, never the one it was asked at.
        running.provider.client.redirect_uris.append(f"{public}/login/sso/acme/callback")
        identity_providers.identity_provider_create(
            actor=SystemActor(label="test"),
            slug="acme",
            name="Acme Login",
            issuer=running.url,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            trusted_domains=["example.com"],
        )
        with chromium() as browser:
            page = browser.new_context(ignore_https_errors=True).new_page()
            # The public address's reverse proxy: what the provider redirects to reaches this server.
            page.route(
                f"{public}/**",
                lambda route: route.fulfill(
                    status=302, headers={"Location": route.request.url.replace(public, base, 1)}
                ),
            )
            through_provider(page, base)
            page.wait_for_url(f"{base}/")
            page.locator("button:has-text('Log out')").wait_for()

            page.goto(f"{base}/profile/two-factor")
            page.click("button:has-text('Set up an authenticator app')")
            secret = page.locator("#mfa-secret").inner_text().strip()
            page.fill("#id_code", pyotp.TOTP(secret).now())
            page.click("button:has-text('Turn on')")
            page.locator("#recovery-codes").wait_for()
            page.click("button:has-text('Log out')")
            page.wait_for_url(f"{base}/login")

            through_provider(page, base)
            page.wait_for_url(f"{base}/login/second-factor")
            # The next step's code: the one that confirmed the app may still be current, and is spent.
            page.fill("#id_code", pyotp.TOTP(secret).at(time.time() + STEP_SECONDS))
            page.click("button:has-text('Continue')")
            page.wait_for_url(f"{base}/")

    user = User.objects.with_email("grace@example.com").get()
    assert not user.has_usable_password()
    logins = AuditEvent.objects.filter(action="auth.login").order_by("occurred_at", "chain", "seq")
    assert [event.details for event in logins] == [{"via": "acme"}, {"second_factor": "totp", "via": "acme"}]
