"""The login, profile, password and API token pages, through the test client and a real browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.sessions.models import Session

from causeway.accounts.models import User, UserSession
from causeway.audit.models import AuditEvent
from causeway.audit.tasks import flush_refusals
from causeway.workspaces import tokens
from causeway.workspaces.models import ApiToken
from testkit.support import STRONG_PASSWORD, field_errors, https_client, make_user

NEW_PASSWORD = "another-Lantern-orbit-4"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def count(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def sign_in(client: Any, email: str, password: str = STRONG_PASSWORD) -> Any:
    response = client.post("/login", {"username": email, "password": password})
    assert response.status_code == 302, response.content.decode()[:300]
    return response


def all_field_errors(html: str) -> dict[str, list[str]]:
    return {
        name: re.findall(r"<li>(.*?)</li>", body, re.S)
        for name, body in re.findall(r'<ul class="errorlist" id="id_(\w+)_error">(.*?)</ul>', html, re.S)
    }


@pytest.fixture
def ada(db: Any) -> Any:
    return make_user("ada@example.com")


@pytest.fixture
def signed_in(ada: Any) -> Any:
    client = https_client()
    sign_in(client, ada.email)
    return client


# --- signing in and out --------------------------------------------------------------------


@pytest.mark.django_db
def test_login_success_and_failure_each_write_exactly_one_event(ada: Any) -> None:
    client = https_client()
    response = client.post("/login", {"username": ada.email, "password": "wrong-password"})
    assert response.status_code == 200
    assert "Email or password is wrong." in response.content.decode()
    assert ada.email in response.content.decode(), "the email typed is kept in the form"
    assert count("auth.login_failed") == 1
    assert count("auth.login") == 0

    sign_in(client, "  ADA@example.com ")
    assert count("auth.login") == 1
    assert count("auth.login_failed") == 1
    [event] = AuditEvent.objects.filter(action="auth.login")
    assert event.actor_id == str(ada.id)

    client.post("/logout")
    assert count("auth.logout") == 1
    assert client.get("/").status_code == 302
    assert AuditEvent.objects.count() == 3


@pytest.mark.django_db
def test_logout_needs_post_and_ends_the_session(signed_in: Any, ada: Any) -> None:
    assert signed_in.get("/logout").status_code == 405
    assert signed_in.get("/").status_code == 200
    signed_in.post("/logout")
    assert not UserSession.objects.filter(user=ada).exists()
    assert not Session.objects.exists()


@pytest.mark.django_db
def test_login_throttling_locks_the_pair_out_even_with_the_right_password(ada: Any) -> None:
    client = https_client()
    statuses = [
        client.post("/login", {"username": ada.email, "password": f"wrong-{n}"}).status_code for n in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 200], "five failures, each answered as one"

    response = client.post("/login", {"username": ada.email, "password": STRONG_PASSWORD})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert count("auth.login") == 0
    # Another spelling of the same address is the same account, and the same lock.
    assert (
        client.post("/login", {"username": "Ada@Example.COM", "password": STRONG_PASSWORD}).status_code == 429
    )
    assert client.get("/").status_code == 302, "not signed in"

    # One event per failure (the fifth locks the pair out). The refused attempts cost nothing to make,
    # so they are aggregated: the first at once, the second counted into one event when the interval
    # closes (see test_sign_in_spray_from_one_address_is_throttled_and_its_refusals_aggregated).
    failures = list(AuditEvent.objects.filter(action="auth.login_failed").order_by("seq"))
    assert [event.details for event in failures] == [{}, {}, {}, {}, {"locks_out": True}]
    [lockout] = AuditEvent.objects.filter(action="auth.login_locked_out")
    assert lockout.target_label == ada.email
    assert lockout.outcome == "denied"


@pytest.mark.django_db
def test_login_fifth_failure_is_answered_as_a_failure_and_the_sixth_attempt_is_refused(ada: Any) -> None:
    """As docs/accounts.md says: five failures lock the pair out; the fifth is answered as a failure, and
    the next attempt is refused."""
    client = https_client()
    for n in range(4):
        client.post("/login", {"username": ada.email, "password": f"wrong-{n}"})
    fifth = client.post("/login", {"username": ada.email, "password": "wrong-4"})
    assert fifth.status_code == 200
    assert "Email or password is wrong." in fifth.content.decode()
    assert "Too many failed attempts" not in fifth.content.decode()

    sixth = client.post("/login", {"username": ada.email, "password": "wrong-5"})
    assert sixth.status_code == 429
    assert "Too many failed attempts" in sixth.content.decode()
    assert "Email or password is wrong." not in sixth.content.decode()
    # Scripts that ask for JSON get the same answers.
    xhr = https_client(HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    for n in range(4):
        xhr.post("/login", {"username": "bob@example.com", "password": f"wrong-{n}"})
    assert xhr.post("/login", {"username": "bob@example.com", "password": "wrong-4"}).status_code == 200
    assert xhr.post("/login", {"username": "bob@example.com", "password": "wrong-5"}).status_code == 429


@pytest.mark.django_db
def test_sign_in_spray_from_one_address_is_throttled_and_its_refusals_aggregated(
    ada: Any, settings: Any
) -> None:
    """One address trying many accounts is never locked per account; past its allowance of failures
    it is refused before any password is checked, and the audit log grows by a bounded number of
    events however long it goes on."""
    settings.THROTTLE_SIGN_IN_FAILURES = 4
    settings.THROTTLE_INTERVAL_SECONDS = 60
    start = datetime(2031, 5, 4, 12, 0, 15, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        attacker = https_client(REMOTE_ADDR="203.0.113.9")
        statuses = [
            attacker.post("/login", {"username": f"user{n}@example.com", "password": "wrong"}).status_code
            for n in range(40)
        ]
        assert statuses == [200] * 4 + [429] * 36
        refused = attacker.post("/login", {"username": ada.email, "password": STRONG_PASSWORD})
        assert refused.status_code == 429
        assert refused["Retry-After"] == "45"
        assert "Too many failed sign-ins from this address" in refused.content.decode()
        assert count("auth.login") == 0
        # Another address is served as ever.
        sign_in(https_client(REMOTE_ADDR="198.51.100.7"), ada.email)

        assert count("auth.login_failed") == 4
        [throttled] = AuditEvent.objects.filter(action="auth.login_throttled")
        assert throttled.details == {"limit": 4, "interval_seconds": 60, "source": "203.0.113.9"}
        clock.shift(timedelta(seconds=45))
        assert flush_refusals() == 1
        counted = AuditEvent.objects.filter(action="auth.login_throttled").order_by("seq")
        assert [event.details.get("count") for event in counted] == [None, 36]
        # The next interval starts afresh.
        sign_in(attacker, ada.email)


@pytest.mark.django_db
def test_login_lock_is_per_address(ada: Any) -> None:
    attacker = https_client(REMOTE_ADDR="203.0.113.9")
    for n in range(5):
        attacker.post("/login", {"username": ada.email, "password": f"wrong-{n}"})
    assert attacker.post("/login", {"username": ada.email, "password": STRONG_PASSWORD}).status_code == 429
    sign_in(https_client(REMOTE_ADDR="198.51.100.7"), ada.email)


@pytest.mark.django_db
def test_login_never_redirects_off_site(ada: Any) -> None:
    client = https_client()
    response = client.post(
        "/login?next=https://evil.example/", {"username": ada.email, "password": STRONG_PASSWORD}
    )
    assert response["Location"] == "/"
    client.post("/logout")
    response = client.post("/login", {"username": ada.email, "password": STRONG_PASSWORD, "next": "/tokens"})
    assert response["Location"] == "/tokens"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/profile", "/tokens"])
def test_account_pages_need_a_signed_in_user(path: str) -> None:
    response = https_client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login?next={path}"


# --- profile (rule 19) ------------------------------------------------------------------------


@pytest.mark.django_db
def test_profile_page_shows_the_current_details(signed_in: Any) -> None:
    html = signed_in.get("/profile").content.decode()
    assert 'value="Ada"' in html
    assert 'value="Lovelace"' in html
    assert 'value="ada@example.com"' in html
    assert 'href="/profile"' in html and 'href="/tokens"' in html, "navigation links both pages"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "label", "words"),
    [
        ("first_name", "A", "First name", "at least 2 letters"),
        ("first_name", "Ad4", "First name", "letters only"),
        ("first_name", "Ada!", "First name", "letters only"),
        ("last_name", "", "Last name", "at least 1 letter"),
        ("last_name", "L0velace", "Last name", "letters only"),
        ("last_name", "Love_lace", "Last name", "letters only"),
        ("email", "ada-at-example", "Email", "not a valid email"),
        ("email", "ada@", "Email", "not a valid email"),
    ],
)
def test_rule_19_profile_page_shows_each_error_next_to_its_field(
    signed_in: Any, ada: Any, field: str, value: str, label: str, words: str
) -> None:
    data = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", field: value}
    response = signed_in.post("/profile", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert list(all_field_errors(html)) == [field]
    [message] = field_errors(html, field)
    assert message.startswith(label) and words in message
    assert f'aria-describedby="id_{field}_error"' in html
    ada.refresh_from_db()
    assert (ada.first_name, ada.last_name, ada.email) == ("Ada", "Lovelace", "ada@example.com")
    assert count("user.profile_changed") == 0


@pytest.mark.django_db
def test_rule_19_profile_page_reports_every_wrong_field_at_once(signed_in: Any) -> None:
    response = signed_in.post("/profile", {"first_name": "1", "last_name": "#", "email": "x"})
    errors = all_field_errors(response.content.decode())
    assert sorted(errors) == ["email", "first_name", "last_name"]
    assert errors["first_name"][0].startswith("First name")
    assert errors["last_name"][0].startswith("Last name")
    assert errors["email"][0].startswith("Email")


@pytest.mark.django_db
def test_profile_page_saves_valid_details_with_one_event(signed_in: Any, ada: Any) -> None:
    response = signed_in.post(
        "/profile", {"first_name": "Augusta", "last_name": "King", "email": "ADA@example.org"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/profile"
    ada.refresh_from_db()
    assert (ada.first_name, ada.last_name, ada.email) == ("Augusta", "King", "ada@example.org")
    assert "Profile saved." in signed_in.get("/profile").content.decode()
    [event] = AuditEvent.objects.filter(action="user.profile_changed")
    assert event.details == {"fields": ["email", "first_name", "last_name"]}


@pytest.mark.django_db
def test_profile_page_refuses_an_email_in_use(signed_in: Any) -> None:
    make_user("bob@example.com")
    response = signed_in.post(
        "/profile", {"first_name": "Ada", "last_name": "Lovelace", "email": "bob@example.com"}
    )
    assert field_errors(response.content.decode(), "email") == ["Email is already used by another account."]


@pytest.mark.django_db
def test_profile_page_ignores_fields_it_does_not_offer(signed_in: Any, ada: Any) -> None:
    response = signed_in.post(
        "/profile",
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "user_type": "staff",
            "is_active": "false",
        },
    )
    assert response.status_code == 302
    ada.refresh_from_db()
    assert ada.user_type == "standard" and ada.is_active


# --- password change ----------------------------------------------------------------------------


def password_data(
    current: str = STRONG_PASSWORD, new: str = NEW_PASSWORD, repeat: str | None = None
) -> dict[str, str]:
    return {
        "current_password": current,
        "new_password": new,
        "new_password_repeat": new if repeat is None else repeat,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (password_data(new="Short-1"), "new_password", "too short"),
        (password_data(new="password1234"), "new_password", "too common"),
        (password_data(new="483920175564"), "new_password", "entirely numeric"),
        (password_data(new="ada@example.com!"), "new_password", "too similar"),
        (password_data(current="not-my-password"), "current_password", "not your current password"),
        (password_data(repeat="something-Else-42"), "new_password_repeat", "does not match"),
    ],
)
def test_rule_19_password_errors_name_the_field(
    signed_in: Any, ada: Any, data: dict[str, str], field: str, words: str
) -> None:
    response = signed_in.post("/profile/password", data)
    assert response.status_code == 400
    html = response.content.decode()
    errors = all_field_errors(html)
    assert list(errors) == [field]
    assert all(message.startswith(("New password", "Current password")) for message in errors[field])
    assert words in " ".join(errors[field])
    assert NEW_PASSWORD not in html and STRONG_PASSWORD not in html, "passwords are never echoed"
    ada.refresh_from_db()
    assert ada.check_password(STRONG_PASSWORD)
    assert signed_in.get("/").status_code == 200
    assert count("user.password_changed") == 0


@pytest.mark.django_db
def test_rule_17_password_change_ends_every_session_this_browser_included(signed_in: Any, ada: Any) -> None:
    other_browser = https_client()
    sign_in(other_browser, ada.email)
    other_cookie = other_browser.cookies["__Host-causeway-session"].value

    response = signed_in.post("/profile/password", password_data())

    assert response.status_code == 302
    assert response["Location"] == "/login"
    assert "Password changed" in signed_in.get("/login").content.decode()
    assert signed_in.get("/profile").status_code == 302
    assert other_browser.get("/profile")["Location"] == "/login?next=/profile"
    thief = https_client()
    thief.cookies["__Host-causeway-session"] = other_cookie
    assert thief.get("/").status_code == 302
    assert not Session.objects.exists()
    assert count("user.password_changed") == 1
    sign_in(https_client(), ada.email, NEW_PASSWORD)


# --- API tokens ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rule_17_token_page_shows_the_secret_once_and_stores_only_a_hash(signed_in: Any, ada: Any) -> None:
    response = signed_in.post("/tokens", {"name": "deploy bot", "expires_in_days": "30"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = re.search(
        r'<p class="secret" id="token-secret">(cw_[^<]+)</p>', response.content.decode()
    ).group(1)
    token = ApiToken.objects.get(user=ada)
    assert tokens.token_verify(secret) == token

    listing = signed_in.get("/tokens").content.decode()
    assert "deploy bot" in listing and token.prefix in listing
    assert secret not in listing
    # The part after the shown prefix (it may itself hold "_": it is URL-safe base64).
    assert secret.split("_", 2)[2] not in listing
    assert secret not in str(list(ApiToken.objects.values_list()))
    assert count("api_token.created") == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"name": "", "expires_in_days": "30"}, "name", "Token name"),
        ({"name": "ci", "expires_in_days": "0"}, "expires_in_days", "Expiry"),
        ({"name": "ci", "expires_in_days": "366"}, "expires_in_days", "Expiry"),
        ({"name": "ci", "expires_in_days": "soon"}, "expires_in_days", "Expiry"),
    ],
)
def test_token_page_errors_name_the_field(
    signed_in: Any, data: dict[str, str], field: str, words: str
) -> None:
    response = signed_in.post("/tokens", data)
    assert response.status_code == 400
    errors = all_field_errors(response.content.decode())
    assert list(errors) == [field]
    assert errors[field][0].startswith(words)
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_rule_17_token_page_revokes_and_the_token_stops_at_once(signed_in: Any, ada: Any) -> None:
    token, secret = tokens.token_create(actor=ada, name="ci", expires_in_days=5)
    api = https_client()
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    assert signed_in.get(f"/tokens/{token.id}/revoke").status_code == 405

    response = signed_in.post(f"/tokens/{token.id}/revoke")

    assert response.status_code == 302
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    assert "revoked" in signed_in.get("/tokens").content.decode()
    assert count("api_token.revoked") == 1


@pytest.mark.django_db
def test_token_page_cannot_touch_another_users_token(signed_in: Any) -> None:
    bob = make_user("bob@example.com")
    token, secret = tokens.token_create(actor=bob, name="bobs", expires_in_days=5)
    assert signed_in.post(f"/tokens/{token.id}/revoke").status_code == 404
    assert "bobs" not in signed_in.get("/tokens").content.decode()
    assert tokens.token_verify(secret) is not None


@pytest.mark.django_db
def test_forms_without_a_csrf_token_are_refused(ada: Any) -> None:
    browser = https_client(enforce_csrf_checks=True)
    browser.force_login(ada)
    for path, data in [
        ("/profile", {"first_name": "Eve", "last_name": "X", "email": "eve@example.com"}),
        ("/profile/password", password_data()),
        ("/tokens", {"name": "x", "expires_in_days": "5"}),
    ]:
        assert browser.post(path, data).status_code == 403
    ada.refresh_from_db()
    assert ada.first_name == "Ada" and ada.check_password(STRONG_PASSWORD)
    assert not ApiToken.objects.exists()


# --- in a real browser against the real server ---------------------------------------------------
# These name `transactional_db` as well as the marker: the audit tables' append-only triggers are
# lifted for the end-of-test flush only when that fixture is named.


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright. Playwright's sync API runs an event loop in this thread,
    so tests touch the database only before entering and after leaving this block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def browser_sign_in(page: Any, base: str, email: str, password: str = STRONG_PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_rule_19_browser_profile_error_names_the_field_then_saves(
    https_server: Any, transactional_db: Any
) -> None:
    user = make_user("grace@example.com", first="Grace", last="Hopper")
    base = https_server.url
    with chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        browser_sign_in(page, base, user.email)

        page.goto(f"{base}/profile")
        page.fill("#id_first_name", "Gr4ce")
        page.click("button:has-text('Save profile')")
        error = page.locator("#id_first_name_error")
        error.wait_for()
        assert error.inner_text().startswith("First name may contain letters only")
        assert page.locator("#id_first_name").get_attribute("aria-invalid") == "true"
        assert page.locator("#id_last_name_error").count() == 0

        page.fill("#id_first_name", "Amazing")
        page.click("button:has-text('Save profile')")
        page.locator("text=Profile saved.").wait_for()
        assert page.locator("#id_first_name").input_value() == "Amazing"

    user.refresh_from_db()
    assert user.first_name == "Amazing"
    assert count("user.profile_changed") == 1


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_rule_17_browser_password_change_ends_the_other_browsers_session_and_this_one(
    https_server: Any, transactional_db: Any
) -> None:
    user = make_user("grace@example.com", first="Grace", last="Hopper")
    base = https_server.url
    with chromium() as browser:
        here = browser.new_context(ignore_https_errors=True).new_page()
        there = browser.new_context(ignore_https_errors=True).new_page()
        browser_sign_in(here, base, user.email)
        browser_sign_in(there, base, user.email)
        there.goto(f"{base}/profile")
        assert there.url == f"{base}/profile"

        here.goto(f"{base}/profile")
        here.fill("#id_current_password", STRONG_PASSWORD)
        here.fill("#id_new_password", NEW_PASSWORD)
        here.fill("#id_new_password_repeat", NEW_PASSWORD)
        here.click("button:has-text('Change password')")
        here.wait_for_url(f"{base}/login")
        assert "Password changed" in here.content()

        there.goto(f"{base}/profile")
        assert there.url == f"{base}/login?next=/profile"
        here.goto(f"{base}/tokens")
        assert here.url == f"{base}/login?next=/tokens"
        browser_sign_in(there, base, user.email, NEW_PASSWORD)

    assert count("user.password_changed") == 1
    assert UserSession.objects.filter(user=user).count() == 1, "only the new sign-in"
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
