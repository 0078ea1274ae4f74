"""Access to a workspace's content: projects, folders, recipes, lookup tables and jobs (rules 1, 2, 5, 8, 9).

Effective permission = (role permissions within the role's project scope, plus direct recipe grants,
plus the roles and grants of every group the actor is in), within the environment's ceiling (for
humans), without the Admin-only powers unless the actor is an Admin (rule 3). A service account holds
only what rule 8 leaves it: the execute grants it has, directly or through a group. Lists are query
filters built from the same ingredients, applied in the database; `explain` says which of them gave or
withheld a permission.

Nothing is cached between calls: each request reads the actor's standing afresh, so a removal from a
group, a revoked grant or a disabled service account counts on the very next request.

The content models live in a higher layer; they are reached through Django's app registry by name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db.models import Model, Q, QuerySet

from causeway.access.errors import Forbidden, NotFound
from causeway.access.models import EnvironmentPolicy, Group, RecipeGrant, Role
from causeway.access.perms import (
    ADMIN_ONLY,
    CAPABILITY_PERMS,
    DEFAULT_CEILINGS,
    GRANT_PERMS,
    UNCEILED,
    Capability,
    Environment,
    Perm,
)
from causeway.access.policy import deny_hidden, is_system
from causeway.accounts.models import User
from causeway.workspaces.models import Membership, ServiceAccount, Workspace

# Rule 8: all a service account may hold on a recipe (its own jobs are read through `jobs_visible`).
SERVICE_ACCOUNT_PERMS: frozenset[Perm] = frozenset({Perm.RECIPE_RUN})
_RECIPE_SCOPED = ("recipe:", "job:")


def _model(name: str) -> type[Model]:
    app_label, model_name = name.split(".")
    return apps.get_model(app_label, model_name)


def _uuid(ref: Any) -> uuid.UUID | None:
    if isinstance(ref, uuid.UUID):
        return ref
    try:
        return uuid.UUID(str(ref))
    except ValueError:
        return None


def is_human(actor: Any) -> bool:
    return isinstance(actor, User) and actor.is_active


def is_service_account(actor: Any, workspace: Workspace | None = None) -> bool:
    return (
        isinstance(actor, ServiceAccount)
        and actor.is_active
        and (workspace is None or actor.workspace_id == workspace.id)
    )


@dataclass(frozen=True)
class ScopedRole:
    """A role the actor holds, where from (membership or a group), and the projects it covers."""

    role: Role
    via: str  # "membership" or the group's name
    all_projects: bool
    project_ids: frozenset[uuid.UUID]

    def covers(self, project_id: uuid.UUID) -> bool:
        return self.all_projects or project_id in self.project_ids


@dataclass(frozen=True)
class Standing:
    """Everything the policy needs to know about one actor in one workspace, read once per call."""

    workspace: Workspace
    actor: Any
    human: bool
    member: bool
    is_admin: bool
    roles: tuple[ScopedRole, ...]
    group_ids: frozenset[uuid.UUID]
    ceilings: dict[str, frozenset[Capability]] = field(default_factory=dict)
    # The operator's command line, which already holds the database and the keys: everything.
    system: bool = False
    service_account: bool = False
    group_names: dict[uuid.UUID, str] = field(default_factory=dict)

    def ceiling_perms(self, environment: str) -> frozenset[Perm]:
        caps = self.ceilings.get(environment, frozenset())
        perms: set[Perm] = set()
        for cap in caps:
            perms |= CAPABILITY_PERMS[cap]
        return frozenset(perms)

    def cap(self, perms: Iterable[Perm], environment: str) -> frozenset[Perm]:
        """Apply rule 8 (service accounts), the environment ceiling (humans) and the Admin-only rule."""
        held = frozenset(perms)
        if self.service_account:
            return held & SERVICE_ACCOUNT_PERMS
        if self.human:
            held = (held & self.ceiling_perms(environment)) | (held & UNCEILED)
        if not self.is_admin:
            held -= ADMIN_ONLY
        return held

    def environments_allowing(self, perm: Perm) -> list[str]:
        if not self.human or perm in UNCEILED:
            return [e.value for e in Environment]
        return [e.value for e in Environment if perm in self.ceiling_perms(e.value)]


def ceilings_of(workspace: Workspace) -> dict[str, frozenset[Capability]]:
    """Each environment's ceiling: the stored policy, or rule 5's default where none is stored."""
    found = {p.environment: p.ceiling for p in EnvironmentPolicy.objects.filter(workspace=workspace)}
    return {e.value: found.get(e.value, DEFAULT_CEILINGS[e]) for e in Environment}


def _is_admin_role(role: Role) -> bool:
    return role.is_system and role.workspace_id is None and role.key == "admin"


def _scoped_roles(held: list[tuple[Role, str]]) -> tuple[ScopedRole, ...]:
    """Each role with the projects it covers; one query for all the roles scoped to chosen projects."""
    scoped_ids = {role.id for role, _ in held if not role.all_projects}
    projects: dict[uuid.UUID, set[uuid.UUID]] = {pk: set() for pk in scoped_ids}
    if scoped_ids:
        through = Role.projects.through.objects.filter(role_id__in=scoped_ids)
        for role_id, project_id in through.values_list("role_id", "project_id"):
            projects[role_id].add(project_id)
    return tuple(
        ScopedRole(
            role=role,
            via=via,
            all_projects=role.all_projects,
            project_ids=frozenset() if role.all_projects else frozenset(projects[role.id]),
        )
        for role, via in held
    )


def _groups_of(workspace: Workspace, **member: Any) -> dict[uuid.UUID, str]:
    found = Group.objects.filter(workspace=workspace, **{f"members__{k}": v for k, v in member.items()})
    return dict(found.values_list("id", "name").distinct())


_ROLE_FIELDS = ("id", "workspace_id", "key", "name", "is_system", "permissions", "all_projects")


def _groups_and_roles(workspace: Workspace, user: Any) -> tuple[dict[uuid.UUID, str], list[tuple[Role, str]]]:
    """The user's groups in the workspace and the roles they carry, in one query."""
    rows = Group.objects.filter(workspace=workspace, members__user=user).values_list(
        "id", "name", *(f"roles__{f}" for f in _ROLE_FIELDS)
    )
    groups: dict[uuid.UUID, str] = {}
    roles: list[tuple[Role, str]] = []
    for group_id, name, *role in rows:
        groups[group_id] = name
        if role[0] is not None:
            roles.append((Role(**dict(zip(_ROLE_FIELDS, role, strict=True))), name))
    return groups, roles


