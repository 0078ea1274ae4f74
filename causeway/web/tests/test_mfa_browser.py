"""Two-factor authentication in Debian's Chromium against the real server: set up an authenticator
app from the QR page, then sign in with the password and a code from it."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest

from causeway.accounts import mfa
from causeway.audit.models import AuditEvent
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from testkit.support import STRONG_PASSWORD, make_user

STEP_SECONDS = 30


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_sets_up_an_authenticator_app_and_signs_in_with_a_code(
    https_server: Any, transactional_db: Any
) -> None:
    user = make_user("katherine@example.com", first="Katherine", last="Johnson")
    base = https_server.url
    with chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        browser_sign_in(page, base, user.email)
        page.goto(f"{base}/profile/two-factor")
        page.click("button:has-text('Set up an authenticator app')")
        page.locator("#mfa-qr").wait_for()
        assert page.locator("#mfa-qr").get_attribute("src").startswith("data:image/svg+xml")
        secret = page.locator("#mfa-secret").inner_text().strip()
        page.fill("#id_code", pyotp.TOTP(secret).now())
        page.click("button:has-text('Turn on')")
        page.locator("#recovery-codes").wait_for()
        codes = page.locator("#recovery-codes li").all_inner_texts()

        page.click("button:has-text('Log out')")
        page.wait_for_url(f"{base}/login")
        page.fill("#id_username", user.email)
        page.fill("#id_password", "wrong-Password-77")
        page.click("button:has-text('Log in')")
        page.locator("text=Email or password is wrong.").wait_for()
        browser_sign_in_with_code(page, base, user.email, secret)
        assert page.url == f"{base}/"

    assert len(codes) == mfa.RECOVERY_CODE_COUNT
    assert AuditEvent.objects.filter(action="mfa.enabled").count() == 1
    signed_in = AuditEvent.objects.filter(action="auth.login").order_by("occurred_at", "chain", "seq").last()
    assert signed_in is not None and signed_in.details == {"second_factor": "totp"}


def browser_sign_in_with_code(page: Any, base: str, email: str, secret: str) -> None:
    page.fill("#id_username", email)
    page.fill("#id_password", STRONG_PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/login/second-factor")
    # The code of the next step: the one that confirmed the app may still be current, and is used.
    page.fill("#id_code", pyotp.TOTP(secret).at(time.time() + STEP_SECONDS))
    page.click("button:has-text('Continue')")
    page.wait_for_url(f"{base}/")
