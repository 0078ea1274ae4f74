"""Answers every access question: workspace membership, role permissions, staff powers."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from causeway.access.errors import Forbidden, NotFound
from causeway.access.perms import Perm
from causeway.accounts.models import User
from causeway.workspaces.models import Membership, Workspace


def _is_user(actor: Any) -> bool:
    return isinstance(actor, User) and actor.is_active


def membership_of(actor: Any, workspace: Workspace) -> Membership | None:
    if not _is_user(actor):
        return None
    return Membership.objects.select_related("role").filter(workspace=workspace, user=actor).first()


def perms_in(actor: Any, workspace: Workspace) -> frozenset[Perm]:
    membership = membership_of(actor, workspace)
    if membership is None:
        return frozenset()
    return membership.role.perms


def has_perm(actor: Any, workspace: Workspace, perm: Perm) -> bool:
    return perm in perms_in(actor, workspace)


def workspaces_visible(actor: Any) -> QuerySet[Workspace]:
    """Workspaces the actor is a member of; being staff adds none (staff is not membership)."""
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
    membership = membership_of(actor, workspace)
    if membership is None:
        raise NotFound("workspace")
    if need not in membership.role.perms:
        raise Forbidden(need, workspace=workspace, actor=actor)
    return workspace


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
