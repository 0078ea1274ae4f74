"""What the policy says of projects, folders, lookup tables and recipes (rules 2, 5, 8, 9).

A project's content takes its permissions from the roles covering the project, within its environment's
ceiling; a recipe adds the grants on it. These answers are registered with `access.policy.holding`, so
`may` and `explain` dispatch on the object's type. The getters return an object only to whoever may
`need` it: NotFound where even its existence would leak (rule 9), Forbidden naming the permission where
the actor already may see it.

What giving a role or a group's membership passes on (`access.giving.gap`) is answered here too: a role
reaches the projects in its scope, a group its recipe grants, and both are kept here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TypeVar

from causeway.access import giving
from causeway.access.errors import Forbidden
from causeway.access.giving import ROLE_WHY, Gap
from causeway.access.models import Group
from causeway.access.perms import ADMIN_ONLY, RECIPE_SCOPED, Perm, granted, perms_of
from causeway.access.policy import (
    Actor,
    Holding,
    Reason,
    Standing,
    ceilings_of,
    grant_reason,
    holding,
    in_workspace,
    is_system,
    require,
    standing,
    uuid_or_none,
)
from causeway.recipes.models import (
    Folder,
    LookupTable,
    Project,
    Recipe,
    RecipeGrant,
    grantee_filter,
    project_scopes,
    role_projects,
    roles_covering,
)
from causeway.workspaces.models import Role, Workspace


@holding.register
def project_holding(project: Project, st: Standing) -> Holding:
    """What the actor holds on a project and the content in it, by its roles. A project holding a
    recipe the actor may read through a grant is visible too (its name, not its other content)."""
    if st.system:
        return Holding(frozenset(Perm), project.environment, project.id)
    if not st.member or st.service_account:
        return Holding(frozenset(), project.environment, project.id)
    covering = roles_covering(st, project.id)
    held = {p for scoped in covering for p in scoped.perms}
    if Perm.PROJECT_VIEW not in held and (
        RecipeGrant.objects.filter(grantee_filter(st), recipe__project_id=project.id, read=True).exists()
    ):
        held.add(Perm.PROJECT_VIEW)
    return Holding(st.cap(held, project.environment), project.environment, project.id, roles=covering)


@holding.register
def folder_holding(folder: Folder, st: Standing) -> Holding:
    return project_holding(folder.project, st)


@holding.register
def lookup_table_holding(table: LookupTable, st: Standing) -> Holding:
    return project_holding(table.project, st)


def grants_on(st: Standing, recipe: Recipe) -> list[RecipeGrant]:
    if not st.member or st.system:
        return []
    return list(RecipeGrant.objects.filter(grantee_filter(st), recipe_id=recipe.id).select_related("group"))


def recipe_perms(
    st: Standing, recipe: Recipe, grants: Iterable[RecipeGrant] | None = None
) -> frozenset[Perm]:
    """What the actor holds on one recipe: its project's role permissions and its grants, capped.
    `grants`, if given, are the actor's grants on it already read (the access review reads them once)."""
    return recipe_holding_with(st, recipe, grants).held


def recipe_holding_with(st: Standing, recipe: Recipe, grants: Iterable[RecipeGrant] | None = None) -> Holding:
    project = recipe.project
    if st.system:
        return Holding(frozenset(Perm), project.environment, project.id, role_kinds=RECIPE_SCOPED)
    if not st.member:
        return Holding(frozenset(), project.environment, project.id, role_kinds=RECIPE_SCOPED)
    covering = roles_covering(st, project.id)
    held = {p for scoped in covering for p in scoped.perms} & RECIPE_SCOPED
    reasons: list[tuple[Perm, Reason]] = []
    for grant in grants_on(st, recipe) if grants is None else grants:
        held |= grant.perms
        for name in sorted(grant.capabilities):
            reasons += [(perm, grant_reason(st, name, grant.group_id)) for perm in sorted(granted([name]))]
    return Holding(
        st.cap(held, project.environment),
        project.environment,
        project.id,
        roles=covering,
        extra_reasons=tuple(reasons),
        role_kinds=RECIPE_SCOPED,
    )


@holding.register
def recipe_holding(recipe: Recipe, st: Standing) -> Holding:
    return recipe_holding_with(st, recipe)


# Getters.

C = TypeVar("C", Project, Folder, LookupTable, Recipe)


def _get(
    model: type[C],
    actor: Actor | None,
    workspace: Workspace,
    ref: object,
    *,
    need: Perm,
    view: Perm,
    what: str,
) -> C:
    """The object if the actor may `need` it. Without `view` it is NotFound (rule 9); with `view` but
    without `need`, Forbidden naming the permission."""
    pk = uuid_or_none(ref)
    related = ["workspace"] if model is Project else ["project", "workspace"]
    found = model.objects.select_related(*related).filter(pk=pk).first() if pk else None
    in_workspace(actor, workspace, found, need, what)
    assert found is not None  # nosec B101
    require(actor, need, found, what=what, view=view)
    return found


