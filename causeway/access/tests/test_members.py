"""Workspace, member and invitation services: the rules they keep and the audit events they write."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from causeway.access import members as services
from causeway.access.members import InvitationUnusable, InvitationWrongAccount
from causeway.accounts.actors import SYSTEM
from causeway.accounts.models import User, UserType
from causeway.audit.models import AuditEvent
from causeway.workspaces.models import Invitation, Membership, Role, Workspace
from causeway.workspaces.tests.helpers import PASSWORD as STRONG_PASSWORD
from causeway.workspaces.tests.helpers import (
    AuditWatch,
    fast_hashing,  # noqa: F401
    on_platform,
    on_workspace,
    person,
    role,
    tenant,
    token_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture
def staff() -> Any:
    return person("staff@example.com", staff=True, first="Grace", last="Hopper")


@pytest.fixture
def admin() -> Any:
    return person("admin@example.com")


@pytest.fixture
def acme(admin: Any) -> Workspace:
    return tenant("Acme", members={admin: "admin"})


def _accept_new(link: str, *, first: str = "Alan", last: str = "Turing") -> services.AcceptedInvitation:
    return services.invitation_accept(
        actor=None, token=token_of(link), first_name=first, last_name=last, password=STRONG_PASSWORD
    )


# Workspaces


def test_workspace_create_makes_the_creator_its_first_admin_with_one_event_on_its_chain(staff: Any) -> None:
    watch = AuditWatch()
    workspace = services.workspace_create(actor=staff, name="Blue Sky")
    assert workspace.slug == "blue-sky"
    assert workspace.created_by == staff
    membership = Membership.objects.get(workspace=workspace)
    assert (membership.user, membership.role.key) == (staff, "admin")
    assert watch.actions() == [on_workspace(workspace, "workspace.created")]
    event = watch.new()[0]
    assert event.details["first_admin"] == staff.email
    assert event.actor_id == str(staff.id)


def test_workspace_create_with_a_named_first_admin(staff: Any, admin: Any) -> None:
    workspace = services.workspace_create(actor=staff, name="Named", admin_email="ADMIN@example.com")
    members = Membership.objects.filter(workspace=workspace).select_related("user", "role")
    assert [(m.user.email, m.role.key) for m in members] == [("admin@example.com", "admin")]


def test_workspace_create_refuses_an_unknown_or_disabled_admin(staff: Any) -> None:
    disabled = person("gone@example.com")
    disabled.is_active = False
    disabled.save()
    for email in ("nobody@example.com", "gone@example.com"):
        with pytest.raises(ValidationError) as caught:
            services.workspace_create(actor=staff, name="Nope", admin_email=email)
        assert "admin_email" in caught.value.message_dict
    assert not Workspace.objects.filter(name="Nope").exists()


def test_workspace_create_by_the_system_needs_a_named_admin() -> None:
    with pytest.raises(ValidationError) as caught:
        services.workspace_create(actor=SYSTEM, name="Headless")
    assert "admin_email" in caught.value.message_dict


def test_workspace_slugs_are_unique_and_never_shaped_like_an_id(staff: Any, acme: Workspace) -> None:
    assert services.workspace_create(actor=staff, name="Acme").slug == "acme-2"
    with pytest.raises(ValidationError) as taken:
        services.workspace_create(actor=staff, name="Other", slug="acme")
    assert "slug" in taken.value.message_dict
    with pytest.raises(ValidationError) as uuid_like:
        services.workspace_create(actor=staff, name="Other", slug="12345678-1234-1234-1234-123456789abc")
    assert "slug" in uuid_like.value.message_dict
    with pytest.raises(ValidationError) as no_letters:
        services.workspace_create(actor=staff, name="!!!")
    assert "name" in no_letters.value.message_dict
    with pytest.raises(ValidationError) as control:
        services.workspace_create(actor=staff, name="Evil\nName")
    assert "name" in control.value.message_dict


def test_settings_update_changes_name_and_timeout_with_one_event(admin: Any, acme: Workspace) -> None:
    watch = AuditWatch()
    services.workspace_settings_update(
        actor=admin, workspace=acme, name="Acme Ltd", session_timeout_minutes=30
    )
    acme.refresh_from_db()
    assert (acme.name, acme.session_timeout) == ("Acme Ltd", timedelta(minutes=30))
    assert watch.actions() == [on_workspace(acme, "workspace.settings_changed")]
    assert watch.new()[0].details["changes"] == {
        "name": {"from": "Acme", "to": "Acme Ltd"},
        "session_timeout_minutes": {"from": 7 * 24 * 60, "to": 30},
    }


def test_settings_update_without_a_change_writes_nothing(admin: Any, acme: Workspace) -> None:
    watch = AuditWatch()
    services.workspace_settings_update(
        actor=admin, workspace=acme, name="Acme", session_timeout_minutes=10080
    )
    assert watch.new() == []


@pytest.mark.parametrize("minutes", [0, 14, 20161, -5, True, "30"])
def test_session_timeout_out_of_range_names_session_timeout(
    admin: Any, acme: Workspace, minutes: Any
) -> None:
    watch = AuditWatch()
    with pytest.raises(ValidationError) as caught:
        services.workspace_settings_update(actor=admin, workspace=acme, session_timeout_minutes=minutes)
    assert list(caught.value.message_dict) == ["session_timeout"]
    assert "15" in caught.value.message_dict["session_timeout"][0]
    acme.refresh_from_db()
    assert acme.session_timeout == timedelta(days=7)
    assert watch.new() == []


@pytest.mark.parametrize("minutes", [15, 20160])
def test_session_timeout_bounds_are_accepted(admin: Any, acme: Workspace, minutes: int) -> None:
    services.workspace_settings_update(actor=admin, workspace=acme, session_timeout_minutes=minutes)
    acme.refresh_from_db()
    assert acme.session_timeout == timedelta(minutes=minutes)


# Invitations


def test_invitation_secret_is_stored_only_as_its_sha256_digest(staff: Any, mailoutbox: list[Any]) -> None:
    issued = services.platform_invitation_create(actor=staff, email="new@example.com")
    secret = token_of(issued.link)
    assert len(secret) >= 43  # 32 random bytes, base64url
    stored = Invitation.objects.get(pk=issued.invitation.pk)
    assert stored.digest == hashlib.sha256(secret.encode()).hexdigest()
    for value in Invitation.objects.values().get(pk=stored.pk).values():
        assert secret not in str(value)
    for event in AuditEvent.objects.all():
        assert secret not in str(event.details) and secret not in event.target_label
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM workspaces_invitation")
        assert secret not in repr(cursor.fetchall())


def test_invitation_link_is_emailed_and_uses_the_configured_address(
    staff: Any, mailoutbox: list[Any], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.BASE_URL = "https://causeway.example.org"
    with django_capture_on_commit_callbacks(execute=True) as sent:
        issued = services.platform_invitation_create(actor=staff, email="new@example.com")
        # Sent as every notice is, once the invitation is committed: nothing for one rolled back.
        assert mailoutbox == []
    assert issued.link.startswith("https://causeway.example.org/invitations/")
    assert len(sent) == 1 and len(mailoutbox) == 1
    assert mailoutbox[0].to == ["new@example.com"]
    assert issued.link in mailoutbox[0].body
    assert "Grace Hopper" in mailoutbox[0].body


def test_platform_invitation_writes_one_event_on_the_platform_chain(
    staff: Any, mailoutbox: list[Any]
) -> None:
    watch = AuditWatch()
    issued = services.platform_invitation_create(actor=staff, email="New@Example.com", user_type="staff")
    assert issued.invitation.email == "new@example.com"
    assert issued.invitation.workspace is None
    assert watch.actions() == [on_platform("invitation.sent")]
    assert watch.new()[0].details["user_type"] == "staff"


def test_platform_invitation_refuses_bad_input(
    staff: Any, admin: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    cases = [
        ({"email": "not-an-email"}, "email"),
        ({"email": "admin@example.com"}, "email"),
        ({"email": "x@example.com", "user_type": "root"}, "user_type"),
    ]
    for kwargs, field in cases:
        with pytest.raises(ValidationError) as caught:
            services.platform_invitation_create(actor=staff, **kwargs)
        assert field in caught.value.message_dict
    with django_capture_on_commit_callbacks(execute=True):
        services.platform_invitation_create(actor=staff, email="twice@example.com")
    with pytest.raises(ValidationError) as again:
        services.platform_invitation_create(actor=staff, email="twice@example.com")
    assert "pending" in again.value.message_dict["email"][0]
    assert len(mailoutbox) == 1


def test_workspace_invitation_writes_one_event_on_the_workspace_chain(
    admin: Any, acme: Workspace, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    watch = AuditWatch()
    with django_capture_on_commit_callbacks(execute=True):
        issued = services.workspace_invitation_create(
            actor=admin, workspace=acme, email="bob@example.com", role="operator"
        )
    assert (issued.invitation.workspace, issued.invitation.role.key) == (acme, "operator")
    assert issued.invitation.user_type == UserType.STANDARD
    assert watch.actions() == [on_workspace(acme, "invitation.sent")]
    assert "Acme" in mailoutbox[0].subject


def test_workspace_invitation_refuses_members_and_unknown_or_custom_roles(
    admin: Any, acme: Workspace, mailoutbox: list[Any]
) -> None:
    Role.objects.create(workspace=acme, key="auditor", name="Auditor", permissions=[])
    for kwargs, field in [
        ({"email": "admin@example.com", "role": "analyst"}, "email"),
        ({"email": "bob@example.com", "role": "owner"}, "role"),
        ({"email": "bob@example.com", "role": "auditor"}, "role"),
    ]:
        with pytest.raises(ValidationError) as caught:
            services.workspace_invitation_create(actor=admin, workspace=acme, **kwargs)
        assert field in caught.value.message_dict
    assert mailoutbox == []


def test_a_new_person_accepts_a_platform_invitation_and_gets_an_account(
    staff: Any, mailoutbox: list[Any]
) -> None:
    issued = services.platform_invitation_create(actor=staff, email="new@example.com", user_type="staff")
    watch = AuditWatch()
    accepted = _accept_new(issued.link)
    user = User.objects.with_email("new@example.com").get()
    assert accepted.account_created and accepted.user == user
    assert (user.first_name, user.last_name, user.user_type) == ("Alan", "Turing", "staff")
    assert user.check_password(STRONG_PASSWORD)
    assert watch.actions() == [on_platform("user.created"), on_platform("invitation.accepted")]
    assert watch.new()[1].actor_id == str(user.id)


def test_a_new_person_accepts_a_workspace_invitation_and_becomes_a_member(
    admin: Any, acme: Workspace, mailoutbox: list[Any]
) -> None:
    issued = services.workspace_invitation_create(
        actor=admin, workspace=acme, email="bob@example.com", role="analyst"
    )
    watch = AuditWatch()
    accepted = _accept_new(issued.link)
    assert accepted.membership is not None
    assert (accepted.membership.workspace, accepted.membership.role.key) == (acme, "analyst")
    assert accepted.user.user_type == UserType.STANDARD
    assert watch.actions() == [on_platform("user.created"), on_workspace(acme, "member.added")]
    assert watch.new()[1].details["invitation_id"] == str(issued.invitation.id)


def test_rule_19_accepting_checks_the_profile_and_password_and_changes_nothing_when_wrong(
    staff: Any, mailoutbox: list[Any]
) -> None:
    issued = services.platform_invitation_create(actor=staff, email="new@example.com")
    for first, last, password, field in [
        ("J", "Doe", STRONG_PASSWORD, "first_name"),
        ("Jane", "D0e", STRONG_PASSWORD, "last_name"),
        ("Jane", "Doe", "short", "password"),
        ("Jane", "Doe", "password1234", "password"),
    ]:
        with pytest.raises(ValidationError) as caught:
            services.invitation_accept(
                actor=None, token=token_of(issued.link), first_name=first, last_name=last, password=password
            )
        assert field in caught.value.message_dict
    assert not User.objects.with_email("new@example.com").exists()
    assert Invitation.objects.get(pk=issued.invitation.pk).is_open
    _accept_new(issued.link)


def test_an_invitation_is_single_use(admin: Any, acme: Workspace, mailoutbox: list[Any]) -> None:
    issued = services.workspace_invitation_create(
        actor=admin, workspace=acme, email="bob@example.com", role="analyst"
    )
    accepted = _accept_new(issued.link)
    watch = AuditWatch()
    with pytest.raises(InvitationUnusable):
        services.invitation_accept(actor=accepted.user, token=token_of(issued.link))
    with pytest.raises(InvitationUnusable):
        _accept_new(issued.link, first="Eve", last="Other")
    assert Membership.objects.filter(workspace=acme).count() == 2
    assert watch.new() == []


def test_an_invitation_expires_after_seven_days(staff: Any, mailoutbox: list[Any]) -> None:
    sent = timezone.now().replace(microsecond=0)
    with time_machine.travel(sent, tick=False):
        issued = services.platform_invitation_create(actor=staff, email="late@example.com")
    assert issued.invitation.expires_at == sent + timedelta(days=7)
    with time_machine.travel(sent + timedelta(days=7, seconds=1)):
        with pytest.raises(InvitationUnusable):
            _accept_new(issued.link)
    assert not User.objects.with_email("late@example.com").exists()
    with time_machine.travel(sent + timedelta(days=6, hours=23)):
        assert _accept_new(issued.link).account_created


def test_a_revoked_invitation_cannot_be_used_and_revoking_writes_one_event(
    admin: Any, acme: Workspace, mailoutbox: list[Any]
) -> None:
    issued = services.workspace_invitation_create(
        actor=admin, workspace=acme, email="bob@example.com", role="analyst"
    )
    watch = AuditWatch()
    services.invitation_revoke(actor=admin, invitation=issued.invitation)
    services.invitation_revoke(actor=admin, invitation=issued.invitation)
    assert watch.actions() == [on_workspace(acme, "invitation.revoked")]
    with pytest.raises(InvitationUnusable):
        _accept_new(issued.link)


def test_an_accepted_invitation_cannot_be_revoked(staff: Any, mailoutbox: list[Any]) -> None:
    issued = services.platform_invitation_create(actor=staff, email="new@example.com")
    _accept_new(issued.link)
    with pytest.raises(ValidationError) as caught:
        services.invitation_revoke(actor=staff, invitation=issued.invitation)
    assert "invitation" in caught.value.message_dict


def test_unknown_used_revoked_and_expired_links_get_one_and_the_same_answer(
    staff: Any, mailoutbox: list[Any]
) -> None:
    used = services.platform_invitation_create(actor=staff, email="a@example.com")
    _accept_new(used.link)
    revoked = services.platform_invitation_create(actor=staff, email="b@example.com")
    services.invitation_revoke(actor=staff, invitation=revoked.invitation)
    expired = services.platform_invitation_create(actor=staff, email="c@example.com")
    Invitation.objects.filter(pk=expired.invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    answers = set()
    for token in [
        "x" * 43,
        "",
        "y" * 500,
        token_of(used.link),
        token_of(revoked.link),
        token_of(expired.link),
    ]:
        with pytest.raises(InvitationUnusable) as caught:
            services.invitation_accept(
                actor=None, token=token, first_name="Eve", last_name="Doe", password=STRONG_PASSWORD
            )
        answers.add(str(caught.value))
    assert len(answers) == 1
    assert "@" not in answers.pop()


def test_an_existing_user_must_be_signed_in_as_the_invited_email(
    admin: Any, acme: Workspace, mailoutbox: list[Any]
) -> None:
    bob = person("bob@example.com", first="Bob", last="Smith")
    eve = person("eve@example.com")
    issued = services.workspace_invitation_create(
        actor=admin, workspace=acme, email="bob@example.com", role="operator"
    )
    for actor in (None, eve):
        with pytest.raises(InvitationWrongAccount):
            services.invitation_accept(actor=actor, token=token_of(issued.link))
    assert not Membership.objects.filter(user=bob).exists()
    watch = AuditWatch()
    accepted = services.invitation_accept(actor=bob, token=token_of(issued.link), first_name="Ignored")
    assert not accepted.account_created
    bob.refresh_from_db()
    assert bob.first_name == "Bob"
    assert Membership.objects.get(user=bob).role.key == "operator"
    assert watch.actions() == [on_workspace(acme, "member.added")]


def test_a_signed_in_user_cannot_take_an_invitation_meant_for_a_new_address(
    staff: Any, admin: Any, mailoutbox: list[Any]
) -> None:
    issued = services.platform_invitation_create(actor=staff, email="new@example.com")
    with pytest.raises(InvitationWrongAccount):
        services.invitation_accept(
            actor=admin,
            token=token_of(issued.link),
            first_name="Eve",
            last_name="Doe",
            password=STRONG_PASSWORD,
        )
    assert not User.objects.with_email("new@example.com").exists()


# Members


def test_member_role_change_writes_one_event_and_ignores_a_no_op(admin: Any, acme: Workspace) -> None:
    bob = person("bob@example.com")
    membership = Membership.objects.create(workspace=acme, user=bob, role=role("operator"))
    watch = AuditWatch()
    services.member_role_change(actor=admin, membership=membership, role="analyst")
    services.member_role_change(actor=admin, membership=membership, role="analyst")
    assert Membership.objects.get(pk=membership.pk).role.key == "analyst"
    assert watch.actions() == [on_workspace(acme, "member.role_changed")]
    assert watch.new()[0].details == {"user_id": str(bob.id), "from": "operator", "to": "analyst"}


def test_member_role_change_accepts_only_roles_of_this_workspace(admin: Any, acme: Workspace) -> None:
    other = tenant("Other")
    foreign = Role.objects.create(workspace=other, key="auditor", name="Auditor", permissions=[])
    own = Role.objects.create(workspace=acme, key="builder", name="Builder", permissions=[])
    bob = person("bob@example.com")
    membership = Membership.objects.create(workspace=acme, user=bob, role=role("operator"))
    with pytest.raises(ValidationError) as caught:
        services.member_role_change(actor=admin, membership=membership, role=foreign.key)
    assert "role" in caught.value.message_dict
    assert services.member_role_change(actor=admin, membership=membership, role="builder").role == own


def test_the_last_admin_can_be_neither_demoted_nor_removed(admin: Any, acme: Workspace) -> None:
    membership = Membership.objects.get(workspace=acme, user=admin)
    watch = AuditWatch()
    with pytest.raises(ValidationError) as demoted:
        services.member_role_change(actor=admin, membership=membership, role="analyst")
    assert "last Admin" in demoted.value.message_dict["role"][0]
    with pytest.raises(ValidationError) as removed:
        services.member_remove(actor=admin, membership=membership)
    assert "last Admin" in removed.value.message_dict["member"][0]
    assert Membership.objects.get(pk=membership.pk).role.key == "admin"
    assert watch.new() == []


def test_a_disabled_admin_does_not_count_as_another_admin(admin: Any, acme: Workspace) -> None:
    gone = person("gone@example.com")
    gone.is_active = False
    gone.save()
    Membership.objects.create(workspace=acme, user=gone, role=role("admin"))
    with pytest.raises(ValidationError):
        services.member_remove(actor=admin, membership=Membership.objects.get(workspace=acme, user=admin))
    second = person("second@example.com")
    Membership.objects.create(workspace=acme, user=second, role=role("admin"))
    services.member_role_change(
        actor=admin, membership=Membership.objects.get(workspace=acme, user=admin), role="operator"
    )


def test_member_remove_writes_one_event_and_deletes_the_membership(admin: Any, acme: Workspace) -> None:
    bob = person("bob@example.com")
    membership = Membership.objects.create(workspace=acme, user=bob, role=role("analyst"))
    watch = AuditWatch()
    services.member_remove(actor=admin, membership=membership)
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert watch.actions() == [on_workspace(acme, "member.removed")]
    event = watch.new()[0]
    assert (event.target_type, event.target_id, event.target_label) == (
        "membership",
        str(membership.id),
        bob.email,
    )
