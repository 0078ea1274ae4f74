"""Custom roles: named sets of permissions over all projects or chosen ones. Each change needs
`role:manage`, gives nothing the giver does not hold in every project the role covers
(`recipes.policy.require_may_give_permissions`), runs in one transaction and records its audit event
inside it.

A role's project scope names projects, so roles are managed here, beside the projects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.text import slugify

from causeway.access import policy
from causeway.access.perms import ADMIN_ONLY, SYSTEM_ROLES, Perm, perms_of
from causeway.access.policy import Actor, uuid_or_none
from causeway.access.services import clean_name, hidden, require
from causeway.audit.services import audit_record
from causeway.db import save_or_conflict
from causeway.recipes import policy as recipes_policy
from causeway.recipes.models import Project
from causeway.workspaces.models import Membership, Role, Workspace

# What an Admin composes a custom role from (rule 4's vocabulary, without the Admin-only powers).
CATALOGUE: tuple[Perm, ...] = tuple(
    p
    for p in Perm
    if (p in SYSTEM_ROLES["analyst"] and p is not Perm.WORKSPACE_VIEW) or p is Perm.ENVIRONMENT_PROMOTE
)


def clean_role_permissions(raw: Iterable[Any]) -> list[str]:
    """The permissions of a custom role: known, from the catalogue, never an Admin-only power (rule 3)."""
    known = {p.value: p for p in Perm}
    chosen: set[Perm] = set()
    for value in raw:
        perm = known.get(str(value))
        if perm is None:
            raise ValidationError({"permissions": f"{value} is not a permission"})
        if perm in ADMIN_ONLY:
            raise ValidationError(
                {"permissions": f"{perm} is an Admin-only power (rule 3): no custom role can hold it"}
            )
        if perm is Perm.WORKSPACE_VIEW:
            continue
        if perm not in CATALOGUE:
            raise ValidationError({"permissions": f"{perm} cannot be part of a custom role"})
        chosen.add(perm)
    return sorted(p.value for p in chosen)


def _scope(workspace: Workspace, all_projects: bool, project_ids: Iterable[Any]) -> list[Project]:
    if all_projects:
        return []
    parsed = [uuid_or_none(ref) for ref in project_ids]
    ids = {pk for pk in parsed if pk is not None}
    if len(ids) != len(set(parsed)):
        raise ValidationError({"projects": "a project is named by its id"})
    found = list(Project.objects.filter(workspace=workspace, pk__in=ids))
    # Named by the ids the caller sent, and nothing more: whether another workspace holds one stays unsaid.
    missing = sorted(str(pk) for pk in ids - {p.pk for p in found})
    if len(missing) == 1:
        raise ValidationError({"projects": f"project {missing[0]} is not in this workspace"})
    if missing:
        raise ValidationError({"projects": f"projects {', '.join(missing)} are not in this workspace"})
    if not found:
        raise ValidationError({"projects": "choose all projects, or at least one project"})
    return found


def roles_visible(actor: Actor, workspace: Workspace) -> QuerySet[Role]:
    if not policy.may(actor, Perm.MEMBER_VIEW, workspace):
        return Role.objects.none()
    return policy.roles_assignable(workspace).prefetch_related("projects")


def role_get(actor: Actor, workspace: Workspace, ref: Any, *, need: Perm = Perm.ROLE_MANAGE) -> Role:
    """One of the workspace's custom roles, by id or key. System roles are not editable."""
    require(actor, workspace, need)
    pk = uuid_or_none(ref)
    found = Role.objects.filter(workspace=workspace).filter(Q(pk=pk) if pk else Q(key=str(ref))).first()
    if found is None:
        if Role.objects.filter(workspace__isnull=True, is_system=True, key=str(ref)).exists() or (
            pk and Role.objects.filter(workspace__isnull=True, pk=pk).exists()
        ):
            raise ValidationError({"role": "system roles are fixed and cannot be changed"})
        raise hidden(actor, Role, pk, need, "role")
    return found


@transaction.atomic
def role_create(
    *,
    actor: Actor,
    workspace: Workspace,
    name: str,
    permissions: Iterable[Any],
    all_projects: bool = True,
    project_ids: Iterable[Any] = (),
) -> Role:
    require(actor, workspace, Perm.ROLE_MANAGE)
    name = clean_name(name)
    perms = clean_role_permissions(permissions)
    projects = _scope(workspace, all_projects, project_ids)
    recipes_policy.require_may_give_permissions(
        actor,
        workspace,
        [Perm(p) for p in perms],
        all_projects=all_projects,
        project_ids=[p.id for p in projects],
    )
    key = slugify(name)[:60] or "role"
    if key in SYSTEM_ROLES:
        raise ValidationError({"name": "is the name of a system role"})
    role = Role(
        workspace=workspace, key=key, name=name, is_system=False, permissions=perms, all_projects=all_projects
    )
    save_or_conflict(role, field="name", message="a role with this name already exists", force_insert=True)
    role.projects.set(projects)
    audit_record(
        actor=actor,
        action="role.created",
        target=role,
        workspace_id=workspace.id,
        details=_role_details(role, projects),
    )
    return role


def _role_details(role: Role, projects: list[Project]) -> dict[str, Any]:
    return {
        "key": role.key,
        "permissions": list(role.permissions),
        "all_projects": role.all_projects,
        "projects": sorted(str(p.id) for p in projects),
    }


@transaction.atomic
def role_update(
    *,
    actor: Actor,
    role: Role,
    name: str | None = None,
    permissions: Iterable[Any] | None = None,
    all_projects: bool | None = None,
    project_ids: Iterable[Any] | None = None,
) -> Role:
    if role.is_system or role.workspace is None:
        raise ValidationError({"role": "system roles are fixed and cannot be changed"})
    workspace = role.workspace
    require(actor, workspace, Perm.ROLE_MANAGE)
    locked = Role.objects.select_for_update().get(pk=role.pk)
    before = _role_details(locked, list(locked.projects.all()))
    if name is not None:
        locked.name = clean_name(name)
    if permissions is not None:
        locked.permissions = clean_role_permissions(permissions)
    if all_projects is not None:
        locked.all_projects = all_projects
    if all_projects is not None or project_ids is not None:
        projects = _scope(
            workspace, locked.all_projects, project_ids or [p.id for p in locked.projects.all()]
        )
    else:
        projects = list(locked.projects.all())
    if permissions is not None or all_projects is not None or project_ids is not None:
        # A role whose permissions or scope change is given anew to everyone holding it.
        recipes_policy.require_may_give_permissions(
            actor,
            workspace,
            perms_of(locked.permissions),
            all_projects=locked.all_projects,
            project_ids=[p.id for p in projects],
        )
    locked.save()
    locked.projects.set(projects)
    audit_record(
        actor=actor,
        action="role.updated",
        target=locked,
        workspace_id=workspace.id,
        details={"before": before, "after": _role_details(locked, projects)},
    )
    return locked


@transaction.atomic
def role_delete(*, actor: Actor, role: Role) -> None:
    if role.is_system or role.workspace is None:
        raise ValidationError({"role": "system roles are fixed and cannot be deleted"})
    require(actor, role.workspace, Perm.ROLE_MANAGE)
    if Membership.objects.filter(role=role).exists():
        raise ValidationError({"role": "members still hold this role; give them another role first"})
    target = role.audit_target
    workspace_id = role.workspace_id
    role.delete()
    audit_record(actor=actor, action="role.deleted", target=target, workspace_id=workspace_id)