def standing(actor: Any, workspace: Workspace) -> Standing:
    """The actor's standing, read afresh from the database (a handful of small indexed queries)."""
    ceilings = ceilings_of(workspace)
    if is_system(actor):
        return Standing(workspace, actor, False, True, True, (), frozenset(), ceilings, system=True)
    if is_human(actor):
        membership = Membership.objects.select_related("role").filter(workspace=workspace, user=actor).first()
        if membership is None:
            return Standing(workspace, actor, True, False, False, (), frozenset(), ceilings)
        groups, group_roles = _groups_and_roles(workspace, actor)
        # A group never carries the Admin role (rule 3 keeps Admin powers to Admin members).
        held = [(membership.role, "membership")] + [
            (r, via) for r, via in group_roles if not _is_admin_role(r)
        ]
        return Standing(
            workspace,
            actor,
            True,
            True,
            _is_admin_role(membership.role),
            _scoped_roles(held),
            frozenset(groups),
            ceilings,
            group_names=groups,
        )
    if is_service_account(actor, workspace):
        # Groups give a service account their grants, never their roles (rule 8).
        groups = _groups_of(workspace, service_account=actor)
        return Standing(
            workspace,
            actor,
            False,
            True,
            False,
            (),
            frozenset(groups),
            ceilings,
            service_account=True,
            group_names=groups,
        )
    return Standing(workspace, actor, False, False, False, (), frozenset(), ceilings)


# Single objects.


def _role_perms(st: Standing, project_id: uuid.UUID) -> set[Perm]:
    held: set[Perm] = set()
    for scoped in st.roles:
        if scoped.covers(project_id):
            held |= scoped.role.perms
    return held


def _grant_filter(st: Standing) -> Q:
    if st.service_account:
        who = Q(service_account=st.actor)
    elif st.human:
        who = Q(user=st.actor)
    else:
        return Q(pk__in=[])
    if st.group_ids:
        who |= Q(group_id__in=st.group_ids)
    return who


