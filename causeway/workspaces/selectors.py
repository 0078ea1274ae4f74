"""Reads about workspaces, members and invitations."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from causeway.accounts.models import User
from causeway.workspaces.models import SESSION_TIMEOUT_DEFAULT, Invitation, Membership, Workspace

# The key of the system role that holds every power, the Admin-only ones included (rule 3).
ADMIN_ROLE_KEY = "admin"


def session_timeout_for(user: Any) -> timedelta:
    """The strictest inactivity timeout among the user's workspaces (rule 17)."""
    strictest = Membership.objects.filter(user=user).aggregate(t=Min("workspace__session_timeout"))["t"]
    return strictest if isinstance(strictest, timedelta) else SESSION_TIMEOUT_DEFAULT


def session_timeout_minutes(workspace: Workspace) -> int:
    return int(workspace.session_timeout.total_seconds() // 60)


def invitation_digest(secret: str) -> str:
    # The secret carries 256 random bits, so a fast unsalted digest cannot be brute-forced.
    return hashlib.sha256(secret.encode()).hexdigest()


def _open() -> Q:
    return Q(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


def invitation_open_by_token(token: str) -> Invitation | None:
    """The invitation this secret opens, if it is still unused, unrevoked and unexpired."""
    if not token or len(token) > 200:
        return None
    return (
        Invitation.objects.select_related("workspace", "role", "invited_by")
        .filter(_open(), digest=invitation_digest(token))
        .first()
    )


def invitations_pending(*, workspace: Workspace | None) -> QuerySet[Invitation]:
    """Open invitations of one workspace, or of the platform when `workspace` is None."""
    scope = Q(workspace__isnull=True) if workspace is None else Q(workspace=workspace)
    return (
        Invitation.objects.select_related("role", "invited_by")
        .filter(scope)
        .filter(_open())
        .order_by("-created_at")
    )


def workspace_memberships(workspace: Workspace) -> QuerySet[Membership]:
    return (
        # Emails are sealed, so the database cannot sort by them: members are listed in the order they joined.
        Membership.objects.select_related("user", "role")
        .filter(workspace=workspace)
        .order_by("created_at", "pk")
    )


def is_admin_membership(membership: Membership) -> bool:
    return membership.role.key == ADMIN_ROLE_KEY and membership.role.workspace_id is None


def active_admin_count(workspace: Workspace) -> int:
    """Admins who can still sign in: a disabled Admin cannot look after the workspace."""
    return Membership.objects.filter(
        workspace=workspace,
        role__key=ADMIN_ROLE_KEY,
        role__workspace__isnull=True,
        user__is_active=True,
    ).count()


@dataclass(frozen=True)
class InvitationView:
    """What the person holding an invitation link should be asked to do next."""

    # "sign_up": no account has this email yet, so the page asks for a name and password.
    # "log_in": an account has it and nobody is signed in. "confirm": signed in as that account.
    # "wrong_account": signed in as someone else.
    step: str
    invitation: Invitation


def invitation_next_step(invitation: Invitation, actor: User | AnonymousUser) -> InvitationView:
    signed_in = actor if isinstance(actor, User) and actor.is_authenticated else None
    has_account = User.objects.with_email(invitation.email).exists()
    if signed_in is not None and signed_in.email.lower() == invitation.email.lower():
        return InvitationView("confirm", invitation)
    if signed_in is not None:
        return InvitationView("wrong_account", invitation)
    return InvitationView("log_in" if has_account else "sign_up", invitation)
