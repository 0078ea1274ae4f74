"""The workspaces API: who may call what, what a change records, and fields a caller may not set."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from causeway.access import members as services
from causeway.accounts.models import UserType
from causeway.workspaces.models import Invitation, Membership, Workspace, invitation_email_index
from causeway.workspaces.selectors import invitation_digest
from causeway.workspaces.tests.helpers import (
    AuditWatch,
    bearer,
    fast_hashing,  # noqa: F401
    on_platform,
    on_workspace,
    token_of,
)
from testkit.personas import cast
from testkit.support import https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

API = "/api/v1"


class Caller:
    """One user's API client, authenticated with their own personal token."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self.client = https_client(**bearer(user))

    def get(self, path: str) -> Any:
        return self.client.get(API + path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(API + path, body, content_type="application/json")

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.patch(API + path, body, content_type="application/json")

    def delete(self, path: str) -> Any:
        return self.client.delete(API + path)


@pytest.fixture
def people() -> dict[str, Any]:
    return cast().people()


def member_id(people: dict[str, Any], who: str, workspace: str = "acme") -> str:
    return str(Membership.objects.get(workspace=people[workspace], user=people[who]).pk)


def admin_only_calls(people: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None, str]]:
    ws = people["acme"].id
    target = member_id(people, "analyst")
    invitation = services.workspace_invitation_create(
        actor=people["admin"], workspace=people["acme"], email="pending@example.com", role="operator"
    ).invitation
    return [
        ("get", f"/workspaces/{ws}/members", None, "member:view"),
        ("patch", f"/workspaces/{ws}/members/{target}", {"role": "admin"}, "member:manage"),
        ("delete", f"/workspaces/{ws}/members/{target}", None, "member:manage"),
        (
            "post",
            f"/workspaces/{ws}/invitations",
            {"email": "x@example.com", "role": "admin"},
            "member:manage",
        ),
        ("get", f"/workspaces/{ws}/invitations", None, "member:view"),
        ("delete", f"/workspaces/{ws}/invitations/{invitation.pk}", None, "member:manage"),
        ("patch", f"/workspaces/{ws}", {"name": "Mine", "session_timeout_minutes": 15}, "workspace:settings"),
    ]


def call(caller: Caller, method: str, path: str, body: dict[str, Any] | None) -> Any:
    return getattr(caller, method)(path, body) if body is not None else getattr(caller, method)(path)


# Workspaces


def test_list_shows_only_the_caller_workspaces_with_their_role(people: dict[str, Any]) -> None:
    answer = Caller(people["operator"]).get("/workspaces")
    assert answer.status_code == 200
    assert [(w["slug"], w["role"]) for w in answer.json()] == [("acme", "operator")]
    assert Caller(people["staff"]).get("/workspaces").json() == []


def test_anonymous_callers_get_401() -> None:
    assert https_client().get(f"{API}/workspaces").status_code == 401


def test_staff_create_a_workspace_and_extra_fields_are_refused(people: dict[str, Any]) -> None:
    staff = Caller(people["staff"])
    watch = AuditWatch()
    forged_id = str(uuid.uuid4())
    forged = {
        "id": forged_id,
        "created_by": str(people["admin"].id),
        "session_timeout": "P1D",
        "session_timeout_minutes": 15,
        "is_staff": True,
    }
    wanted = {"name": "Blue", "admin_email": "operator@example.com"}
    refused = staff.post("/workspaces", {**wanted, **forged})
    assert refused.status_code == 422
    assert {item["loc"][-1] for item in refused.json()["detail"]} == set(forged)
    assert not Workspace.objects.filter(slug="blue").exists()
    answer = staff.post("/workspaces", wanted)
    assert answer.status_code == 201
    body = answer.json()
    blue = Workspace.objects.get(slug="blue")
    assert body["id"] == str(blue.id) != forged_id
    assert blue.created_by == people["staff"]
    assert blue.session_timeout == timedelta(days=7)
    assert body["role"] is None  # the staff creator named someone else as first Admin
    assert Membership.objects.get(workspace=blue).user == people["operator"]
    assert watch.actions() == [on_workspace(blue, "workspace.created")]


