"""The sessions page, API and command: a person sees their own sessions (browser, address, last seen)
and ends any of them; an Admin ends every session of a member; nobody reaches anyone else's."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.management import call_command

from causeway.audit.models import AuditEvent
from causeway.workspaces import tokens
from testkit.support import STRONG_PASSWORD, https_client, make_user, make_workspace

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36"
HANDLE = re.compile(r'id="session-([0-9a-f]{16})"')


def signed_in(email: str, user_agent: str, address: str = "127.0.0.1") -> Any:
    client = https_client()
    client.defaults.update({"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": address})
    response = client.post("/login", {"username": email, "password": STRONG_PASSWORD})
    assert response.status_code == 302
    return client


def handles(page: str) -> list[str]:
    return HANDLE.findall(page)


def test_a_person_sees_their_sessions_and_ends_one_elsewhere() -> None:
    make_user("ada@example.com")
    desk = signed_in("ada@example.com", FIREFOX)
    phone = signed_in("ada@example.com", CHROME, "192.0.2.7")
    page = desk.get("/profile/sessions").content.decode()
    assert "Firefox on Linux" in page and "(this browser)" in page
    assert "Chrome on Windows" in page and "192.0.2.7" in page
    listed = handles(page)
    assert len(listed) == 2
    phone_handle = next(h for h in listed if f'id="session-{h}"' in page.split("Chrome on Windows")[0][-400:])
    ended = desk.post(f"/profile/sessions/{phone_handle}/end")
    assert ended.status_code == 302 and ended["Location"] == "/profile/sessions"
    assert phone.get("/profile").status_code == 302, "the phone's cookie finds no session any more"
    assert desk.get("/profile").status_code == 200
    assert handles(desk.get("/profile/sessions").content.decode()) == [h for h in listed if h != phone_handle]
    [event] = AuditEvent.objects.filter(action="session.ended")
    assert event.details == {"device": "Chrome on Windows"}


def test_ending_this_browsers_session_signs_it_out() -> None:
    make_user("ada@example.com")
    desk = signed_in("ada@example.com", FIREFOX)
    [handle] = handles(desk.get("/profile/sessions").content.decode())
    response = desk.post(f"/profile/sessions/{handle}/end")
    assert response.status_code == 302 and response["Location"] == "/login"
    assert desk.get("/profile").status_code == 302


def test_nobody_ends_anyone_elses_session_by_its_handle() -> None:
    make_user("ada@example.com")
    bob_user = make_user("bob@example.com", first="Bob", last="Smith")
    ada = signed_in("ada@example.com", FIREFOX)
    bob = signed_in("bob@example.com", CHROME)
    [ada_handle] = handles(ada.get("/profile/sessions").content.decode())
    assert bob.post(f"/profile/sessions/{ada_handle}/end").status_code == 404
    assert ada.get("/profile").status_code == 200
    _, secret = tokens.token_create(actor=bob_user, name="cli", expires_in_days=1)
    api = https_client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.delete(f"/api/v1/me/sessions/{ada_handle}").status_code == 404
    assert ada.get("/profile").status_code == 200


def test_the_api_lists_and_ends_ones_own_sessions() -> None:
    ada = make_user("ada@example.com")
    desk = signed_in("ada@example.com", FIREFOX, "198.51.100.4")
    _, secret = tokens.token_create(actor=ada, name="cli", expires_in_days=1)
    api = https_client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    [listed] = api.get("/api/v1/me/sessions").json()
    assert listed["device"] == "Firefox on Linux" and listed["address"] == "198.51.100.4"
    assert listed["current"] is False and set(listed) == {
        "handle", "device", "address", "created_at", "last_seen_at", "current"
    }  # fmt: skip
    assert api.delete(f"/api/v1/me/sessions/{listed['handle']}").status_code == 204
    assert desk.get("/profile").status_code == 302
    assert api.get("/api/v1/me/sessions").json() == []


def test_an_admin_ends_every_session_of_a_member_and_others_cannot() -> None:
    admin = make_user("ada@example.com")
    member = make_user("bob@example.com", first="Bob", last="Smith")
    analyst = make_user("cy@example.com", first="Cy", last="Jones")
    workspace = make_workspace("Acme", members={admin: "admin", member: "operator", analyst: "analyst"})
    membership = workspace.memberships.get(user=member)
    bob_desk, bob_phone = signed_in(member.email, FIREFOX), signed_in(member.email, CHROME)
    refused = signed_in(analyst.email, FIREFOX).post(
        f"/w/{workspace.slug}/members/{membership.pk}/sessions/end"
    )
    assert refused.status_code == 403
    assert bob_desk.get("/profile").status_code == 200
    done = signed_in(admin.email, FIREFOX).post(f"/w/{workspace.slug}/members/{membership.pk}/sessions/end")
    assert done.status_code == 302
    assert bob_desk.get("/profile").status_code == 302 and bob_phone.get("/profile").status_code == 302
    [event] = AuditEvent.objects.filter(action="session.ended_all")
    assert event.actor_id == str(admin.id) and event.target_id == str(member.id)
    assert str(event.workspace_id) == str(workspace.id) and event.details == {"sessions_ended": 2}
    # Through the API, with the Admin's token: the count of sessions ended.
    signed_in(member.email, FIREFOX)
    _, secret = tokens.token_create(actor=admin, name="cli", expires_in_days=1)
    api = https_client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    answer = api.delete(f"/api/v1/workspaces/{workspace.slug}/members/{membership.pk}/sessions")
    assert answer.status_code == 200 and answer.json() == {"sessions_ended": 1}


def test_the_operator_lists_and_ends_a_users_sessions_from_the_shell() -> None:
    make_user("ada@example.com")
    desk = signed_in("ada@example.com", FIREFOX, "203.0.113.9")
    out = io.StringIO()
    call_command("users", "sessions", "ada@example.com", stdout=out)
    assert re.fullmatch(
        r"[0-9a-f]{16}  Firefox on Linux  203\.0\.113\.9  last seen \d{4}-\d\d-\d\d \d\d:\d\d\n",
        out.getvalue(),
    )
    out = io.StringIO()
    call_command("users", "end-sessions", "ada@example.com", stdout=out)
    assert out.getvalue() == "Ended 1 session(s) of ada@example.com.\n"
    assert desk.get("/profile").status_code == 302
    out = io.StringIO()
    call_command("users", "sessions", "ada@example.com", stdout=out)
    assert out.getvalue() == "ada@example.com has no sessions.\n"
