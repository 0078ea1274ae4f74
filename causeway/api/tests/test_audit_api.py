"""The audit API: a workspace's events (paginated, filtered) and verifying its chain, Admins only."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from causeway.accounts.models import User
from causeway.audit.models import Outcome
from causeway.audit.services import Actor
from causeway.audit.tests.fixtures import (  # noqa: F401
    People,
    checkpoint_file,
    people_fixture,
    record,
    system_roles,
)
from causeway.audit.triggers import HEAD_TABLE, TABLES, drop_sql
from causeway.vault import mac
from causeway.workspaces.tokens import token_create
from testkit.support import https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("system_roles")]


def api(user: User | None = None) -> Any:
    client = https_client()
    if user is not None:
        client.force_login(user)
    return client


def events_url(people: People) -> str:
    return f"/api/v1/workspaces/{people.acme.id}/audit-events"


def test_admin_lists_events_newest_first_with_their_fields(people: People) -> None:
    first = record(
        people.acme.id,
        "user.created",
        actor=Actor(type="user", id="u1", label="ada@acme.example"),
        target=("user", "u2", "bob@acme.example"),
        details={"user_type": "standard"},
    )
    record(people.acme.id, "user.profile_changed")
    record(people.globex.id, "globex.private")
    body = api(people.admin).get(events_url(people)).json()
    assert body["count"] == 2
    assert [item["seq"] for item in body["items"]] == [2, 1]
    item = body["items"][1]
    assert item["id"] == str(first.id)
    assert item["actor_label"] == "ada@acme.example"
    assert (item["target_type"], item["target_id"], item["target_label"]) == (
        "user",
        "u2",
        "bob@acme.example",
    )
    assert item["details"] == {"user_type": "standard"}
    assert item["outcome"] == "success"
    assert item["mac_key_id"] == first.mac_key_id
    assert "mac" not in item and "prev_mac" not in item


def test_list_is_paginated(people: People) -> None:
    for _ in range(55):
        record(people.acme.id, "thing.done")
    client = api(people.admin)
    first = client.get(events_url(people)).json()
    assert (first["count"], len(first["items"]), first["items"][0]["seq"]) == (55, 50, 55)
    second = client.get(events_url(people), {"page": 2}).json()
    assert [item["seq"] for item in second["items"]] == [5, 4, 3, 2, 1]
    small = client.get(events_url(people), {"page": 3, "page_size": 10}).json()
    assert [item["seq"] for item in small["items"]] == list(range(35, 25, -1))


def test_list_filters(people: People) -> None:
    bob = Actor(type="user", id="u-bob", label="bob@acme.example")
    record(people.acme.id, "user.created")
    record(people.acme.id, "user.profile_changed", actor=bob, outcome=Outcome.DENIED)
    record(people.acme.id, "recipe.created", actor=bob)
    client = api(people.admin)

    def seqs(**query: str) -> list[int]:
        response = client.get(events_url(people), query)
        assert response.status_code == 200, response.content
        return [item["seq"] for item in response.json()["items"]]

    assert seqs(action="user.") == [2, 1]
    assert seqs(actor="bob@") == [3, 2]
    assert seqs(actor="u-bob", outcome="denied") == [2]
    today = timezone.now().date()
    assert seqs(since=str(today), until=str(today)) == [3, 2, 1]
    assert seqs(until=str(today - timedelta(days=1))) == []


def test_bad_filters_are_400_naming_the_field(people: People) -> None:
    client = api(people.admin)
    response = client.get(events_url(people), {"outcome": "maybe"})
    assert response.status_code == 400
    assert response.json()["detail"] == "outcome: must be one of success, failure, denied"
    response = client.get(events_url(people), {"since": "2026-05-02", "until": "2026-05-01"})
    assert response.status_code == 400
    assert response.json()["detail"] == "until: must not be before since"
    assert client.get(events_url(people), {"since": "soon"}).status_code == 422


def test_a_bearer_token_works_as_well_as_the_session(people: People) -> None:
    record(people.acme.id, "thing.done")
    with transaction.atomic():
        _, secret = token_create(actor=people.admin, name="ci", expires_in_days=1)
    response = https_client().get(events_url(people), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert response.json()["count"] == 1


@pytest.mark.parametrize(
    ("who", "status"),
    [("analyst", 403), ("operator", 403), ("outsider", 404), ("staff", 404), (None, 401)],
)
def test_only_workspace_admins_reach_the_audit_api(people: People, who: str | None, status: int) -> None:
    record(people.acme.id, "thing.secret", target=("thing", "1", "confidential-target"))
    client = api(getattr(people, who) if who else None)
    for method, path in (("get", events_url(people)), ("post", f"{events_url(people)}/verify")):
        response = getattr(client, method)(path)
        assert response.status_code == status
        assert b"confidential-target" not in response.content
        if status == 403:
            assert response.json()["permission"] == "audit:view"


def test_an_unknown_workspace_is_404(people: People) -> None:
    assert api(people.admin).get(f"/api/v1/workspaces/{uuid.uuid4()}/audit-events").status_code == 404


def test_verify_reports_an_intact_chain(people: People) -> None:
    for _ in range(3):
        record(people.acme.id, "thing.done")
    response = api(people.admin).post(f"{events_url(people)}/verify")
    assert response.status_code == 200
    assert response.json() == {
        "chain": f"workspace:{people.acme.id}",
        "ok": True,
        "events": 3,
        "last_seq": 3,
        "checkpoints": 0,
        "problem": None,
        "bad_checkpoints": [],
    }


def test_verify_names_the_first_bad_event(people: People) -> None:
    events = [record(people.acme.id, f"thing.step_{n}") for n in range(1, 5)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in (*TABLES, HEAD_TABLE):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            for statement in drop_sql(connection.vendor):
                cursor.execute(statement)
        cursor.execute("DELETE FROM audit_auditevent WHERE chain = %s AND seq = 2", [events[0].chain])
    body = api(people.admin).post(f"{events_url(people)}/verify").json()
    assert body["ok"] is False
    assert body["problem"] == {
        "kind": "removed",
        "seq": 2,
        "event_id": None,
        "action": None,
        "reason": (
            f"removed: there is no event at seq 2; the chain jumps from seq 1 to seq 3 (event {events[2].id})"
        ),
    }


def test_verify_that_cannot_run_is_503_without_details(people: People) -> None:
    record(people.acme.id, "thing.done")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE vault_wrappedkeyset SET wrapped = %s WHERE purpose = %s", [b"broken", mac.AUDIT_PURPOSE]
        )
    response = api(people.admin).post(f"{events_url(people)}/verify")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "the audit chain cannot be verified now; the operator's log says why"
    }


def test_verify_with_a_session_needs_the_csrf_token(people: People) -> None:
    strict = https_client(enforce_csrf_checks=True)
    strict.force_login(people.admin)
    assert strict.post(f"{events_url(people)}/verify").status_code == 403


def test_the_audit_operations_take_the_workspace_by_id_or_slug(people: People) -> None:
    # Like every other workspace-scoped operation: `{workspace_id}` is the id or the slug.
    record(people.acme.id, "user.created")
    admin = api(people.admin)
    for ref in (people.acme.id, people.acme.slug):
        listed = admin.get(f"/api/v1/workspaces/{ref}/audit-events")
        assert listed.status_code == 200 and listed.json()["count"] == 1
        assert admin.post(f"/api/v1/workspaces/{ref}/audit-events/verify").json()["ok"] is True
    # Another workspace's slug is not found, as its id is (rule 9).
    assert admin.get(f"/api/v1/workspaces/{people.globex.slug}/audit-events").status_code == 404
    assert api(people.analyst).get(f"/api/v1/workspaces/{people.acme.slug}/audit-events").status_code == 403
