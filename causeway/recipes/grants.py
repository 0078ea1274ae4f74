"""Per-recipe grants: read, write, execute and debug given to a user, a service account or a group.

Each change needs write on the recipe, and gives nothing the giver does not hold there (`access.giving`);
each runs in one transaction and records its audit event inside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from causeway.access import giving
from causeway.access.models import Group
from causeway.access.perms import CAPABILITY_NAMES, Perm
from causeway.access.policy import Actor, uuid_or_none
from causeway.access.services import hidden, identity_of
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.recipes import policy as recipes_policy
from causeway.recipes.models import Recipe, RecipeGrant
from causeway.workspaces.models import ServiceAccount, Workspace


def grants_visible(actor: Actor | None, workspace: Workspace, recipe: Recipe) -> QuerySet[RecipeGrant]:
    """The grants on a recipe, for an actor who may read it (checked here again)."""
    recipes_policy.recipe_get(actor, workspace, recipe.id, need=Perm.RECIPE_VIEW)
    return RecipeGrant.objects.filter(recipe_id=recipe.id).select_related("user", "service_account", "group")


def grant_get(actor: Actor | None, workspace: Workspace, recipe: Recipe, ref: Any) -> RecipeGrant:
    recipes_policy.recipe_get(actor, workspace, recipe.id, need=Perm.RECIPE_EDIT)
    pk = uuid_or_none(ref)
    found = RecipeGrant.objects.filter(recipe_id=recipe.id, pk=pk).first() if pk else None
    if found is None:
        raise hidden(actor, RecipeGrant, pk, Perm.RECIPE_EDIT, "grant")
    return found


@transaction.atomic
def grant_set(
    *,
    actor: Actor | None,
    workspace: Workspace,
    recipe: Recipe,
    user: User | str | None = None,
    service_account: ServiceAccount | str | None = None,
    group: Group | str | None = None,
    capabilities: Iterable[str],
) -> RecipeGrant | None:
    """Give a user, a service account or a group exactly these capabilities on a recipe (none: take
    the grant away). Needs write on the recipe, and every capability added held by the giver there."""
    recipe = recipes_policy.recipe_get(actor, workspace, recipe.id, need=Perm.RECIPE_EDIT)
    caps: set[str] = set()
    for value in capabilities:
        if value not in CAPABILITY_NAMES:
            raise ValidationError({"capabilities": f"{value} is not one of read, write, execute, debug"})
        caps.add(value)
    chosen = [x for x in (user, service_account, group) if x is not None]
    if len(chosen) != 1:
        raise ValidationError({"grantee": "name exactly one user, service account or group"})
    found_group = None
    found_user = found_sa = None
    if group is not None:
        found_group = group if isinstance(group, Group) else None
        if found_group is None:
            pk = uuid_or_none(group)
            query = Group.objects.filter(workspace=workspace)
            found_group = (query.filter(pk=pk) if pk else query.filter(name=str(group))).first()
        if found_group is None or found_group.workspace_id != workspace.id:
            raise ValidationError({"grantee": "is not a group of this workspace"})
    else:
        try:
            found_user, found_sa = identity_of(workspace, user=user, service_account=service_account)
        except ValidationError as exc:
            raise ValidationError({"grantee": exc.message_dict["member"]}) from None
    if found_sa is not None and caps - {"execute"}:
        raise ValidationError({"capabilities": "a service account can only be granted execute (rule 8)"})
    who = (
        Q(user=found_user)
        if found_user
        else Q(service_account=found_sa)
        if found_sa
        else Q(group=found_group)
    )
    grant = RecipeGrant.objects.select_for_update().filter(who, recipe_id=recipe.id).first()
    # Only what the grant does not give yet is given now; keeping or taking away gives nothing.
    giving.require_may_grant(
        actor,
        workspace,
        recipe,
        caps - (grant.capabilities if grant else frozenset()),
        service_account=found_sa is not None,
    )
    before = sorted(grant.capabilities) if grant else []
    details: dict[str, Any] = {"recipe_id": str(recipe.id), "recipe": recipe.name}
    if found_user:
        details["user_id"] = str(found_user.id)
    elif found_sa:
        details.update(service_account_id=str(found_sa.id), service_account=found_sa.name)
    else:
        assert found_group is not None  # nosec B101
        details.update(group_id=str(found_group.id), group=found_group.name)
    details.update({"from": before, "to": sorted(caps)})
    if not caps:
        if grant is None:
            return None
        target = grant.audit_target
        grant.delete()
        audit_record(
            actor=actor,
            action="recipe_grant.removed",
            target=target,
            workspace_id=workspace.id,
            details=details,
        )
        return None
    if grant is None:
        grant = RecipeGrant(
            workspace=workspace,
            recipe_id=recipe.id,
            user=found_user,
            service_account=found_sa,
            group=found_group,
        )
    for cap in CAPABILITY_NAMES:
        setattr(grant, cap, cap in caps)
    grant.save()
    audit_record(
        actor=actor,
        action="recipe_grant.set",
        target=grant,
        workspace_id=workspace.id,
        details=details,
    )
    return grant


@transaction.atomic
def grant_remove(*, actor: Actor | None, workspace: Workspace, grant: RecipeGrant) -> None:
    recipe = recipes_policy.recipe_get(actor, workspace, grant.recipe_id, need=Perm.RECIPE_EDIT)
    target = grant.audit_target
    details = {
        "recipe_id": str(recipe.id),
        "recipe": recipe.name,
        "from": sorted(grant.capabilities),
        "to": [],
    }
    grant.delete()
    audit_record(
        actor=actor,
        action="recipe_grant.removed",
        target=target,
        workspace_id=workspace.id,
        details=details,
    )
