"""The workspace audit log page and its "verify now" button: Admins only, filters, pages, escaping."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from causeway.audit.models import AuditEvent, Outcome
from causeway.audit.services import Actor
from causeway.audit.tests.fixtures import (  # noqa: F401
    People,
    checkpoint_file,
    people_fixture,
    record,
    system_roles,
)
from causeway.audit.tests.tamper import set_sealed
from causeway.audit.triggers import HEAD_TABLE, TABLES, drop_sql
from testkit.support import https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("system_roles")]


def signed_in(user: Any) -> Any:
    client = https_client()
    client.force_login(user)
    return client


def seqs_on(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="event-(\d+)"', html)]


def test_admin_sees_the_workspace_log_newest_first(people: People) -> None:
    for n in range(1, 4):
        record(people.acme.id, f"thing.step_{n}")
    record(people.globex.id, "globex.private")
    response = signed_in(people.admin).get("/w/acme/audit")
    assert response.status_code == 200
    html = response.content.decode()
    assert seqs_on(html) == [3, 2, 1]
    assert "thing.step_3" in html
    assert "globex.private" not in html
    assert "Verify now" in html


@pytest.mark.parametrize(
    ("who", "status"),
    [("analyst", 403), ("operator", 403), ("outsider", 404), ("staff", 404)],
)
def test_only_workspace_admins_see_the_log(people: People, who: str, status: int) -> None:
    record(people.acme.id, "thing.secret", target=("thing", "1", "confidential-target"))
    client = signed_in(getattr(people, who))
    for method, path in (("get", "/w/acme/audit"), ("post", "/w/acme/audit/verify")):
        response = getattr(client, method)(path)
        assert response.status_code == status
        assert b"confidential-target" not in response.content
    if status == 403:
        assert b"audit:view" in response.content


def test_a_refused_member_is_audited(people: People) -> None:
    signed_in(people.analyst).get("/w/acme/audit")
    denial = AuditEvent.objects.get(action="access.denied")
    assert denial.workspace_id == people.acme.id
    assert denial.actor_label == "analyst@acme.example"
    assert denial.details == {"permission": "audit:view", "path": "/w/acme/audit"}


def test_anonymous_is_sent_to_log_in(people: People) -> None:
    response = https_client().get("/w/acme/audit")
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=/w/acme/audit")


def test_filters_by_action_actor_outcome_and_days(people: People) -> None:
    ada = Actor(type="user", id="u-ada", label="ada@acme.example")
    bob = Actor(type="user", id="u-bob", label="bob@acme.example")
    record(people.acme.id, "user.created", actor=ada)
    record(people.acme.id, "user.profile_changed", actor=bob, outcome=Outcome.FAILURE)
    record(people.acme.id, "recipe.created", actor=bob)
    client = signed_in(people.admin)
    assert seqs_on(client.get("/w/acme/audit", {"action": "user."}).content.decode()) == [2, 1]
    assert seqs_on(client.get("/w/acme/audit", {"actor": "BOB@"}).content.decode()) == [3, 2]
    assert seqs_on(client.get("/w/acme/audit", {"actor": "u-ada"}).content.decode()) == [1]
    assert seqs_on(client.get("/w/acme/audit", {"outcome": "failure"}).content.decode()) == [2]
    today = timezone.now().date()
    in_range = {"since": str(today - timedelta(days=1)), "until": str(today)}
    assert seqs_on(client.get("/w/acme/audit", in_range).content.decode()) == [3, 2, 1]
    tomorrow = str(today + timedelta(days=1))
    assert seqs_on(client.get("/w/acme/audit", {"since": tomorrow}).content.decode()) == []


def test_bad_filters_name_the_field(people: People) -> None:
    record(people.acme.id, "user.created")
    client = signed_in(people.admin)
    response = client.get("/w/acme/audit", {"since": "2026-05-02", "until": "2026-05-01"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Until: must not be before the first day" in html
    assert seqs_on(html) == []
    html = client.get("/w/acme/audit", {"outcome": "maybe"}).content.decode()
    assert "Outcome: Select a valid choice" in html
    html = client.get("/w/acme/audit", {"since": "yesterday"}).content.decode()
    assert "Since: Enter a valid date." in html


def test_log_is_paginated_and_pages_keep_the_filters(people: People) -> None:
    for n in range(60):
        record(people.acme.id, "thing.even" if n % 2 == 0 else "thing.odd")
    record(people.acme.id, "other.one")
    client = signed_in(people.admin)
    first = client.get("/w/acme/audit").content.decode()
    assert seqs_on(first) == list(range(61, 11, -1))
    assert "Page 1 of 2 · 61 events" in first
    second = client.get("/w/acme/audit", {"page": 2}).content.decode()
    assert seqs_on(second) == list(range(11, 0, -1))
    filtered = client.get("/w/acme/audit", {"action": "thing."}).content.decode()
    assert 'href="?action=thing.&amp;page=2"' in filtered
    assert seqs_on(client.get("/w/acme/audit", {"action": "thing.", "page": 2}).content.decode()) == list(
        range(10, 0, -1)
    )
    # A page past the end shows the last page rather than an error.
    assert seqs_on(client.get("/w/acme/audit", {"page": 99}).content.decode()) == list(range(11, 0, -1))


def test_user_text_is_never_rendered_unescaped(people: People) -> None:
    record(
        people.acme.id,
        "thing.created",
        actor=Actor(type="user", id="x", label='<img src=x onerror="alert(1)">'),
        target=("thing", "1", "<script>alert('t')</script>"),
        details={"name": "</pre><script>alert('d')</script>"},
    )
    html = signed_in(people.admin).get("/w/acme/audit").content.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt;" in html
    assert "&lt;/pre&gt;&lt;script&gt;" in html


def test_hostile_user_agent_and_email_from_a_request_are_stored_escaped(people: People) -> None:
    hostile = "evil\r\nINFO forged\x1b[2J\u2028\u202egnp.exe"
    https_client().post(
        "/login",
        {"username": f"{hostile}@acme.example", "password": "wrong-password-123"},
        HTTP_USER_AGENT=f"Mozilla {hostile}",
    )
    event = AuditEvent.objects.get(action="auth.login_failed")
    escaped = "evil\\u000d\\u000aINFO forged\\u001b[2J\\u2028\\u202egnp.exe"
    assert event.user_agent == f"Mozilla {escaped}"
    # The login form lower-cases the email before anything else sees it.
    assert event.target_label == f"{escaped.lower()}@acme.example"
    assert event.request_id and event.ip_address == "127.0.0.1"


def test_verify_now_reports_an_intact_chain(people: People) -> None:
    for n in range(3):
        record(people.acme.id, f"thing.step_{n}")
    response = signed_in(people.admin).post("/w/acme/audit/verify")
    assert response.status_code == 200
    assert "Intact: all 3 events verified in sequence." in response.content.decode()


def _drop_triggers() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in (*TABLES, HEAD_TABLE):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            for statement in drop_sql(connection.vendor):
                cursor.execute(statement)


def test_verify_now_names_the_first_bad_event_of_a_tampered_chain(people: People) -> None:
    events = [record(people.acme.id, f"thing.step_{n}") for n in range(1, 6)]
    _drop_triggers()
    # The label is sealed: the forger writes one sealed for that very row, so only the MAC can tell.
    set_sealed(events[0].chain, 3, "target_label", "hidden")
    html = signed_in(people.admin).post("/w/acme/audit/verify").content.decode()
    assert "The audit chain is broken." in html
    assert "<dt>First bad event</dt><dd>seq 3</dd>" in html
    assert f"<code>{events[2].id}</code>" in html
    assert "<code>thing.step_3</code>" in html
    assert "changed: its content does not match its MAC" in html


def test_verify_needs_a_post_with_a_csrf_token(people: People) -> None:
    client = signed_in(people.admin)
    assert client.get("/w/acme/audit/verify").status_code == 405
    strict = https_client(enforce_csrf_checks=True)
    strict.force_login(people.admin)
    assert strict.post("/w/acme/audit/verify").status_code == 403