def test_only_staff_create_workspaces(people: dict[str, Any]) -> None:
    for who in ("admin", "operator"):
        assert Caller(people[who]).post("/workspaces", {"name": "Mine"}).status_code == 404
    assert not Workspace.objects.filter(name="Mine").exists()


def test_get_and_patch_settings(people: dict[str, Any]) -> None:
    ws = people["acme"].id
    assert Caller(people["operator"]).get(f"/workspaces/{ws}").json()["session_timeout_minutes"] == 10080
    admin = Caller(people["admin"])
    watch = AuditWatch()
    answer = admin.patch(f"/workspaces/{ws}", {"name": "Acme Ltd", "session_timeout_minutes": 60})
    assert answer.status_code == 200
    assert (answer.json()["name"], answer.json()["session_timeout_minutes"]) == ("Acme Ltd", 60)
    assert watch.actions() == [on_workspace(people["acme"], "workspace.settings_changed")]
    assert admin.get("/workspaces/acme").json()["name"] == "Acme Ltd"


@pytest.mark.parametrize("minutes", [14, 20161, 0])
def test_session_timeout_out_of_range_is_a_400_naming_the_field(people: dict[str, Any], minutes: int) -> None:
    admin = Caller(people["admin"])
    watch = AuditWatch()
    answer = admin.patch(f"/workspaces/{people['acme'].id}", {"session_timeout_minutes": minutes})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("session_timeout: must be a whole number of minutes from 15")
    assert watch.new() == []


def test_settings_patch_refuses_fields_a_caller_may_not_set(people: dict[str, Any]) -> None:
    acme = people["acme"]
    answer = Caller(people["admin"]).patch(
        f"/workspaces/{acme.id}",
        {
            "id": str(uuid.uuid4()),
            "workspace_id": str(people["other"].id),
            "slug": "stolen",
            "created_by": str(people["outsider"].id),
            "name": "Renamed",
        },
    )
    assert answer.status_code == 422
    fresh = Workspace.objects.get(pk=acme.pk)
    assert (fresh.slug, fresh.created_by, fresh.name) == ("acme", None, "Acme")
    assert Caller(people["admin"]).patch(f"/workspaces/{acme.id}", {"name": "Renamed"}).status_code == 200
    assert Workspace.objects.get(pk=acme.pk).name == "Renamed"
    assert Workspace.objects.get(pk=people["other"].pk).name == "Other"


# Rule 9 and rule 3


def test_rule_09_operator_and_analyst_get_403_naming_the_permission(
    people: dict[str, Any], mailoutbox: Any
) -> None:
    calls = admin_only_calls(people)
    for who in ("operator", "analyst"):
        caller = Caller(people[who])
        for method, path, body, perm in calls:
            watch = AuditWatch()
            answer = call(caller, method, path, body)
            assert answer.status_code == 403, (who, method, path)
            assert answer.json()["permission"] == perm
            assert watch.actions() == [on_workspace(people["acme"], "access.denied")]
    assert Membership.objects.get(pk=member_id(people, "analyst")).role.key == "analyst"
    assert not Invitation.objects.filter(email_index=invitation_email_index("x@example.com")).exists()
    assert Workspace.objects.get(pk=people["acme"].pk).name == "Acme"


def test_rule_09_other_workspace_admin_and_staff_non_member_get_404(
    people: dict[str, Any], mailoutbox: Any
) -> None:
    calls = admin_only_calls(people)
    calls.append(("get", f"/workspaces/{people['acme'].id}", None, ""))
    for who in ("outsider", "staff"):
        caller = Caller(people[who])
        for method, path, body, _ in calls:
            answer = call(caller, method, path, body)
            assert answer.status_code == 404, (who, method, path)
            assert answer.json() == {"detail": "Not found"}
    assert Membership.objects.get(pk=member_id(people, "analyst")).role.key == "analyst"