def project_perms(st: Standing, project: Any) -> frozenset[Perm]:
    """What the actor holds on a project and the content in it, by its roles. A project holding a
    recipe the actor may read through a grant is visible too (its name, not its other content)."""
    if st.system:
        return frozenset(Perm)
    if not st.member or st.service_account:
        return frozenset()
    held = _role_perms(st, project.id)
    if Perm.PROJECT_VIEW not in held and (
        RecipeGrant.objects.filter(_grant_filter(st), recipe__project_id=project.id, read=True).exists()
    ):
        held.add(Perm.PROJECT_VIEW)
    return st.cap(held, project.environment)


def grants_on(st: Standing, recipe: Any) -> list[RecipeGrant]:
    if not st.member or st.system:
        return []
    return list(RecipeGrant.objects.filter(_grant_filter(st), recipe_id=recipe.id).select_related("group"))


def recipe_perms(st: Standing, recipe: Any, grants: Iterable[RecipeGrant] | None = None) -> frozenset[Perm]:
    """What the actor holds on one recipe: its project's role permissions and its grants, capped.
    `grants`, if given, are the actor's grants on it already read (the access review reads them once)."""
    if st.system:
        return frozenset(Perm)
    if not st.member:
        return frozenset()
    project = recipe.project
    held = {p for p in _role_perms(st, project.id) if p.value.startswith(_RECIPE_SCOPED)}
    for grant in grants_on(st, recipe) if grants is None else grants:
        for cap in grant.capabilities:
            held |= GRANT_PERMS[cap]
    return st.cap(held, project.environment)


def _deny_hidden(actor: Any, workspace: Workspace, target: Any, need: Perm) -> None:
    """A denied attempt on an object that exists is on record even though the answer is 404."""
    deny_hidden(actor, workspace, target, need)


def _get(model: str, workspace: Workspace, ref: Any, *, related: tuple[str, ...] = ()) -> Any:
    pk = _uuid(ref)
    if pk is None:
        return None
    return _model(model).objects.select_related(*related).filter(pk=pk).first()  # type: ignore[attr-defined]


def _refuse(
    actor: Any, workspace: Workspace, found: Any, *, view: Perm, need: Perm, held: frozenset[Perm], what: str
) -> None:
    """NotFound if the actor may not even know the object exists (rule 9), Forbidden naming `need` if
    it may; holding `need` itself (a service account's execute) is knowing it exists."""
    if need in held:
        return
    if view not in held:
        _deny_hidden(actor, found.workspace, found, need)
        raise NotFound(what)
    raise Forbidden(need, workspace=workspace, actor=actor)


def _in_workspace(actor: Any, workspace: Workspace, found: Any, need: Perm, what: str) -> None:
    if found is None:
        raise NotFound(what)
    if found.workspace_id != workspace.id:
        # Another workspace's object: as if it did not exist, and on that workspace's record (rule 9).
        _deny_hidden(actor, found.workspace, found, need)
        raise NotFound(what)


def recipe_get(actor: Any, workspace: Workspace, ref: Any, *, need: Perm = Perm.RECIPE_VIEW) -> Any:
    """The recipe if the actor may `need` it. Without read it is NotFound (rule 9); with read but
    without `need`, Forbidden naming the permission."""
    found = _get("recipes.Recipe", workspace, ref, related=("project", "workspace"))
    _in_workspace(actor, workspace, found, need, "recipe")
    held = recipe_perms(standing(actor, workspace), found)
    _refuse(actor, workspace, found, view=Perm.RECIPE_VIEW, need=need, held=held, what="recipe")
    return found


def project_get(actor: Any, workspace: Workspace, ref: Any, *, need: Perm = Perm.PROJECT_VIEW) -> Any:
    found = _get("recipes.Project", workspace, ref, related=("workspace",))
    _in_workspace(actor, workspace, found, need, "project")
    held = project_perms(standing(actor, workspace), found)
    _refuse(actor, workspace, found, view=Perm.PROJECT_VIEW, need=need, held=held, what="project")
    return found


def folder_get(actor: Any, workspace: Workspace, ref: Any, *, need: Perm = Perm.FOLDER_VIEW) -> Any:
    found = _get("recipes.Folder", workspace, ref, related=("project", "workspace"))
    _in_workspace(actor, workspace, found, need, "folder")
    held = project_perms(standing(actor, workspace), found.project)
    _refuse(actor, workspace, found, view=Perm.FOLDER_VIEW, need=need, held=held, what="folder")
    return found


