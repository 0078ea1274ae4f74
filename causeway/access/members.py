"""Changes to workspaces, their settings, members and invitations. Each asks the policy first (the
platform's acts are staff's or the operator's, a workspace's need `member:manage` or
`workspace:settings` there), then checks the data, makes the change and records it in the same
transaction. Accepting an invitation needs no permission: the link's secret is the capability.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from causeway import mail
from causeway.access import giving, policy
from causeway.access.errors import NotFound
from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.accounts import mfa, sessions
from causeway.accounts.models import User, UserType, email_index
from causeway.accounts.services import user_create
from causeway.accounts.validation import clean_email
from causeway.audit.models import ActorType
from causeway.audit.services import Actor as AuditActor
from causeway.audit.services import audit_record
from causeway.db import conflict_named
from causeway.workspaces import selectors
from causeway.workspaces.models import (
    SESSION_TIMEOUT_MAX,
    SESSION_TIMEOUT_MIN,
    Invitation,
    Membership,
    Role,
    Workspace,
    invitation_email_index,
)
from causeway.workspaces.selectors import (
    ADMIN_ROLE_KEY,
    active_admin_count,
    invitation_digest,
    is_admin_membership,
)

INVITATION_TTL = timedelta(days=7)
NAME_MAX = 100
SLUG_MAX = 60
SYSTEM_ROLE_KEYS = ("admin", "analyst", "operator")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class InvitationUnusable(Exception):
    """The link is unknown, used, revoked or expired. One answer for all, so nothing leaks."""

    def __init__(self) -> None:
        super().__init__("This invitation link is not valid. Ask the person who invited you for a new one.")


class InvitationWrongAccount(Exception):
    """The invitation belongs to an account the requester is not signed in as."""


@dataclass(frozen=True)
class IssuedInvitation:
    """A new invitation and its link. The link holds the secret and is never available again."""

    invitation: Invitation
    link: str


@dataclass(frozen=True)
class AcceptedInvitation:
    invitation: Invitation
    user: User
    account_created: bool
    membership: Membership | None


def _system_role(key: str) -> Role:
    return Role.objects.get(workspace__isnull=True, is_system=True, key=key)


def _actor_user(actor: Actor) -> User | None:
    return actor if isinstance(actor, User) else None


def _clean_workspace_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "is required"})
    if len(name) > NAME_MAX:
        raise ValidationError({"name": f"must be at most {NAME_MAX} characters long"})
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in name):
        raise ValidationError({"name": "may not contain control characters or line breaks"})
    return name


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _clean_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not _SLUG.match(slug) or len(slug) > SLUG_MAX:
        raise ValidationError(
            {"slug": f"use lower-case letters, digits and single hyphens, at most {SLUG_MAX} characters"}
        )
    # Workspaces are found by id or slug; a slug shaped like an id would be ambiguous.
    if _is_uuid(slug):
        raise ValidationError({"slug": "may not look like an id"})
    if Workspace.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": "is already used by another workspace"})
    return slug


def _slug_from_name(name: str) -> str:
    base = slugify(name)[: SLUG_MAX - 4].strip("-")
    if not base or _is_uuid(base):
        raise ValidationError({"name": "must contain at least one letter or digit (for the workspace's URL)"})
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _clean_timeout_minutes(value: Any) -> timedelta:
    lowest = int(SESSION_TIMEOUT_MIN.total_seconds() // 60)
    highest = int(SESSION_TIMEOUT_MAX.total_seconds() // 60)
    message = f"must be a whole number of minutes from {lowest} (15 minutes) to {highest} (14 days)"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError({"session_timeout": message})
    if not lowest <= value <= highest:
        raise ValidationError({"session_timeout": message})
    return timedelta(minutes=value)


@transaction.atomic
def workspace_create(*, actor: Actor, name: str, slug: str = "", admin_email: str = "") -> Workspace:
    """A new workspace whose first Admin is the named user, or the creator when none is named."""
    policy.require_platform(actor)
    name = _clean_workspace_name(name)
    slug = _clean_slug(slug) if slug.strip() else _slug_from_name(name)
    if admin_email.strip():
        email = clean_email(admin_email)
        admin = User.objects.with_email(email).filter(is_active=True).first()
        if admin is None:
            raise ValidationError(
                {"admin_email": "no active user has this email address; invite them to the platform first"}
            )
    else:
        admin = _actor_user(actor)
        if admin is None:
            raise ValidationError({"admin_email": "is required: name the user who becomes the first Admin"})
    with conflict_named(Workspace, "slug", "is already used by another workspace"):
        workspace = Workspace.objects.create(name=name, slug=slug, created_by=_actor_user(actor))
    Membership.objects.create(workspace=workspace, user=admin, role=_system_role(ADMIN_ROLE_KEY))
    audit_record(
        actor=actor,
        action="workspace.created",
        target=workspace,
        workspace_id=workspace.id,
        details={"slug": slug, "first_admin": admin.email, "first_admin_id": str(admin.id)},
    )
    return workspace


@transaction.atomic
def workspace_settings_update(
    *,
    actor: Actor,
    workspace: Workspace,
    name: str | None = None,
    session_timeout_minutes: int | None = None,
    mfa_required: bool | None = None,
) -> Workspace:
    """Rename the workspace, set its inactivity timeout (15 minutes to 14 days, rule 17) and whether
    its members need a second factor."""
    policy.require_in(actor, workspace, Perm.WORKSPACE_SETTINGS)
    errors: dict[str, list[str]] = {}
    if mfa_required and isinstance(actor, User) and not mfa.mfa_enrolled(user=actor):
        # Otherwise the Admin who asks would be the first one shut out of the workspace.
        errors["mfa_required"] = [
            "Require two-factor authentication: turn it on for yourself first (Profile, Two-factor)."
        ]
    new_name = workspace.name
    new_timeout = workspace.session_timeout
    if name is not None:
        try:
            new_name = _clean_workspace_name(name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if session_timeout_minutes is not None:
        try:
            new_timeout = _clean_timeout_minutes(session_timeout_minutes)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    changes: dict[str, dict[str, Any]] = {}
    if new_name != locked.name:
        changes["name"] = {"from": locked.name, "to": new_name}
    if new_timeout != locked.session_timeout:
        changes["session_timeout_minutes"] = {
            "from": selectors.session_timeout_minutes(locked),
            "to": int(new_timeout.total_seconds() // 60),
        }
    if mfa_required is not None and mfa_required != locked.mfa_required:
        changes["mfa_required"] = {"from": locked.mfa_required, "to": mfa_required}
        locked.mfa_required = mfa_required
    if changes:
        locked.name = new_name
        locked.session_timeout = new_timeout
        locked.save(update_fields=["name", "session_timeout", "mfa_required"])
        audit_record(
            actor=actor,
            action="workspace.settings_changed",
            target=locked,
            workspace_id=locked.id,
            details={"changes": changes},
        )
    workspace.name, workspace.session_timeout = locked.name, locked.session_timeout
    workspace.mfa_required = locked.mfa_required
    return workspace


def _link(secret: str) -> str:
    # The configured address, never the request's Host header, which a sender could forge
    # to have the secret delivered to a site of their own.
    return settings.BASE_URL.rstrip("/") + reverse("web:invitation", kwargs={"token": secret})


def _send_invitation(invitation: Invitation, link: str, *, inviter: str, workspace: Workspace | None) -> None:
    where = f"the workspace {workspace.name}" if workspace is not None else "Causeway"
    role = f" as {invitation.role.name}" if invitation.role is not None else ""
    expires = invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    body = (
        f"{inviter} invited you to join {where}{role}.\n\n"
        f"Open this link to accept. It works once, until {expires}:\n\n{link}\n\n"
        "If you did not expect this invitation, ignore this message.\n"
    )
    mail.notify(to=invitation.email, subject=f"You are invited to {where}", body=body)


def _inviter_label(actor: Actor) -> str:
    user = _actor_user(actor)
    if user is not None:
        return f"{user.full_name} ({user.email})" if user.full_name else user.email
    return "The operator of this Causeway installation"


def _issue(
    *,
    actor: Actor,
    email: str,
    workspace: Workspace | None,
    role: Any,
    user_type: str,
) -> IssuedInvitation:
    secret = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        workspace=workspace,
        email=email,
        user_type=user_type,
        role=role,
        digest=invitation_digest(secret),
        invited_by=_actor_user(actor),
        expires_at=timezone.now() + INVITATION_TTL,
    )
    details: dict[str, Any] = {"email": email, "expires_at": invitation.expires_at.isoformat()}
    if workspace is None:
        details["user_type"] = user_type
    else:
        details["role"] = role.key
    audit_record(
        actor=actor,
        action="invitation.sent",
        target=invitation,
        workspace_id=workspace.id if workspace is not None else None,
        details=details,
    )
    link = _link(secret)
    # Sent once the invitation is committed, as every notice is (`mail.notify`); the link is also
    # shown to whoever invited, so a message that cannot go out is not the only way to it.
    _send_invitation(invitation, link, inviter=_inviter_label(actor), workspace=workspace)
    return IssuedInvitation(invitation=invitation, link=link)


def _refuse_second_open_invitation(email: str, workspace: Workspace | None) -> None:
    scope = Q(workspace__isnull=True) if workspace is None else Q(workspace=workspace)
    pending = Invitation.objects.filter(
        scope,
        email_index=invitation_email_index(email),
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )
    if pending.exists():
        raise ValidationError({"email": "already has a pending invitation; revoke it to send a new one"})


@transaction.atomic
def platform_invitation_create(
    *, actor: Actor, email: str, user_type: str = UserType.STANDARD
) -> IssuedInvitation:
    """Invite a person to the platform as a standard or staff user."""
    policy.require_platform(actor)
    email = clean_email(email)
    if user_type not in UserType.values:
        raise ValidationError({"user_type": f"must be one of {', '.join(UserType.values)}"})
    if User.objects.with_email(email).exists():
        raise ValidationError({"email": "already has an account on this platform"})
    _refuse_second_open_invitation(email, None)
    return _issue(actor=actor, email=email, workspace=None, role=None, user_type=user_type)


@transaction.atomic
def workspace_invitation_create(
    *, actor: Actor, workspace: Workspace, email: str, role: str
) -> IssuedInvitation:
    """Invite a person into a workspace with a system role, one the inviter could give them as a member.
    Someone without an account gets one on acceptance, as a standard user: a workspace invitation never
    makes anyone staff."""
    policy.require_in(actor, workspace, Perm.MEMBER_MANAGE)
    found = Role.objects.filter(workspace__isnull=True, is_system=True, key=role).first()
    if found is not None:
        giving.require_may_give_roles(actor, workspace, [found])
    email = clean_email(email)
    if role not in SYSTEM_ROLE_KEYS:
        raise ValidationError({"role": f"must be one of {', '.join(SYSTEM_ROLE_KEYS)}"})
    if Membership.objects.filter(workspace=workspace, user__email_index=email_index(email)).exists():
        raise ValidationError({"email": "is already a member of this workspace"})
    _refuse_second_open_invitation(email, workspace)
    return _issue(
        actor=actor, email=email, workspace=workspace, role=_system_role(role), user_type=UserType.STANDARD
    )


@transaction.atomic
def invitation_accept(
    *,
    actor: User | AnonymousUser,
    token: str,
    first_name: str = "",
    last_name: str = "",
    password: str = "",
) -> AcceptedInvitation:
    """Use an invitation, once. A person without an account creates one (rule 19 checks apply); a person
    with one must be signed in as the invited email. A workspace invitation makes them a member."""
    digest = invitation_digest(token or "")
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("workspace", "role")
        .filter(digest=digest)
        .first()
        if token and len(token) <= 200
        else None
    )
    if invitation is None or not invitation.is_open:
        raise InvitationUnusable
    signed_in = actor if isinstance(actor, User) and actor.is_authenticated else None
    existing = User.objects.with_email(invitation.email).first()
    if existing is not None:
        if signed_in is None or signed_in.pk != existing.pk:
            raise InvitationWrongAccount(
                "This invitation is for an existing account. Log in as the invited address to accept it."
            )
        if invitation.workspace is None:
            raise ValidationError({"email": "already has an account on this platform; log in instead"})
        user = existing
    else:
        if signed_in is not None:
            raise InvitationWrongAccount(
                "You are logged in as another account. Log out, then open this link again."
            )
        user_type = invitation.user_type if invitation.workspace is None else UserType.STANDARD
        user = user_create(
            # Not signed in yet: the person is known only by the address the invitation went to.
            actor=AuditActor(type=ActorType.ANONYMOUS, label=invitation.email),
            email=invitation.email,
            first_name=first_name,
            last_name=last_name,
            password=password,
            user_type=user_type,
        )
    now = timezone.now()
    # A conditional update, so two acceptances racing each other cannot both succeed.
    used = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    ).update(accepted_at=now)
    if used != 1:
        raise InvitationUnusable
    invitation.accepted_at = now
    membership = None
    if invitation.workspace is None:
        audit_record(
            actor=user,
            action="invitation.accepted",
            target=invitation,
            details={"user_id": str(user.id), "user_type": user.user_type},
        )
    else:
        role = invitation.role
        if role is None:
            # Every workspace invitation names its role; one without is not usable.
            raise InvitationUnusable
        if Membership.objects.filter(workspace=invitation.workspace, user=user).exists():
            raise ValidationError({"email": "is already a member of this workspace"})
        membership = Membership.objects.create(workspace=invitation.workspace, user=user, role=role)
        audit_record(
            actor=user,
            action="member.added",
            target=membership,
            workspace_id=invitation.workspace.id,
            details={
                "user_id": str(user.id),
                "role": role.key,
                "via": "invitation",
                "invitation_id": str(invitation.id),
            },
        )
    return AcceptedInvitation(
        invitation=invitation, user=user, account_created=existing is None, membership=membership
    )


@transaction.atomic
def invitation_revoke(*, actor: Actor, invitation: Invitation) -> Invitation:
    """Revoke an open invitation: a workspace's (`member:manage` there) or the platform's (staff)."""
    if invitation.workspace_id is None:
        policy.require_platform(actor)
    else:
        policy.require_in(actor, Workspace.objects.get(pk=invitation.workspace_id), Perm.MEMBER_MANAGE)
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if locked.accepted_at is not None:
        raise ValidationError({"invitation": "has already been accepted; remove the member instead"})
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="invitation.revoked",
            target=locked,
            workspace_id=locked.workspace_id,
            details={"email": locked.email},
        )
    invitation.revoked_at = locked.revoked_at
    return invitation


def _lock_membership(membership: Membership) -> Membership:
    # Lock the workspace first: two Admins demoting each other at once must not leave none.
    Workspace.objects.select_for_update().get(pk=membership.workspace_id)
    return (
        Membership.objects.select_for_update(of=("self",))
        .select_related("role", "user", "workspace")
        .get(pk=membership.pk)
    )


@transaction.atomic
def member_role_change(
    *, actor: Actor, membership: Membership, role: str, workspace: Workspace | None = None
) -> Membership:
    """Give a member another role, a system role or one of this workspace's own, never one carrying
    more than the giver holds: so nobody changes their own role upward either."""
    workspace = workspace or membership.workspace
    policy.require_in(actor, workspace, Perm.MEMBER_MANAGE)
    if membership.workspace_id != workspace.id:
        raise NotFound("member")
    new_role = policy.roles_assignable(workspace).filter(key=role).first()
    if new_role is not None:
        giving.require_may_give_roles(actor, workspace, [new_role])
    locked = _lock_membership(membership)
    if new_role is None:
        raise ValidationError({"role": "is not a role of this workspace"})
    if new_role.pk == locked.role_id:
        return locked
    if is_admin_membership(locked) and locked.user.is_active and active_admin_count(locked.workspace) <= 1:
        raise ValidationError(
            {"role": "the last Admin of a workspace cannot be demoted; make another member Admin first"}
        )
    previous = locked.role
    locked.role = new_role
    locked.save(update_fields=["role"])
    audit_record(
        actor=actor,
        action="member.role_changed",
        target=locked,
        workspace_id=locked.workspace_id,
        details={"user_id": str(locked.user_id), "from": previous.key, "to": new_role.key},
    )
    return locked


@transaction.atomic
def member_sessions_end(*, actor: Actor, membership: Membership) -> int:
    """End every session of a member (a lost laptop, a departure): an Admin's act, audited in the
    workspace. API tokens are separate credentials; the member revokes them, or the Admin removes them."""
    policy.require_in(actor, membership.workspace, Perm.MEMBER_MANAGE)
    return sessions.sessions_end_of(
        actor=actor, user=membership.user, workspace_id=str(membership.workspace_id)
    )


@transaction.atomic
def member_remove(*, actor: Actor, membership: Membership) -> None:
    """Take a member out of the workspace. Access is checked on every request, so it ends at once."""
    policy.require_in(actor, membership.workspace, Perm.MEMBER_MANAGE)
    locked = _lock_membership(membership)
    if is_admin_membership(locked) and locked.user.is_active and active_admin_count(locked.workspace) <= 1:
        raise ValidationError(
            {"member": "the last Admin of a workspace cannot be removed; make another member Admin first"}
        )
    audit_record(
        actor=actor,
        action="member.removed",
        target=locked,
        workspace_id=locked.workspace_id,
        details={"user_id": str(locked.user_id), "role": locked.role.key},
    )
    locked.delete()
