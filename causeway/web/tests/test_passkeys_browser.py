"""A passkey in Debian's Chromium against the real server, with Chromium's virtual authenticator (a
platform authenticator that verifies the user): added on the two-factor page, then used to sign in
after the password."""

from __future__ import annotations

from typing import Any

import pytest

from causeway.accounts.models import Passkey
from causeway.audit.models import AuditEvent
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from testkit.support import STRONG_PASSWORD, make_user


def virtual_authenticator(context: Any, page: Any) -> tuple[Any, str]:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, str(added["authenticatorId"])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_adds_a_passkey_then_signs_in_with_the_password_and_the_passkey(
    localhost_server: Any, transactional_db: Any
) -> None:
    user = make_user("mary@example.com", first="Mary", last="Jackson")
    base = localhost_server.url
    assert base.startswith("https://localhost:")
    with chromium() as browser:
        context = browser.new_context(ignore_https_errors=True)
        page = context.new_page()
        cdp, authenticator = virtual_authenticator(context, page)
        browser_sign_in(page, base, user.email)
        page.goto(f"{base}/profile/two-factor")
        page.fill("#id_name", "Virtual key")
        page.click("button:has-text('Add a passkey')")
        page.locator("#passkeys input[name='name'][value='Virtual key']").wait_for()
        held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]

        page.click("button:has-text('Log out')")
        page.wait_for_url(f"{base}/login")
        page.fill("#id_username", user.email)
        page.fill("#id_password", STRONG_PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url(f"{base}/login/second-factor")
        page.click("button:has-text('Use a passkey')")
        page.wait_for_url(f"{base}/")
        signed_in_as = page.locator("body").inner_text()

    assert len(held) == 1
    key = Passkey.objects.get(user=user)
    assert key.name == "Virtual key" and key.credential_id == held[0]["credentialId"].rstrip("=").replace(
        "+", "-"
    ).replace("/", "_")
    assert key.last_used_at is not None and key.sign_count >= 1
    assert "Log out" in signed_in_as
    signed_in = AuditEvent.objects.filter(action="auth.login").order_by("occurred_at", "chain", "seq").last()
    assert signed_in is not None and signed_in.details == {"second_factor": "passkey"}
    assert AuditEvent.objects.filter(action="mfa.passkey_enrolled").count() == 1
    assert not AuditEvent.objects.filter(action__in=["mfa.failed", "mfa.passkey_enrolment_failed"]).exists()