def lookup_table_get(
    actor: Any, workspace: Workspace, ref: Any, *, need: Perm = Perm.LOOKUP_TABLE_VIEW
) -> Any:
    found = _get("recipes.LookupTable", workspace, ref, related=("project", "workspace"))
    _in_workspace(actor, workspace, found, need, "lookup table")
    held = project_perms(standing(actor, workspace), found.project)
    _refuse(actor, workspace, found, view=Perm.LOOKUP_TABLE_VIEW, need=need, held=held, what="lookup table")
    return found


def may(actor: Any, workspace: Workspace, perm: Perm, obj: Any) -> bool:
    """True if the actor holds `perm` on a recipe or a project (for showing a button, say)."""
    st = standing(actor, workspace)
    if obj.workspace_id != workspace.id:
        return False
    if obj.__class__.__name__ == "Recipe":
        return perm in recipe_perms(st, obj)
    project = obj if obj.__class__.__name__ == "Project" else obj.project
    return perm in project_perms(st, project)


def environment_perms(st: Standing, environment: str) -> frozenset[Perm]:
    """What the actor's roles that cover every project give it in one environment, capped by that
    environment's ceiling: what creating a new project there asks (a role scoped to chosen projects
    covers no project yet to be made)."""
    if st.system:
        return frozenset(Perm)
    if not st.member or st.service_account:
        return frozenset()
    held: set[Perm] = set()
    for scoped in st.roles:
        if scoped.all_projects:
            held |= scoped.role.perms
    return st.cap(held, environment)


def require_in_environment(actor: Any, workspace: Workspace, need: Perm, environment: str | None) -> None:
    """For creating a project: NotFound for a non-member (rule 9), Forbidden without `need` in that
    environment (rule 5: in TEST and PROD no human creates content under the default policies), or in
    any environment when `environment` is None."""
    st = standing(actor, workspace)
    if not st.member:
        raise NotFound("workspace")
    wanted = [e.value for e in Environment] if environment is None else [environment]
    if not any(need in environment_perms(st, e) for e in wanted):
        raise Forbidden(need, workspace=workspace, actor=actor)


def require_on_project(actor: Any, workspace: Workspace, project: Any, need: Perm) -> None:
    """For creating content in a project: NotFound without view, Forbidden without `need`."""
    _in_workspace(actor, workspace, project, need, "project")
    held = project_perms(standing(actor, workspace), project)
    _refuse(actor, workspace, project, view=Perm.PROJECT_VIEW, need=need, held=held, what="project")


# Lists, as query filters.

_NOTHING = Q(pk__in=[])
# Every row. Not `Q()`: an empty Q is dropped when OR-ed with another, which would turn "everything,
# or these" into "these".
_EVERYTHING = Q(pk__isnull=False)


def _role_project_filter(st: Standing, perm: Perm, project_field: str, env_field: str) -> Q:
    """Rows in projects where one of the actor's roles gives `perm`, within the environments that
    allow it (humans only: service accounts take nothing from roles)."""
    if st.system:
        return _EVERYTHING
    if not st.human or not st.member:
        return _NOTHING
    if perm in ADMIN_ONLY and not st.is_admin:
        return _NOTHING
    envs = st.environments_allowing(perm)
    if not envs:
        return _NOTHING
    holding = [s for s in st.roles if perm in s.role.perms]
    if not holding:
        return _NOTHING
    env_q = _EVERYTHING if len(envs) == len(Environment) else Q(**{f"{env_field}__in": envs})
    if any(s.all_projects for s in holding):
        return env_q
    ids: set[uuid.UUID] = set()
    for scoped in holding:
        ids |= scoped.project_ids
    if not ids:
        return _NOTHING
    return Q(**{f"{project_field}__in": sorted(ids)}) & env_q


def _grant_recipe_filter(st: Standing, perm: Perm, recipe_field: str = "pk", env_field: str = "") -> Q:
    """Recipes granted to the actor (directly or through a group) with a capability that gives `perm`."""
    if not st.member or st.system:
        return _NOTHING
    if st.service_account and perm not in SERVICE_ACCOUNT_PERMS:
        return _NOTHING
    caps = [c for c in Capability if perm in GRANT_PERMS[c]]
    if not caps:
        return _NOTHING
    has_cap = Q()
    for cap in caps:
        has_cap |= Q(**{cap.value: True})
    # A non-correlated subquery: the database builds the set of granted ids once (through the grantee
    # indexes; the outer query keeps to the workspace), then probes it.
    granted = RecipeGrant.objects.filter(_grant_filter(st), has_cap).values("recipe_id")
    q = Q(**{f"{recipe_field}__in": granted})
    if st.human:
        envs = st.environments_allowing(perm)
        if not envs:
            return _NOTHING
        if len(envs) != len(Environment):
            q &= Q(**{f"{env_field or 'project__environment'}__in": envs})
    return q