def test_rule_09_ids_of_another_workspace_are_404_in_this_one(
    people: dict[str, Any], mailoutbox: Any
) -> None:
    foreign_member = member_id(people, "outsider", "other")
    foreign_invitation = services.workspace_invitation_create(
        actor=people["outsider"], workspace=people["other"], email="z@example.com", role="analyst"
    ).invitation
    admin = Caller(people["admin"])
    ws = people["acme"].id
    assert admin.patch(f"/workspaces/{ws}/members/{foreign_member}", {"role": "operator"}).status_code == 404
    assert admin.delete(f"/workspaces/{ws}/members/{foreign_member}").status_code == 404
    assert admin.delete(f"/workspaces/{ws}/invitations/{foreign_invitation.pk}").status_code == 404
    assert admin.delete(f"/workspaces/{ws}/members/not-an-id").status_code == 404
    assert Membership.objects.get(pk=foreign_member).role.key == "admin"
    assert Invitation.objects.get(pk=foreign_invitation.pk).revoked_at is None


def test_rule_03_staff_cannot_read_members_or_settings_of_a_workspace_they_are_not_in(
    people: dict[str, Any],
) -> None:
    staff = Caller(people["staff"])
    ws = people["acme"].id
    for path in (f"/workspaces/{ws}", f"/workspaces/{ws}/members", f"/workspaces/{ws}/invitations"):
        answer = staff.get(path)
        assert answer.status_code == 404
        assert "admin@example.com" not in answer.content.decode()


# Members


def test_members_list_and_role_change_with_one_event(people: dict[str, Any]) -> None:
    admin = Caller(people["admin"])
    ws = people["acme"].id
    listed = admin.get(f"/workspaces/{ws}/members").json()
    assert sorted((m["email"], m["role"]) for m in listed) == [
        ("admin@example.com", "admin"),
        ("analyst@example.com", "analyst"),
        ("operator@example.com", "operator"),
    ]
    watch = AuditWatch()
    target = member_id(people, "operator")
    forged = {"user_id": str(people["admin"].id), "workspace_id": str(people["other"].id)}
    assert admin.patch(f"/workspaces/{ws}/members/{target}", {"role": "analyst", **forged}).status_code == 422
    answer = admin.patch(f"/workspaces/{ws}/members/{target}", {"role": "analyst"})
    assert answer.status_code == 200 and answer.json()["role"] == "analyst"
    moved = Membership.objects.get(pk=target)
    assert (moved.user, moved.workspace) == (people["operator"], people["acme"])
    assert watch.actions() == [on_workspace(people["acme"], "member.role_changed")]


def test_a_role_change_takes_effect_on_the_next_request(people: dict[str, Any]) -> None:
    operator = Caller(people["operator"])
    ws = people["acme"].id
    assert operator.get(f"/workspaces/{ws}/members").status_code == 403
    Caller(people["admin"]).patch(
        f"/workspaces/{ws}/members/{member_id(people, 'operator')}", {"role": "admin"}
    )
    assert operator.get(f"/workspaces/{ws}/members").status_code == 200


def test_removal_ends_access_on_the_very_next_request(people: dict[str, Any]) -> None:
    analyst = Caller(people["analyst"])
    ws = people["acme"].id
    assert analyst.get(f"/workspaces/{ws}").status_code == 200
    admin = Caller(people["admin"])
    watch = AuditWatch()
    assert admin.delete(f"/workspaces/{ws}/members/{member_id(people, 'analyst')}").status_code == 204
    assert watch.actions() == [on_workspace(people["acme"], "member.removed")]
    assert analyst.get(f"/workspaces/{ws}").status_code == 404
    assert analyst.get("/workspaces").json() == []


def test_the_last_admin_cannot_be_demoted_or_removed(people: dict[str, Any]) -> None:
    admin = Caller(people["admin"])
    path = f"/workspaces/{people['acme'].id}/members/{member_id(people, 'admin')}"
    watch = AuditWatch()
    answer = admin.patch(path, {"role": "operator"})
    assert answer.status_code == 400 and "last Admin" in answer.json()["detail"]
    answer = admin.delete(path)
    assert answer.status_code == 400 and answer.json()["detail"].startswith("member: the last Admin")
    assert watch.new() == []


