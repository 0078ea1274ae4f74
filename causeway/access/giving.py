"""Giving is itself a permission: nobody gives a permission they do not hold, nor raises their own (rule 8).

Every path that gives — recipe grants (to a user, a group or a service account), group roles, group
members, custom roles, member roles and invitations with a role — asks here first, and is refused
with `Forbidden` naming the first permission the giver lacks.

What the giver holds, for giving:

- An Admin (and the operator's command line) holds everything in the workspace, whatever the
  environments' ceilings say. An Admin may give a service account execute on a PROD recipe although
  the PROD ceiling keeps every person, the Admin included, from running it there.
- Anyone else gives a recipe grant only from what they effectively hold on that recipe, within its
  environment's ceiling: a grant may reach a service account, which no ceiling binds, so a builder
  who may edit a PROD recipe but not run it cannot have a service account run it for them.
- A role (as a member's role, a group's role, or a custom role's permissions) is compared role for
  role, in every project it covers, before the ceiling: a role only ever reaches people, and the same
  ceiling binds the giver and whoever is given it.

A grant to oneself or to a group one is in, and adding oneself to a group, pass the same test, so they
can never add anything one does not already hold.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from causeway.access.errors import Forbidden
from causeway.access.models import Group, RecipeGrant, Role
from causeway.access.perms import ADMIN_ONLY, Perm, granted
from causeway.access.policy import SERVICE_ACCOUNT_PERMS, Actor, Standing, holding, standing
from causeway.workspaces.models import Workspace


def _gives_everything(st: Standing) -> bool:
    return st.system or (st.member and st.is_admin)


def _refuse(actor: Actor | None, workspace: Workspace, perm: Perm, why: str) -> Forbidden:
    return Forbidden(perm, workspace=workspace, actor=actor, detail=f"you cannot give {perm}: {why}")


def granted_perms(capabilities: Iterable[str], *, service_account: bool) -> frozenset[Perm]:
    """What capabilities give on a recipe; to a service account only what rule 8 leaves it."""
    perms = granted(capabilities)
    return perms & SERVICE_ACCOUNT_PERMS if service_account else perms


def _recipe_gap(st: Standing, recipe: object, perms: Iterable[Perm]) -> Perm | None:
    if _gives_everything(st):
        return None
    held = holding(recipe, st).held
    return next((p for p in sorted(perms) if p not in held), None)


def require_may_grant(
    actor: Actor | None,
    workspace: Workspace,
    recipe: object,
    capabilities: Iterable[str],
    *,
    service_account: bool = False,
) -> None:
    """The giver holds, on this recipe, every permission these capabilities give."""
    gap = _recipe_gap(
        standing(actor, workspace), recipe, granted_perms(capabilities, service_account=service_account)
    )
    if gap is not None:
        raise _refuse(actor, workspace, gap, "you do not hold it on this recipe")


_ROLE_WHY = "you do not hold it in every project the role covers"


def _role_gap(
    st: Standing, perms: Iterable[Perm], *, all_projects: bool, project_ids: Iterable[uuid.UUID]
) -> Perm | None:
    """The first permission the giver's roles do not give in every project a role would cover."""
    if _gives_everything(st):
        return None
    if not st.member or not st.human:
        return next(iter(sorted(perms)), None)
    projects = frozenset(project_ids)
    for perm in sorted(perms):
        if perm is Perm.WORKSPACE_VIEW:
            continue  # every member holds it
        holding = [] if perm in ADMIN_ONLY else [s for s in st.roles if perm in s.role.perms]
        if all_projects:
            covered = any(s.all_projects for s in holding)
        else:
            covered = all(any(s.covers(pid) for s in holding) for pid in projects)
        if not covered:
            return perm
    return None


def _role_projects(role: Role) -> frozenset[uuid.UUID]:
    if role.all_projects or role.pk is None:
        return frozenset()
    return frozenset(role.projects.values_list("id", flat=True))


def require_may_give_permissions(
    actor: Actor | None,
    workspace: Workspace,
    perms: Iterable[Perm],
    *,
    all_projects: bool,
    project_ids: Iterable[uuid.UUID] = (),
) -> None:
    """The giver's roles give each of `perms` in every project the role being written would cover."""
    gap = _role_gap(standing(actor, workspace), perms, all_projects=all_projects, project_ids=project_ids)
    if gap is not None:
        raise _refuse(actor, workspace, gap, _ROLE_WHY)


def _require_roles(st: Standing, roles: Iterable[Role]) -> None:
    for role in roles:
        gap = _role_gap(st, role.perms, all_projects=role.all_projects, project_ids=_role_projects(role))
        if gap is not None:
            raise _refuse(st.actor, st.workspace, gap, f"the role {role.name} carries it and {_ROLE_WHY}")


def require_may_give_roles(actor: Actor | None, workspace: Workspace, roles: Iterable[Role]) -> None:
    """The giver holds everything each role carries, where it carries it (a member's, a group's role)."""
    _require_roles(standing(actor, workspace), roles)


def require_may_add_to_group(
    actor: Actor | None, workspace: Workspace, group: Group, *, service_account: bool = False
) -> None:
    """Joining a group gives its roles (to a user; rule 8 keeps them from a service account) and its
    recipe grants: the giver holds them all, so nobody raises their own standing by joining one."""
    st = standing(actor, workspace)
    if _gives_everything(st):
        return
    if not service_account:
        _require_roles(st, group.roles.all())
    grants = RecipeGrant.objects.filter(group=group).select_related("recipe__project")
    for grant in grants:
        given = granted_perms(grant.capabilities, service_account=service_account)
        gap = _recipe_gap(st, grant.recipe, given)
        if gap is not None:
            why = f"the group {group.name} has a grant giving it, on a recipe where you do not hold it"
            raise _refuse(actor, workspace, gap, why)
