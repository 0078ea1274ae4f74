"""The secrets API: write-only values, names for every member, changes for Admins only, all audited."""

from __future__ import annotations

import json
from typing import Any

import pytest

from causeway.audit.models import AuditEvent, Outcome
from causeway.vault.masking import registry
from causeway.vault.models import Secret
from causeway.workspaces.tests.helpers import AuditWatch, bearer, fast_hashing, on_workspace  # noqa: F401
from testkit.personas import cast
from testkit.support import https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

API = "/api/v1"
VALUE = "sk_live_api-canary-7Q2w"


class Caller:
    def __init__(self, user: Any) -> None:
        self.client = https_client(**bearer(user))

    def get(self, path: str) -> Any:
        return self.client.get(API + path)

    def put(self, path: str, body: Any) -> Any:
        data = body if isinstance(body, str) else json.dumps(body)
        return self.client.put(API + path, data, content_type="application/json")

    def delete(self, path: str) -> Any:
        return self.client.delete(API + path)


@pytest.fixture
def people() -> dict[str, Any]:
    return cast().people()


@pytest.fixture(autouse=True)
def _empty_mask_registry() -> Any:
    registry.clear()
    yield
    registry.clear()


def secrets_path(people: dict[str, Any], name: str = "", workspace: str = "acme") -> str:
    base = f"/workspaces/{people[workspace].id}/secrets"
    return f"{base}/{name}" if name else base