# Invitations


def test_workspace_invitation_returns_the_link_once_and_refuses_forged_fields(
    people: dict[str, Any], mailoutbox: Any
) -> None:
    admin = Caller(people["admin"])
    ws = people["acme"].id
    watch = AuditWatch()
    forged = {
        "user_type": "staff",
        "is_staff": True,
        "workspace_id": str(people["other"].id),
        "invited_by": str(people["outsider"].id),
    }
    wanted = {"email": "bob@example.com", "role": "analyst"}
    assert admin.post(f"/workspaces/{ws}/invitations", {**wanted, **forged}).status_code == 422
    assert not Invitation.objects.exists() and mailoutbox == []
    answer = admin.post(f"/workspaces/{ws}/invitations", wanted)
    assert answer.status_code == 201
    link = answer.json()["link"]
    invitation = Invitation.objects.get(email_index=invitation_email_index("bob@example.com"))
    assert invitation.digest == invitation_digest(token_of(link))
    assert (invitation.workspace, invitation.user_type, invitation.invited_by) == (
        people["acme"],
        UserType.STANDARD,
        people["admin"],
    )
    assert watch.actions() == [on_workspace(people["acme"], "invitation.sent")]
    listed = admin.get(f"/workspaces/{ws}/invitations")
    assert [i["email"] for i in listed.json()] == ["bob@example.com"]
    assert "link" not in listed.json()[0] and token_of(link) not in listed.content.decode()
    watch = AuditWatch()
    assert admin.delete(f"/workspaces/{ws}/invitations/{invitation.pk}").status_code == 204
    assert watch.actions() == [on_workspace(people["acme"], "invitation.revoked")]
    assert admin.get(f"/workspaces/{ws}/invitations").json() == []


def test_workspace_invitation_bad_input_is_a_400_naming_the_field(
    people: dict[str, Any], mailoutbox: Any
) -> None:
    admin = Caller(people["admin"])
    ws = people["acme"].id
    for body, field in [
        ({"email": "nope", "role": "analyst"}, "email"),
        ({"email": "b@example.com", "role": "owner"}, "role"),
        ({"email": "operator@example.com", "role": "analyst"}, "email"),
    ]:
        answer = admin.post(f"/workspaces/{ws}/invitations", body)
        assert answer.status_code == 400 and answer.json()["detail"].startswith(f"{field}: ")
    assert mailoutbox == []


def test_platform_invitations_are_for_staff_who_may_choose_the_user_type(
    people: dict[str, Any], mailoutbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    for who in ("admin", "operator"):
        answer = Caller(people[who]).post("/platform/invitations", {"email": "new@example.com"})
        assert answer.status_code == 404
        assert Caller(people[who]).get("/platform/invitations").status_code == 404
    staff = Caller(people["staff"])
    watch = AuditWatch()
    forged = {"email": "new@example.com", "user_type": "staff", "workspace_id": str(uuid.uuid4())}
    assert staff.post("/platform/invitations", forged).status_code == 422
    with django_capture_on_commit_callbacks(execute=True):
        answer = staff.post("/platform/invitations", {"email": "new@example.com", "user_type": "staff"})
    assert answer.status_code == 201
    invitation = Invitation.objects.get(email_index=invitation_email_index("new@example.com"))
    assert (invitation.user_type, invitation.workspace) == (UserType.STAFF, None)
    assert answer.json()["link"] in mailoutbox[0].body
    assert watch.actions() == [on_platform("invitation.sent")]
    assert [i["email"] for i in staff.get("/platform/invitations").json()] == ["new@example.com"]
    assert Caller(people["admin"]).delete(f"/platform/invitations/{invitation.pk}").status_code == 404
    assert staff.delete(f"/platform/invitations/{invitation.pk}").status_code == 204
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None
    answer = staff.post("/platform/invitations", {"email": "x@example.com", "user_type": "root"})
    assert answer.status_code == 400 and answer.json()["detail"].startswith("user_type: ")