def _recipe_filter(st: Standing, need: Perm) -> Q:
    q = _grant_recipe_filter(st, need)
    if need.value.startswith(_RECIPE_SCOPED):
        q |= _role_project_filter(st, need, "project_id", "project__environment")
    return q


def recipes_visible(actor: Any, workspace: Workspace, need: Perm = Perm.RECIPE_VIEW) -> QuerySet[Any]:
    """The workspace's recipes on which the actor holds `need`, filtered in the database."""
    st = standing(actor, workspace)
    recipes = _model("recipes.Recipe").objects.filter(workspace=workspace)  # type: ignore[attr-defined]
    if st.system:
        return recipes  # type: ignore[no-any-return]
    if not st.member:
        return recipes.none()  # type: ignore[no-any-return]
    return recipes.filter(_recipe_filter(st, need))  # type: ignore[no-any-return]


def projects_visible(actor: Any, workspace: Workspace, need: Perm = Perm.PROJECT_VIEW) -> QuerySet[Any]:
    """Projects the actor's roles let it see, and, for view, those holding a recipe it may read by grant."""
    st = standing(actor, workspace)
    projects = _model("recipes.Project").objects.filter(workspace=workspace)  # type: ignore[attr-defined]
    if st.system:
        return projects  # type: ignore[no-any-return]
    if not st.member or st.service_account:
        return projects.none()  # type: ignore[no-any-return]
    q = _role_project_filter(st, need, "id", "environment")
    if need is Perm.PROJECT_VIEW:
        envs = st.environments_allowing(Perm.PROJECT_VIEW)
        granted = RecipeGrant.objects.filter(_grant_filter(st), read=True).values("recipe__project_id")
        q |= Q(id__in=granted, environment__in=envs)
    return projects.filter(q)  # type: ignore[no-any-return]


def folders_visible(actor: Any, workspace: Workspace, need: Perm = Perm.FOLDER_VIEW) -> QuerySet[Any]:
    st = standing(actor, workspace)
    folders = _model("recipes.Folder").objects.filter(workspace=workspace)  # type: ignore[attr-defined]
    if not st.member:
        return folders.none()  # type: ignore[no-any-return]
    return folders.filter(_role_project_filter(st, need, "project_id", "project__environment"))  # type: ignore[no-any-return]


def lookup_tables_visible(
    actor: Any, workspace: Workspace, need: Perm = Perm.LOOKUP_TABLE_VIEW
) -> QuerySet[Any]:
    st = standing(actor, workspace)
    tables = _model("recipes.LookupTable").objects.filter(workspace=workspace)  # type: ignore[attr-defined]
    if not st.member:
        return tables.none()  # type: ignore[no-any-return]
    return tables.filter(_role_project_filter(st, need, "project_id", "project__environment"))  # type: ignore[no-any-return]


def jobs_visible(actor: Any, workspace: Workspace) -> QuerySet[Any]:
    """Rule 8: every job of a recipe the actor may debug; otherwise only the jobs it ran itself, of
    recipes whose history it may view. A service account sees only the jobs it started."""
    st = standing(actor, workspace)
    jobs = _model("runs.Job").objects.filter(workspace=workspace)  # type: ignore[attr-defined]
    if st.system:
        return jobs  # type: ignore[no-any-return]
    if not st.member:
        return jobs.none()  # type: ignore[no-any-return]
    if st.service_account:
        return jobs.filter(run_by_service_account=actor)  # type: ignore[no-any-return]
    recipes = _model("recipes.Recipe").objects.filter(workspace=workspace)  # type: ignore[attr-defined]
    debuggable = recipes.filter(_recipe_filter(st, Perm.RECIPE_DEBUG)).values("pk")
    viewable = recipes.filter(_recipe_filter(st, Perm.JOB_VIEW)).values("pk")
    return jobs.filter(  # type: ignore[no-any-return]
        Q(recipe_id__in=debuggable) | (Q(run_by_user=actor) & Q(recipe_id__in=viewable))
    )