def test_put_creates_then_replaces_and_no_answer_carries_the_value(people: dict[str, Any]) -> None:
    admin = Caller(people["admin"])
    operator = Caller(people["operator"])
    watch = AuditWatch()
    created = admin.put(
        secrets_path(people, "STRIPE_KEY"), {"value": VALUE, "allowed_hosts": ["API.stripe.com"]}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "STRIPE_KEY"
    assert body["allowed_hosts"] == ["api.stripe.com"]
    assert body["created_by"] == body["updated_by"] == "admin@example.com"
    assert body["created_by_id"] == str(people["admin"].id)
    assert body["referenced_by"] == []
    assert "value" not in body

    replaced = admin.put(secrets_path(people, "STRIPE_KEY"), {"value": "second-value-1234"})
    assert replaced.status_code == 200
    assert replaced.json()["allowed_hosts"] == []

    listed = operator.get(secrets_path(people))
    assert listed.status_code == 200
    assert [row["name"] for row in listed.json()] == ["STRIPE_KEY"]
    assert set(listed.json()[0]) == {
        "name",
        "allowed_hosts",
        "created_at",
        "created_by_id",
        "created_by",
        "updated_at",
        "updated_by_id",
        "updated_by",
        "referenced_by",
    }
    for answer in (created, replaced, listed):
        assert VALUE.encode() not in answer.content
        assert b"second-value-1234" not in answer.content
    assert Secret.objects.get(name="STRIPE_KEY").value == "second-value-1234"
    assert watch.actions() == [
        on_workspace(people["acme"], "secret.created"),
        on_workspace(people["acme"], "secret.replaced"),
    ]
    for event in watch.new():
        assert event.actor_id == str(people["admin"].id)
        assert event.target_label == "STRIPE_KEY"
        assert VALUE not in json.dumps(event.details) and "second-value" not in json.dumps(event.details)


def test_delete_removes_the_secret_and_is_audited(people: dict[str, Any]) -> None:
    admin = Caller(people["admin"])
    admin.put(secrets_path(people, "GONE"), {"value": VALUE})
    watch = AuditWatch()
    assert admin.delete(secrets_path(people, "GONE")).status_code == 204
    assert not Secret.objects.filter(name="GONE").exists()
    assert watch.actions() == [on_workspace(people["acme"], "secret.deleted")]
    missing = admin.delete(secrets_path(people, "GONE"))
    assert missing.status_code == 404


@pytest.mark.parametrize("who", ["operator", "analyst"])
def test_rule_03_members_list_names_but_only_admins_change_secrets(people: dict[str, Any], who: str) -> None:
    Caller(people["admin"]).put(secrets_path(people, "KEEP"), {"value": VALUE})
    caller = Caller(people[who])
    assert [row["name"] for row in caller.get(secrets_path(people)).json()] == ["KEEP"]
    watch = AuditWatch()
    for answer in (
        caller.put(secrets_path(people, "KEEP"), {"value": "taken-over-1234"}),
        caller.put(secrets_path(people, "NEW"), {"value": "planted-1234"}),
        caller.delete(secrets_path(people, "KEEP")),
    ):
        assert answer.status_code == 403
        assert answer.json()["permission"] == "vault:secret:manage"
    assert Secret.objects.get(name="KEEP").value == VALUE
    assert not Secret.objects.filter(name="NEW").exists()
    denials = watch.new()
    assert [(e.action, e.outcome) for e in denials] == [("access.denied", Outcome.DENIED)] * 3
    assert {e.details["permission"] for e in denials} == {"vault:secret:manage"}


@pytest.mark.parametrize("who", ["outsider", "staff"])
def test_rule_09_non_members_get_404_on_every_operation(people: dict[str, Any], who: str) -> None:
    Caller(people["admin"]).put(secrets_path(people, "KEEP"), {"value": VALUE})
    caller = Caller(people[who])
    for answer in (
        caller.get(secrets_path(people)),
        caller.put(secrets_path(people, "KEEP"), {"value": "taken-over-1234"}),
        caller.delete(secrets_path(people, "KEEP")),
    ):
        assert answer.status_code == 404
        assert b"KEEP" not in answer.content
    assert Secret.objects.get(name="KEEP").value == VALUE


def test_another_workspace_admin_cannot_reach_this_workspace_secrets_through_their_own(
    people: dict[str, Any],
) -> None:
    Caller(people["admin"]).put(secrets_path(people, "SHARED_NAME"), {"value": VALUE})
    outsider = Caller(people["outsider"])
    assert outsider.get(secrets_path(people, workspace="other")).json() == []
    assert outsider.delete(secrets_path(people, "SHARED_NAME", workspace="other")).status_code == 404
    assert (
        outsider.put(secrets_path(people, "SHARED_NAME", "other"), {"value": "mine-12345"}).status_code == 201
    )
    assert Secret.objects.get(workspace_id=people["acme"].id).value == VALUE
    assert Secret.objects.get(workspace_id=people["other"].id).value == "mine-12345"


def test_anonymous_callers_get_401(people: dict[str, Any]) -> None:
    assert https_client().get(API + secrets_path(people)).status_code == 401


@pytest.mark.parametrize("name", ["1STARTS_WITH_DIGIT", "has space", "semi;colon", "x" * 101, "_leading"])
def test_a_bad_name_is_a_400_naming_the_field(people: dict[str, Any], name: str) -> None:
    from urllib.parse import quote

    admin = Caller(people["admin"])
    watch = AuditWatch()
    answer = admin.put(secrets_path(people, quote(name, safe="")), {"value": VALUE})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("name: ")
    assert not Secret.objects.exists()
    assert watch.new() == []


def test_empty_value_and_bad_hosts_are_400s_naming_the_field(people: dict[str, Any]) -> None:
    admin = Caller(people["admin"])
    empty = admin.put(secrets_path(people, "EMPTY"), {"value": ""})
    assert (empty.status_code, empty.json()["detail"].split(":")[0]) == (400, "value")
    hosts = admin.put(secrets_path(people, "HOSTS"), {"value": VALUE, "allowed_hosts": ["not a host"]})
    assert (hosts.status_code, hosts.json()["detail"].split(":")[0]) == (400, "allowed_hosts")
    assert not Secret.objects.exists()


def test_fields_a_caller_may_not_set_are_refused_not_applied(people: dict[str, Any]) -> None:
    answer = Caller(people["admin"]).put(
        secrets_path(people, "FORGED"),
        {"value": VALUE, "workspace_id": str(people["other"].id), "created_by": str(people["outsider"].id)},
    )
    assert answer.status_code == 422
    assert {tuple(error["loc"]) for error in answer.json()["detail"]} == {
        ("body", "body", "workspace_id"),
        ("body", "body", "created_by"),
    }
    assert VALUE.encode() not in answer.content
    assert not Secret.objects.exists()


def test_rule_13_a_value_echoed_in_an_error_answer_is_masked(people: dict[str, Any]) -> None:
    admin = Caller(people["admin"])
    admin.put(secrets_path(people, "TOKEN"), {"value": "tok masked/in 400s"})
    # The host check quotes what it refuses; the answer must not carry a known value back out.
    answer = admin.put(
        secrets_path(people, "OTHER"), {"value": VALUE, "allowed_hosts": ["tok masked/in 400s"]}
    )
    assert answer.status_code == 400
    assert b"tok masked" not in answer.content
    assert "[masked:TOKEN]" in answer.json()["detail"]


def test_rule_13_an_error_answer_masks_secrets_this_process_never_handled(people: dict[str, Any]) -> None:
    Caller(people["admin"]).put(secrets_path(people, "FROM_ELSEWHERE"), {"value": "set by another process"})
    registry.clear()  # as in a web process that did not serve the request that set it
    answer = Caller(people["admin"]).put(
        secrets_path(people, "X"), {"value": VALUE, "allowed_hosts": ["set by another process"]}
    )
    assert answer.status_code == 400
    assert b"another process" not in answer.content
    assert "[masked:FROM_ELSEWHERE]" in answer.json()["detail"]


def test_secrets_are_listed_by_name_and_the_operator_cli_shows_as_such(people: dict[str, Any]) -> None:
    from causeway.accounts.actors import SYSTEM
    from causeway.recipes.secrets import secret_write

    secret_write(actor=SYSTEM, workspace=people["acme"], name="B_FROM_CLI", value=VALUE)
    Caller(people["admin"]).put(secrets_path(people, "A_FROM_API"), {"value": "another-value-1"})
    rows = Caller(people["analyst"]).get(secrets_path(people)).json()
    assert [(r["name"], r["updated_by"], r["updated_by_id"]) for r in rows] == [
        ("A_FROM_API", "admin@example.com", str(people["admin"].id)),
        ("B_FROM_CLI", "the operator (command line)", None),
    ]
    assert AuditEvent.objects.filter(action="secret.created").count() == 2