def recipe_get(
    actor: Actor | None, workspace: Workspace, ref: object, *, need: Perm = Perm.RECIPE_VIEW
) -> Recipe:
    return _get(Recipe, actor, workspace, ref, need=need, view=Perm.RECIPE_VIEW, what="recipe")


def project_get(
    actor: Actor | None, workspace: Workspace, ref: object, *, need: Perm = Perm.PROJECT_VIEW
) -> Project:
    return _get(Project, actor, workspace, ref, need=need, view=Perm.PROJECT_VIEW, what="project")


def folder_get(
    actor: Actor | None, workspace: Workspace, ref: object, *, need: Perm = Perm.FOLDER_VIEW
) -> Folder:
    return _get(Folder, actor, workspace, ref, need=need, view=Perm.FOLDER_VIEW, what="folder")


def lookup_table_get(
    actor: Actor | None, workspace: Workspace, ref: object, *, need: Perm = Perm.LOOKUP_TABLE_VIEW
) -> LookupTable:
    return _get(
        LookupTable, actor, workspace, ref, need=need, view=Perm.LOOKUP_TABLE_VIEW, what="lookup table"
    )


def require_on_project(actor: Actor | None, workspace: Workspace, project: Project, need: Perm) -> None:
    """For creating content in a project: NotFound without view, Forbidden without `need`."""
    in_workspace(actor, workspace, project, need, "project")
    require(actor, need, project, what="project", view=Perm.PROJECT_VIEW)
    if need is Perm.RECIPE_CREATE:
        require_by_promotion(actor, project, need)


def require_by_promotion(actor: Actor | None, project: Project, need: Perm) -> None:
    """Rule 5 for the operator's command line: where the environment's policy withholds `need` (TEST
    and PROD by default), recipes change only by promotion, which writes them itself. A person is held
    to the same policy by the ceiling; the command line holds every permission, so it is held here."""
    if not (is_system(actor) and actor.command_line):
        return
    if need in ceilings_of(project.workspace).get(project.environment, frozenset()):
        return
    env = project.environment.upper()
    raise Forbidden(
        need,
        workspace=project.workspace,
        detail=(
            f"in {env} recipes change only by promotion: build in DEV and promote "
            f"(`causeway promote run`), or have an Admin widen the {env} policy"
        ),
    )


# Giving (rule 8): nobody gives what they do not hold, where the given role or grant counts.


def role_gap(
    st: Standing, perms: Iterable[Perm], *, all_projects: bool, project_ids: Iterable[uuid.UUID]
) -> Perm | None:
    """The first permission the giver's roles do not give in every project a role would cover, role for
    role and before the ceiling (a role only ever reaches people, bound by the same ceilings)."""
    if giving.gives_everything(st):
        return None
    if not st.member or not st.human:
        return next(iter(sorted(perms)), None)
    projects = frozenset(project_ids)
    scopes = project_scopes(st) if projects else {}
    for perm in sorted(perms):
        if perm is Perm.WORKSPACE_VIEW:
            continue  # every member holds it
        holders = [] if perm in ADMIN_ONLY else [s for s in st.roles if perm in s.perms]
        if all_projects:
            covered = any(s.all_projects for s in holders)
        else:
            covered = all(
                any(s.all_projects or pid in scopes.get(s.role.id, frozenset()) for s in holders)
                for pid in projects
            )
        if not covered:
            return perm
    return None


def require_may_give_permissions(
    actor: Actor | None,
    workspace: Workspace,
    perms: Iterable[Perm],
    *,
    all_projects: bool,
    project_ids: Iterable[uuid.UUID] = (),
) -> None:
    """The giver's roles give each of `perms` in every project the role being written would cover."""
    found = role_gap(standing(actor, workspace), perms, all_projects=all_projects, project_ids=project_ids)
    if found is not None:
        raise giving.refuse(actor, workspace, found, ROLE_WHY)


@giving.gap.register
def role_giving_gap(role: Role, st: Standing, *, service_account: bool = False) -> Gap | None:
    found = role_gap(
        st, perms_of(role.permissions), all_projects=role.all_projects, project_ids=role_projects(role)
    )
    return None if found is None else Gap(found, f"the role {role.name} carries it and {ROLE_WHY}")


@giving.gap.register
def group_giving_gap(group: Group, st: Standing, *, service_account: bool = False) -> Gap | None:
    """Joining gives the group's roles (never to a service account, rule 8) and its recipe grants."""
    if not service_account:
        for role in group.roles.all():
            found = role_giving_gap(role, st)
            if found is not None:
                return found
    for grant in RecipeGrant.objects.filter(group=group).select_related("recipe__project"):
        given = giving.granted_perms(grant.capabilities, service_account=service_account)
        perm = giving.recipe_gap(st, grant.recipe, given)
        if perm is not None:
            why = f"the group {group.name} has a grant giving it, on a recipe where you do not hold it"
            return Gap(perm, why)
    return None