def job_get(actor: Any, workspace: Workspace, ref: Any) -> Any:
    """One job the actor may see (rule 8); any other is NotFound, as rule 9 says of a job one cannot read."""
    pk = _uuid(ref)
    found = _model("runs.Job").objects.filter(pk=pk).select_related("workspace").first() if pk else None  # type: ignore[attr-defined]
    _in_workspace(actor, workspace, found, Perm.JOB_VIEW, "job")
    assert found is not None  # nosec B101
    visible = jobs_visible(actor, workspace).filter(pk=found.pk).exists()
    if not visible:
        _deny_hidden(actor, workspace, found, Perm.JOB_VIEW)
        raise NotFound("job")
    return found


# Why.


@dataclass(frozen=True)
class Reason:
    """One source of a permission: a role (through membership or a group) or a grant (direct or a group's)."""

    kind: str  # "role", "grant", "system"
    name: str  # the role's name, or the granted capability
    via: str  # "membership", "direct", or "group <name>"

    def __str__(self) -> str:
        if self.kind == "system":
            return "the operator's command line holds every permission"
        if self.kind == "role":
            return f"role {self.name} via {self.via}"
        return f"{self.name} grant via {self.via}"


@dataclass(frozen=True)
class Explanation:
    """Whether the actor holds `perm` on the object, what gave it, and what withheld it if anything."""

    perm: Perm
    allowed: bool
    reasons: tuple[Reason, ...]
    withheld_by: str = ""

    def __str__(self) -> str:
        given = "; ".join(str(r) for r in self.reasons) or "no role or grant gives it"
        if self.allowed:
            return f"{self.perm}: allowed ({given})"
        return f"{self.perm}: refused ({self.withheld_by or given})"


def _via(group_id: uuid.UUID | None, st: Standing) -> str:
    if group_id is None:
        return "direct"
    return f"group {st.group_names.get(group_id, str(group_id))}"


def explain(actor: Any, workspace: Workspace, obj: Any, perm: Perm) -> Explanation:
    """Why the actor holds, or does not hold, `perm` on a recipe, a project (or a folder or lookup table
    by its project), or in the workspace itself (`obj=None`)."""
    st = standing(actor, workspace)
    if st.system:
        return Explanation(perm, True, (Reason("system", "", ""),))
    if not st.member:
        return Explanation(perm, False, (), "not a member of the workspace")
    kind = obj.__class__.__name__ if obj is not None else ""
    if obj is not None and obj.workspace_id != workspace.id:
        return Explanation(perm, False, (), "the object belongs to another workspace")
    project = None if obj is None else (obj if kind == "Project" else obj.project)
    reasons: list[Reason] = []
    for scoped in st.roles:
        if perm in scoped.role.perms and (project is None or scoped.covers(project.id)):
            if kind == "Recipe" and not perm.value.startswith(_RECIPE_SCOPED):
                continue
            reasons.append(Reason("role", scoped.role.name, scoped.via))
    if kind == "Recipe":
        for grant in grants_on(st, obj):
            for cap in sorted(grant.capabilities):
                if perm in GRANT_PERMS[cap]:
                    reasons.append(Reason("grant", cap.value, _via(grant.group_id, st)))
    if obj is None:
        if st.service_account:
            held = frozenset({Perm.WORKSPACE_VIEW})
        else:
            held = frozenset().union(*(s.role.perms for s in st.roles)) | {Perm.WORKSPACE_VIEW}
            if not st.is_admin:
                held -= ADMIN_ONLY
    elif kind == "Recipe":
        held = recipe_perms(st, obj)
    else:
        held = project_perms(st, project)
    allowed = perm in held
    withheld = ""
    if not allowed and (reasons or perm is Perm.WORKSPACE_VIEW):
        withheld = _withheld(st, perm, project)
    return Explanation(perm, allowed, tuple(reasons), withheld)


def _withheld(st: Standing, perm: Perm, project: Any) -> str:
    if st.service_account:
        return "a service account may only execute the recipes it is granted (rule 8)"
    if perm in ADMIN_ONLY and not st.is_admin:
        return "an Admin-only power (rule 3)"
    if project is not None and st.human and perm not in st.ceiling_perms(project.environment):
        env = str(project.environment).upper()
        return f"the {env} environment's policy does not allow it"
    return ""
