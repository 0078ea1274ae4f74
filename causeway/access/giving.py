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

What a role gives depends on the projects it covers, and what joining a group gives on the group's
recipe grants; both are kept beside the projects and recipes, so `recipes/policy.py` registers the
answer for a role and for a group with `gap`, as it registers what an actor holds on its content with
`policy.holding`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from causeway.access.errors import Forbidden
from causeway.access.models import Group
from causeway.access.perms import Perm, granted
from causeway.access.policy import SERVICE_ACCOUNT_PERMS, Actor, Standing, holding, standing
from causeway.workspaces.models import Role, Workspace

ROLE_WHY = "you do not hold it in every project the role covers"


@dataclass(frozen=True)
class Gap:
    """The first permission a giver lacks for what they would give, and why it counts there."""

    perm: Perm
    why: str


def gives_everything(st: Standing) -> bool:
    return st.system or (st.member and st.is_admin)


def refuse(actor: Actor | None, workspace: Workspace, perm: Perm, why: str) -> Forbidden:
    return Forbidden(perm, workspace=workspace, actor=actor, detail=f"you cannot give {perm}: {why}")


def granted_perms(capabilities: Iterable[str], *, service_account: bool) -> frozenset[Perm]:
    """What capabilities give on a recipe; to a service account only what rule 8 leaves it."""
    perms = granted(capabilities)
    return perms & SERVICE_ACCOUNT_PERMS if service_account else perms


def recipe_gap(st: Standing, recipe: object, perms: Iterable[Perm]) -> Perm | None:
    """The first of `perms` the giver does not effectively hold on the recipe."""
    if gives_everything(st):
        return None
    held = holding(recipe, st).held
    return next((p for p in sorted(perms) if p not in held), None)


@functools.singledispatch
def gap(given: object, st: Standing, *, service_account: bool = False) -> Gap | None:
    """What giving `given` (a role; a group's membership, to a service account if `service_account`)
    would pass on that `st`'s actor does not hold where it counts; None if they hold it all. The app
    that keeps what the answer reads registers it; without one, nothing can be given."""
    raise TypeError(f"the policy cannot say what giving a {type(given).__name__} gives")


def require_may_grant(
    actor: Actor | None,
    workspace: Workspace,
    recipe: object,
    capabilities: Iterable[str],
    *,
    service_account: bool = False,
) -> None:
    """The giver holds, on this recipe, every permission these capabilities give."""
    found = recipe_gap(
        standing(actor, workspace), recipe, granted_perms(capabilities, service_account=service_account)
    )
    if found is not None:
        raise refuse(actor, workspace, found, "you do not hold it on this recipe")


def require_may_give_roles(actor: Actor | None, workspace: Workspace, roles: Iterable[Role]) -> None:
    """The giver holds everything each role carries, where it carries it (a member's, a group's role)."""
    st = standing(actor, workspace)
    if gives_everything(st):
        return
    for role in roles:
        found = gap(role, st)
        if found is not None:
            raise refuse(actor, workspace, found.perm, found.why)


def require_may_add_to_group(
    actor: Actor | None, workspace: Workspace, group: Group, *, service_account: bool = False
) -> None:
    """Joining a group gives its roles (to a user; rule 8 keeps them from a service account) and its
    recipe grants: the giver holds them all, so nobody raises their own standing by joining one."""
    st = standing(actor, workspace)
    if gives_everything(st):
        return
    found = gap(group, st, service_account=service_account)
    if found is not None:
        raise refuse(actor, workspace, found.perm, found.why)
