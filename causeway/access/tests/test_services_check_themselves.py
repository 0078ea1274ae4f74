"""Members, invitations, workspace settings and service accounts: each service asks the policy itself,
so calling it directly, past every interface, refuses whoever may not, and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from causeway.access import members
from causeway.access import services as access_services
from causeway.access.errors import Forbidden, NotFound
from causeway.workspaces.models import ApiToken, Invitation, Membership, ServiceAccount, Workspace
from causeway.workspaces.tests.helpers import fast_hashing  # noqa: F401
from testkit.support import make_user, make_workspace

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture
def place() -> dict[str, Any]:
    admin = make_user("admin@example.com")
    operator = make_user("operator@example.com")
    outsider = make_user("outsider@example.com")
    staff = make_user("staff@example.com", staff=True)
    acme = make_workspace("Acme", members={admin: "admin", operator: "operator"})
    make_workspace("Other", members={outsider: "admin"})
    invitation = members.workspace_invitation_create(
        actor=admin, workspace=acme, email="new@example.com", role="operator"
    ).invitation
    robot = access_services.service_account_create(actor=admin, workspace=acme, name="robot")
    token, _ = access_services.service_account_token_create(
        actor=admin, workspace=acme, account=robot, name="ci", expires_in_days=30
    )
    return {
        "admin": admin,
        "operator": operator,
        "outsider": outsider,
        "staff": staff,
        "acme": acme,
        "invitation": invitation,
        "robot": robot,
        "token": token,
        "admin_membership": Membership.objects.get(workspace=acme, user=admin),
    }


def _state() -> tuple[Any, ...]:
    return (
        sorted(Workspace.objects.values_list("id", "name", "session_timeout")),
        sorted(Membership.objects.values_list("id", "role_id")),
        sorted(Invitation.objects.values_list("id", "revoked_at")),
        sorted(ServiceAccount.objects.values_list("id", "name", "disabled_at")),
        sorted(ApiToken.objects.values_list("id", "revoked_at")),
    )


def _attempts(p: dict[str, Any], actor: Any) -> dict[str, Callable[[], Any]]:
    acme = p["acme"]
    return {
        "member role": lambda: members.member_role_change(
            actor=actor, membership=p["admin_membership"], role="operator"
        ),
        "member remove": lambda: members.member_remove(actor=actor, membership=p["admin_membership"]),
        "invite": lambda: members.workspace_invitation_create(
            actor=actor, workspace=acme, email="other@example.com", role="analyst"
        ),
        "revoke invitation": lambda: members.invitation_revoke(actor=actor, invitation=p["invitation"]),
        "settings": lambda: members.workspace_settings_update(actor=actor, workspace=acme, name="Mine"),
        "service account": lambda: access_services.service_account_create(
            actor=actor, workspace=acme, name="mine"
        ),
        "disable service account": lambda: access_services.service_account_set_enabled(
            actor=actor, workspace=acme, account=p["robot"], enabled=False
        ),
        "service account token": lambda: access_services.service_account_token_create(
            actor=actor, workspace=acme, account=p["robot"], name="mine", expires_in_days=1
        ),
        "revoke service account token": lambda: access_services.service_account_token_revoke(
            actor=actor, workspace=acme, token=p["token"]
        ),
    }


@pytest.mark.parametrize(
    ("who", "refusal"), [("operator", Forbidden), ("outsider", NotFound), ("staff", NotFound)]
)
def test_workspace_services_refuse_whoever_may_not_and_write_nothing(
    place: dict[str, Any], who: str, refusal: type[Exception]
) -> None:
    before = _state()
    for what, attempt in _attempts(place, place[who]).items():
        with pytest.raises(refusal):
            attempt()
        assert _state() == before, what


@pytest.mark.parametrize("who", ["admin", "operator", "outsider"])
def test_the_platforms_acts_are_staffs(place: dict[str, Any], who: str) -> None:
    before = _state()
    with pytest.raises(NotFound):
        members.workspace_create(actor=place[who], name="Theirs")
    with pytest.raises(NotFound):
        members.platform_invitation_create(actor=place[who], email="someone@example.com")
    assert _state() == before
    assert members.workspace_create(actor=place["staff"], name="Staffs", admin_email="admin@example.com")


def test_an_admin_passes_the_same_checks(place: dict[str, Any]) -> None:
    admin = place["admin"]
    members.workspace_settings_update(actor=admin, workspace=place["acme"], name="Acme Ltd")
    members.invitation_revoke(actor=admin, invitation=place["invitation"])
    access_services.service_account_set_enabled(
        actor=admin, workspace=place["acme"], account=place["robot"], enabled=False
    )
    assert Workspace.objects.get(pk=place["acme"].pk).name == "Acme Ltd"
    assert Invitation.objects.get(pk=place["invitation"].pk).revoked_at is not None
    assert not ServiceAccount.objects.get(pk=place["robot"].pk).is_active
