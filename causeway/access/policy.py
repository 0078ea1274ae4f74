"""Answers every access question: workspace membership, role permissions, staff powers."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from causeway.access.errors import Forbidden, NotFound
from causeway.access.models import Role
from causeway.access.perms import ADMIN_ONLY, Perm
from causeway.accounts.models import User
from causeway.audit.models import ActorType, Outcome
from causeway.audit.services import Actor, audit_record
from causeway.workspaces.models import Invitation, Membership, ServiceAccount, Workspace
from causeway.workspaces.selectors import (
    invitation_open_by_token,
    invitations_pending,
    workspace_memberships,
)


def _is_user(actor: Any) -> bool:
    return isinstance(actor, User) and actor.is_active


def membership_of(actor: Any, workspace: Workspace) -> Membership | None:
    if not _is_user(actor):
        return None
    return Membership.objects.select_related("role").filter(workspace=workspace, user=actor).first()


def perms_in(actor: Any, workspace: Workspace) -> frozenset[Perm]:
    """Workspace-wide permissions: the member's role. A service account of the workspace holds only
    `workspace:view` here; what it may do comes from its recipe grants (rule 8)."""
    if _is_service_account_of(actor, workspace):
        return frozenset({Perm.WORKSPACE_VIEW})
    membership = membership_of(actor, workspace)
    if membership is None:
        return frozenset()
    held = set(membership.role.perms)
    # Group roles only add (rule 2); the Admin role is never a group's.
    for role in Role.objects.filter(groups__workspace=workspace, groups__members__user=actor).distinct():
        if not _is_admin_role(role):
            held |= role.perms
    if not _is_admin_role(membership.role):
        # Rule 3: whatever a custom role's stored list says, Admin-only powers are the Admin's alone.
        held -= ADMIN_ONLY
    return frozenset(held) | {Perm.WORKSPACE_VIEW}


def _is_admin_role(role: Role) -> bool:
    return role.is_system and role.workspace_id is None and role.key == "admin"


def _is_service_account_of(actor: Any, workspace: Workspace) -> bool:
    return isinstance(actor, ServiceAccount) and actor.is_active and actor.workspace_id == workspace.id


def has_perm(actor: Any, workspace: Workspace, perm: Perm) -> bool:
    return perm in perms_in(actor, workspace)


def workspaces_visible(actor: Any) -> QuerySet[Workspace]:
    """Workspaces the actor is a member of; being staff adds none (staff is not membership).

    The system actor (the operator's command line) sees them all.
    """
    if is_system(actor):
        return Workspace.objects.all()
    if not _is_user(actor):
        return Workspace.objects.none()
    return Workspace.objects.filter(memberships__user=actor).distinct()


def workspace_get(actor: Any, ref: str | uuid.UUID, *, need: Perm) -> Workspace:
    """The workspace by slug or id if the actor holds `need` there.

    Non-members get NotFound, as if it did not exist (rule 9); members lacking the
    permission get Forbidden naming it, since they already know the workspace exists.
    """
    workspace = _find_workspace(ref)
    if workspace is None:
        raise NotFound("workspace")
    if membership_of(actor, workspace) is None and not _is_service_account_of(actor, workspace):
        deny_hidden(actor, workspace, workspace, need)
        raise NotFound("workspace")
    if need not in perms_in(actor, workspace):
        raise Forbidden(need, workspace=workspace, actor=actor)
    return workspace


def deny_hidden(actor: Any, workspace: Workspace, target: Any, need: Any) -> None:
    """A denied attempt on an object that exists goes on that workspace's record, though the answer is
    404 (rule 9 hides it; SECURITY-TESTS 13 still counts it)."""
    with transaction.atomic():
        audit_record(
            actor=actor if isinstance(actor, User | ServiceAccount) else None,
            action="access.denied",
            target=target,
            workspace_id=workspace.id,
            outcome=Outcome.DENIED,
            details={"permission": str(need), "answer": "not found"},
        )


def _find_workspace(ref: str | uuid.UUID) -> Workspace | None:
    if isinstance(ref, uuid.UUID):
        return Workspace.objects.filter(pk=ref).first()
    try:
        return Workspace.objects.filter(pk=uuid.UUID(ref)).first()
    except ValueError:
        return Workspace.objects.filter(slug=ref).first()


def is_staff(actor: Any) -> bool:
    return _is_user(actor) and bool(actor.is_staff)


def require_staff(actor: Any) -> None:
    if not is_staff(actor):
        raise NotFound("page")


def is_system(actor: Any) -> bool:
    """The system actor: the operator's command line, which runs with the machine's keys and database."""
    return isinstance(actor, Actor) and actor.type == ActorType.SYSTEM


def system_workspace_get(actor: Any, ref: str | uuid.UUID) -> Workspace:
    """Any workspace, for the system actor alone; the CLI is run by whoever already holds the database."""
    if not is_system(actor):
        raise NotFound("workspace")
    workspace = _find_workspace(ref)
    if workspace is None:
        raise NotFound("workspace")
    return workspace


def require_perm(actor: Any, workspace: Workspace, perm: Perm) -> None:
    """Forbidden naming `perm` unless the actor holds it in the workspace (a checked member already)."""
    if membership_of(actor, workspace) is None:
        raise NotFound("workspace")
    if not has_perm(actor, workspace, perm):
        raise Forbidden(perm, workspace=workspace, actor=actor)


def _uuid_or_none(ref: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(ref, uuid.UUID):
        return ref
    try:
        return uuid.UUID(str(ref))
    except ValueError:
        return None


def membership_get(actor: Any, workspace: Workspace, member_id: str | uuid.UUID, *, need: Perm) -> Membership:
    """A member of this workspace, by id; a member of another workspace is NotFound like a missing one."""
    require_perm(actor, workspace, need)
    pk = _uuid_or_none(member_id)
    found = (
        Membership.objects.select_related("user", "role", "workspace")
        .filter(workspace=workspace, pk=pk)
        .first()
        if pk is not None
        else None
    )
    if found is None:
        elsewhere = Membership.objects.select_related("workspace").filter(pk=pk).first() if pk else None
        if elsewhere is not None:
            deny_hidden(actor, elsewhere.workspace, elsewhere, need)
        raise NotFound("member")
    return found


def memberships_visible(actor: Any, workspace: Workspace) -> QuerySet[Membership]:
    """The workspace's members, for an actor who may see them (member:view); nothing otherwise."""
    if not has_perm(actor, workspace, Perm.MEMBER_VIEW):
        return Membership.objects.none()
    return workspace_memberships(workspace)


def invitations_visible(actor: Any, workspace: Workspace | None) -> QuerySet[Invitation]:
    """Pending invitations: a workspace's for those who may see its members, the platform's for staff."""
    if workspace is None:
        return invitations_pending(workspace=None) if is_staff(actor) else Invitation.objects.none()
    if not has_perm(actor, workspace, Perm.MEMBER_VIEW):
        return Invitation.objects.none()
    return invitations_pending(workspace=workspace)


def invitation_get(actor: Any, invitation_id: str | uuid.UUID, *, workspace: Workspace | None) -> Invitation:
    """One invitation to revoke: of this workspace (member:manage there), or of the platform (staff)."""
    if workspace is None:
        require_staff(actor)
    else:
        require_perm(actor, workspace, Perm.MEMBER_MANAGE)
    pk = _uuid_or_none(invitation_id)
    found = (
        Invitation.objects.select_related("workspace", "role").filter(workspace=workspace, pk=pk).first()
        if pk is not None
        else None
    )
    if found is None:
        raise NotFound("invitation")
    return found


def invitation_by_token(token: str) -> Invitation:
    """The open invitation this secret opens. The secret is the capability: whoever holds it may read it.

    Unknown, used, revoked and expired all raise the same NotFound, so nothing about the email leaks.
    """
    found = invitation_open_by_token(token)
    if found is None:
        raise NotFound("invitation")
    return found


def users_visible(actor: Any) -> QuerySet[User]:
    """Every user of the platform for staff; otherwise only the actor."""
    if is_staff(actor):
        return User.objects.order_by("date_joined")
    if _is_user(actor):
        return User.objects.filter(pk=actor.pk)
    return User.objects.none()


def roles_assignable(workspace: Workspace) -> QuerySet[Role]:
    """Roles a member of this workspace may hold: the system roles and the workspace's own."""
    return Role.objects.filter(Q(workspace__isnull=True, is_system=True) | Q(workspace=workspace)).order_by(
        "-is_system", "name"
    )
