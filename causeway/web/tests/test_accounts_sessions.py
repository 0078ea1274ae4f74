"""Rule 17: sessions end after the strictest inactivity timeout of the user's workspaces, server-side."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from causeway.accounts.models import UserSession
from causeway.accounts.sessions import LAST_SEEN_RESOLUTION, SIGNED_IN
from causeway.workspaces.middleware import LAST_SEEN
from testkit.support import STRONG_PASSWORD, https_client, make_user, make_workspace

pytestmark = pytest.mark.django_db
COOKIE = settings.SESSION_COOKIE_NAME


def sign_in(client: Any, email: str) -> None:
    response = client.post("/login", {"username": email, "password": STRONG_PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def with_timeout(name: str, user: Any, timeout: timedelta) -> Any:
    workspace = make_workspace(name, members={user: "analyst"})
    workspace.session_timeout = timeout
    workspace.save(update_fields=["session_timeout"])
    return workspace


def replay(cookie: str) -> Any:
    """A second client that only holds a copy of the cookie, as an attacker who stole it would."""
    thief = https_client()
    thief.cookies[COOKIE] = cookie
    return thief


def test_rule_17_idle_session_is_refused_after_the_workspace_timeout_even_when_replayed(clock: Any) -> None:
    user = make_user("ada@example.com")
    with_timeout("Acme", user, timedelta(minutes=15))
    browser = https_client()
    sign_in(browser, user.email)
    cookie = browser.cookies[COOKIE].value
    assert replay(cookie).get("/").status_code == 200, "a fresh copy of the cookie works, as a control"

    clock.shift(timedelta(minutes=15, seconds=30))

    response = browser.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login")
    assert replay(cookie).get("/").status_code == 302
    assert replay(cookie).get("/api/v1/me").status_code == 401
    assert not Session.objects.filter(session_key=cookie, expire_date__gt=timezone.now()).exists()


def test_rule_17_the_server_side_stamp_decides_not_the_cookie_or_its_expiry() -> None:
    """Moving the stored last-seen stamp back (the cookie and the row's own expiry untouched) ends it."""
    user = make_user("ada@example.com")
    with_timeout("Acme", user, timedelta(hours=1))
    browser = https_client()
    sign_in(browser, user.email)
    cookie = browser.cookies[COOKIE].value
    store = browser.session
    assert store.get_expiry_age() <= 3600
    store[LAST_SEEN] = store[LAST_SEEN] - 3601
    store.set_expiry(timedelta(days=14))
    store.save()

    assert replay(cookie).get("/").status_code == 302
    assert not Session.objects.filter(session_key=cookie).exists()


def test_rule_17_the_strictest_timeout_of_several_workspaces_applies(clock: Any) -> None:
    ada = make_user("ada@example.com")
    bob = make_user("bob@example.com")
    relaxed = make_workspace("Relaxed", members={ada: "analyst", bob: "operator"})
    relaxed.session_timeout = timedelta(days=1)
    relaxed.save(update_fields=["session_timeout"])
    browsers = {}
    for user in (ada, bob):
        browsers[user.email] = https_client()
        sign_in(browsers[user.email], user.email)

    # Joining a stricter workspace applies to a session already running, whose stored row
    # was given a day, at once.
    with_timeout("Strict", ada, timedelta(minutes=30))
    clock.shift(timedelta(minutes=31))

    assert browsers[bob.email].get("/").status_code == 200, "one day allows 31 idle minutes"
    assert browsers[ada.email].get("/").status_code == 302, "30 minutes, the strictest, do not"


def test_rule_17_a_session_in_use_is_not_ended(clock: Any) -> None:
    user = make_user("ada@example.com")
    with_timeout("Acme", user, timedelta(minutes=15))
    browser = https_client()
    sign_in(browser, user.email)
    for _ in range(12):
        clock.shift(timedelta(minutes=10))
        assert browser.get("/").status_code == 200


def test_rule_17_without_a_workspace_the_default_of_seven_days_applies(clock: Any) -> None:
    user = make_user("ada@example.com")
    browser = https_client()
    sign_in(browser, user.email)
    clock.shift(timedelta(days=6, hours=23))
    assert browser.get("/").status_code == 200
    clock.shift(timedelta(days=7, minutes=1))
    assert browser.get("/").status_code == 302


def test_rule_17_a_session_signed_in_and_never_used_still_ends_on_time(clock: Any) -> None:
    user = make_user("ada@example.com")
    with_timeout("Acme", user, timedelta(minutes=15))
    browser = https_client()
    response = browser.post("/login", {"username": user.email, "password": STRONG_PASSWORD})
    assert response.status_code == 302
    stored = Session.objects.get(session_key=browser.cookies[COOKIE].value)
    assert stored.get_decoded()[LAST_SEEN] == timezone.now().timestamp()
    assert stored.expire_date == timezone.now() + timedelta(minutes=15)
    clock.shift(timedelta(minutes=16))
    assert browser.get("/").status_code == 302


def test_rule_17_an_idle_api_session_answers_401(clock: Any) -> None:
    user = make_user("ada@example.com")
    with_timeout("Acme", user, timedelta(minutes=15))
    browser = https_client()
    sign_in(browser, user.email)
    assert browser.get("/api/v1/me").status_code == 200
    clock.shift(timedelta(minutes=16))
    assert browser.get("/api/v1/me").status_code == 401


POLL = {"HX-Request": "true", "X-Causeway-Poll": "true"}


def test_rule_17_a_live_page_polling_by_itself_does_not_keep_its_session_alive(clock: Any) -> None:
    user = make_user("ada@example.com")
    with_timeout("Acme", user, timedelta(minutes=15))
    browser = https_client()
    sign_in(browser, user.email)
    # The Dashboard left open polls every 30 s; nobody looks at it.
    for _ in range(28):
        clock.shift(timedelta(seconds=30))
        assert browser.get("/w/acme/", headers=POLL).status_code == 200
    clock.shift(timedelta(seconds=61))
    expired = browser.get("/w/acme/", headers=POLL)
    # The page is sent to the login page as a whole, rather than its live part replaced by a form.
    assert expired.status_code == 200 and expired.content == b""
    assert expired["HX-Redirect"] == "/login?next=/w/acme/"
    assert browser.get("/w/acme/").status_code == 302
    # A poll from a page whose session was never there, or was ended by signing out, goes the same way.
    assert https_client().get("/w/acme/jobs", headers=POLL)["HX-Redirect"] == "/login?next=/w/acme/jobs"


def test_the_poll_header_alone_changes_no_answer_and_never_an_api_one(clock: Any) -> None:
    """Only a live page's own htmx poll is sent to the login page by HX-Redirect; an API call says 401
    in JSON with the header or without, and a page asked for without htmx is redirected as ever."""
    anonymous = https_client()
    for headers in ({"X-Causeway-Poll": "true"}, POLL):
        api = anonymous.get("/api/v1/me", headers=headers)
        assert api.status_code == 401 and "HX-Redirect" not in api, headers
        assert api["Content-Type"].startswith("application/json") and api.json()["detail"]
    page = anonymous.get("/w/acme/jobs", headers={"X-Causeway-Poll": "true"})
    assert page.status_code == 302 and "HX-Redirect" not in page
    assert page["Location"] == "/login?next=/w/acme/jobs"
    # A session that went idle: its API call is refused as an API call, poll header or not.
    user = make_user("ada@example.com")
    with_timeout("Acme", user, timedelta(minutes=15))
    browser = https_client()
    sign_in(browser, user.email)
    clock.shift(timedelta(minutes=16))
    idle = browser.get("/api/v1/me", headers=POLL)
    assert idle.status_code == 401 and "HX-Redirect" not in idle and idle.json()["detail"]


def test_rule_17_what_a_person_does_on_a_live_page_keeps_the_session(clock: Any) -> None:
    user = make_user("ada@example.com")
    with_timeout("Acme", user, timedelta(minutes=15))
    browser = https_client()
    sign_in(browser, user.email)
    for _ in range(3):
        clock.shift(timedelta(minutes=10))
        assert browser.get("/w/acme/", headers=POLL).status_code == 200
        # The person follows a link: that is activity.
        assert browser.get("/w/acme/jobs").status_code == 200


def test_a_sessions_last_seen_is_written_at_most_every_five_minutes(clock: Any) -> None:
    user = make_user("ada@example.com")
    with_timeout("Acme", user, timedelta(hours=1))
    browser = https_client()
    sign_in(browser, user.email)
    signed_in = UserSession.objects.get(user=user).last_seen_at
    for _ in range(4):
        clock.shift(timedelta(minutes=1, seconds=5))
        assert browser.get("/profile").status_code == 200
        assert UserSession.objects.get(user=user).last_seen_at == signed_in
    clock.shift(timedelta(minutes=1, seconds=5))
    assert browser.get("/profile").status_code == 200
    assert UserSession.objects.get(user=user).last_seen_at == timezone.now()
    assert LAST_SEEN_RESOLUTION == timedelta(minutes=5)


def test_a_session_in_use_ends_at_its_absolute_lifetime_and_a_new_sign_in_starts_another(
    clock: Any, settings: Any
) -> None:
    """ASVS 7.3.2: however busy a session is, it ends SESSION_LIFETIME after its sign-in."""
    settings.SESSION_LIFETIME = timedelta(hours=8)
    user = make_user("ada@example.com")
    with_timeout("Acme", user, timedelta(hours=1))
    browser = https_client()
    sign_in(browser, user.email)
    cookie = browser.cookies[COOKIE].value
    for _ in range(15):
        clock.shift(timedelta(minutes=30))
        assert browser.get("/").status_code == 200, "in use and within its lifetime"
    clock.shift(timedelta(minutes=30, seconds=1))

    assert replay(cookie).get("/api/v1/me").json()["detail"].startswith("Session ended: it was signed in")
    assert browser.get("/").status_code == 302
    assert not Session.objects.filter(session_key=cookie).exists()
    # Signing in again starts the count afresh.
    sign_in(browser, user.email)
    for _ in range(2):
        clock.shift(timedelta(minutes=30))
        assert browser.get("/").status_code == 200


def test_the_absolute_lifetime_is_kept_server_side_not_in_the_cookie(settings: Any) -> None:
    settings.SESSION_LIFETIME = timedelta(hours=1)
    user = make_user("ada@example.com")
    browser = https_client()
    sign_in(browser, user.email)
    cookie = browser.cookies[COOKIE].value
    store = browser.session
    store[SIGNED_IN] = store[SIGNED_IN] - 3601
    store.save()
    assert replay(cookie).get("/").status_code == 302
    assert not Session.objects.filter(session_key=cookie).exists()
