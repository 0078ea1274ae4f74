"""The access review: every actor of a workspace (members and service accounts) and what it may do on
each project and recipe, and why (the roles and grants behind it, groups named as the reason)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import asdict, dataclass

from causeway.access import policy
from causeway.access.perms import RECIPE_SCOPED, Perm, granted
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.recipes import policy as recipes_policy
from causeway.recipes.models import Project, Recipe, RecipeGrant, roles_covering
from causeway.workspaces.models import Membership, ServiceAccount, Workspace

FIELDS = (
    "actor_type",
    "actor_id",
    "actor",
    "object_type",
    "object_id",
    "object",
    "environment",
    "permissions",
    "why",
)


@dataclass(frozen=True)
class ReviewRow:
    actor_type: str
    actor_id: str
    actor: str
    object_type: str
    object_id: str
    object: str
    environment: str
    permissions: list[str]
    why: str


def _why_roles(st: policy.Standing, project_id: uuid.UUID, held: frozenset[Perm], recipe: bool) -> list[str]:
    out = []
    for scoped in roles_covering(st, project_id):
        given = {p for p in scoped.perms if not recipe or p in RECIPE_SCOPED} & held
        if given:
            out.append(f"role {scoped.role.name} via {scoped.via}")
    return out


def access_review(actor: Actor | None, workspace: Workspace) -> list[ReviewRow]:
    """Admin only (member:view, an Admin-only power)."""
    policy.require_in(actor, workspace, Perm.MEMBER_VIEW)
    projects = list(Project.objects.filter(workspace=workspace).order_by("environment", "name"))
    recipes = list(Recipe.objects.filter(workspace=workspace).select_related("project").order_by("name"))
    grants_by_recipe: dict[uuid.UUID, list[RecipeGrant]] = {}
    for grant in RecipeGrant.objects.filter(workspace=workspace).select_related("group"):
        grants_by_recipe.setdefault(grant.recipe_id, []).append(grant)
    identities: list[tuple[str, User | ServiceAccount, str]] = [
        ("user", m.user, m.user.email)
        for m in Membership.objects.filter(workspace=workspace).select_related("user").order_by("created_at")
        if m.user.is_active
    ]
    identities += [
        ("service_account", sa, sa.name)
        for sa in ServiceAccount.objects.filter(workspace=workspace)
        if sa.is_active
    ]
    rows: list[ReviewRow] = []
    for kind, identity, label in identities:
        st = policy.standing(identity, workspace)
        for project in projects:
            held = recipes_policy.project_holding(project, st).held
            if held:
                why = _why_roles(st, project.id, held, recipe=False) or ["a recipe in it is granted"]
                rows.append(
                    ReviewRow(
                        kind,
                        str(identity.id),
                        label,
                        "project",
                        str(project.id),
                        project.name,
                        project.environment,
                        sorted(held),
                        "; ".join(why),
                    )
                )
        for recipe in recipes:
            mine = [g for g in grants_by_recipe.get(recipe.id, []) if _is_for(st, g)]
            held = recipes_policy.recipe_perms(st, recipe, mine)
            if not held:
                continue
            why = _why_roles(st, recipe.project_id, held, recipe=True)
            for grant in mine:
                caps = [c for c in sorted(grant.capabilities) if granted([c]) & held]
                if caps:
                    via = f"group {grant.group.name}" if grant.group is not None else "direct"
                    why.append(f"grant {'+'.join(caps)} via {via}")
            rows.append(
                ReviewRow(
                    kind,
                    str(identity.id),
                    label,
                    "recipe",
                    str(recipe.id),
                    recipe.name,
                    recipe.project.environment,
                    sorted(held),
                    "; ".join(why),
                )
            )
    return rows


def _is_for(st: policy.Standing, grant: RecipeGrant) -> bool:
    if grant.group_id is not None:
        return grant.group_id in st.group_ids
    if isinstance(st.actor, ServiceAccount):
        return bool(grant.service_account_id == st.actor.id)
    return isinstance(st.actor, User) and grant.user_id == st.actor.id


def review_csv(rows: list[ReviewRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for row in rows:
        values = asdict(row)
        values["permissions"] = " ".join(row.permissions)
        # A cell starting with =, +, - or @ is a formula to a spreadsheet: neutralise it.
        writer.writerow([_cell(str(values[f])) for f in FIELDS])
    return out.getvalue()


def _cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def review_json(rows: list[ReviewRow]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=1)
