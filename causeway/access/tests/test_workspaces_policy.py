"""The policy's member and invitation lookups: scoped to one workspace, NotFound outside it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from causeway.access import members as services
from causeway.access import policy
from causeway.access.errors import Forbidden, NotFound
from causeway.access.perms import Perm
from causeway.accounts.actors import SYSTEM
from causeway.audit.services import ANONYMOUS
from causeway.workspaces.models import Membership, Role
from causeway.workspaces.tests.helpers import fast_hashing  # noqa: F401
from testkit.personas import cast

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture
def people() -> dict[str, Any]:
    return cast("admin", "operator", "outsider", "staff").people()


def test_membership_get_finds_only_members_of_that_workspace(people: dict[str, Any]) -> None:
    acme, other = people["acme"], people["other"]
    mine = Membership.objects.get(workspace=acme, user=people["operator"])
    theirs = Membership.objects.get(workspace=other)
    assert policy.membership_get(people["admin"], acme, str(mine.pk), need=Perm.MEMBER_MANAGE) == mine
    for ref in (theirs.pk, str(theirs.pk), "not-an-id", uuid.uuid4()):
        with pytest.raises(NotFound):
            policy.membership_get(people["admin"], acme, ref, need=Perm.MEMBER_MANAGE)


def test_membership_get_refuses_those_without_the_permission(people: dict[str, Any]) -> None:
    acme = people["acme"]
    mine = Membership.objects.get(workspace=acme, user=people["admin"])
    with pytest.raises(Forbidden) as caught:
        policy.membership_get(people["operator"], acme, mine.pk, need=Perm.MEMBER_MANAGE)
    assert caught.value.perm == Perm.MEMBER_MANAGE
    for outsider in (people["outsider"], people["staff"], ANONYMOUS, SYSTEM):
        with pytest.raises(NotFound):
            policy.membership_get(outsider, acme, mine.pk, need=Perm.MEMBER_MANAGE)


def test_lists_are_empty_for_those_who_may_not_see_them(people: dict[str, Any]) -> None:
    acme = people["acme"]
    assert policy.memberships_visible(people["admin"], acme).count() == 2
    for actor in (people["operator"], people["outsider"], people["staff"], ANONYMOUS):
        assert policy.memberships_visible(actor, acme).count() == 0
        assert policy.invitations_visible(actor, acme).count() == 0
    assert list(policy.users_visible(people["operator"])) == [people["operator"]]
    assert policy.users_visible(people["staff"]).count() == 4
    assert policy.users_visible(ANONYMOUS).count() == 0


def test_invitations_are_seen_and_fetched_only_within_their_scope(
    people: dict[str, Any], mailoutbox: Any
) -> None:
    acme, other = people["acme"], people["other"]
    in_acme = services.workspace_invitation_create(
        actor=people["admin"], workspace=acme, email="bob@example.com", role="analyst"
    ).invitation
    platform = services.platform_invitation_create(actor=people["staff"], email="new@example.com").invitation
    assert list(policy.invitations_visible(people["admin"], acme)) == [in_acme]
    assert list(policy.invitations_visible(people["staff"], None)) == [platform]
    assert policy.invitations_visible(people["admin"], None).count() == 0
    assert policy.invitation_get(people["admin"], str(in_acme.pk), workspace=acme) == in_acme
    assert policy.invitation_get(people["staff"], platform.pk, workspace=None) == platform
    for actor, ref, scope in [
        (people["outsider"], in_acme.pk, other),
        (people["admin"], platform.pk, acme),
        (people["admin"], in_acme.pk, None),
        (people["staff"], in_acme.pk, None),
        (people["staff"], "nonsense", None),
    ]:
        with pytest.raises(NotFound):
            policy.invitation_get(actor, ref, workspace=scope)
    with pytest.raises(Forbidden):
        policy.invitation_get(people["operator"], in_acme.pk, workspace=acme)


def test_only_the_system_actor_gets_any_workspace(people: dict[str, Any]) -> None:
    acme = people["acme"]
    assert policy.system_workspace_get(SYSTEM, "acme") == acme
    assert policy.system_workspace_get(SYSTEM, str(acme.id)) == acme
    assert set(policy.workspaces_visible(SYSTEM)) == {acme, people["other"]}
    for actor in (people["staff"], people["admin"], ANONYMOUS):
        with pytest.raises(NotFound):
            policy.system_workspace_get(actor, "acme")
    with pytest.raises(NotFound):
        policy.system_workspace_get(SYSTEM, "missing")


def test_assignable_roles_are_the_system_roles_and_the_workspace_own(people: dict[str, Any]) -> None:
    acme, other = people["acme"], people["other"]
    Role.objects.create(workspace=acme, key="builder", name="Builder", permissions=[])
    Role.objects.create(workspace=other, key="auditor", name="Auditor", permissions=[])
    assert [r.key for r in policy.roles_assignable(acme)] == ["admin", "analyst", "operator", "builder"]


def test_invitation_by_token_opens_only_an_open_invitation(people: dict[str, Any], mailoutbox: Any) -> None:
    issued = services.platform_invitation_create(actor=people["staff"], email="new@example.com")
    token = issued.link.rsplit("/", 1)[1]
    assert policy.invitation_by_token(token) == issued.invitation
    services.invitation_revoke(actor=people["staff"], invitation=issued.invitation)
    for bad in (token, "", "z" * 43):
        with pytest.raises(NotFound):
            policy.invitation_by_token(bad)
