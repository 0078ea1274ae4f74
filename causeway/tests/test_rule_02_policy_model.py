"""Rule 2 against a model: random workspaces of members, groups, roles (system and custom, with random
project scopes), grants, environment policies and jobs; the policy's answers for single recipes and
its query filters must equal what a small reference, written here from DESIGN's words alone, says.

The reference works on plain Python values drawn by hypothesis, never on the policy's code or rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causeway.access import policy
from causeway.access.errors import NotFound
from causeway.access.models import EnvironmentPolicy, Group, GroupMember
from causeway.access.perms import ADMIN_ONLY, SYSTEM_ROLES, Perm
from causeway.accounts.models import User
from causeway.recipes import policy as recipes_policy
from causeway.recipes.models import Project, Recipe, RecipeGrant
from causeway.runs.models import Job
from causeway.workspaces.models import Membership, Role, ServiceAccount, Workspace

ENVS = ("dev", "test", "prod")
CAPS = ("read", "write", "execute", "debug")
# Rule 5, in DESIGN's words.
DEFAULT_CEILING = {
    "dev": {"read", "debug", "write"},
    "test": {"read", "debug"},
    "prod": {"read", "debug"},
}
# What each capability of an environment's ceiling stands for (a reading of DESIGN's vocabulary).
CEILING_MEANS = {
    "read": {
        "project:view",
        "folder:view",
        "connection:view",
        "recipe:view",
        "lookup_table:view",
        "job:view",
    },
    "write": {
        f"{k}:{v}"
        for k in ("project", "folder", "connection", "recipe", "lookup_table")
        for v in ("edit", "create", "delete")
    }
    | {"recipe:test"},
    "execute": {"recipe:run"},
    "debug": {"recipe:debug"},
}
# What a per-recipe grant gives on that recipe.
GRANT_MEANS = {
    "read": {"recipe:view", "job:view"},
    "write": {"recipe:edit", "recipe:delete", "recipe:test"},
    "execute": {"recipe:run"},
    "debug": {"recipe:debug"},
}
CATALOGUE = sorted(p.value for p in SYSTEM_ROLES["analyst"] if p is not Perm.WORKSPACE_VIEW)
ASKED = ("recipe:view", "recipe:edit", "recipe:run", "recipe:test", "recipe:debug", "job:view")


@dataclass
class Spec:
    project_envs: list[str]
    recipe_projects: list[int]
    custom_roles: list[tuple[frozenset[str], frozenset[int] | None]]  # perms, scope (None: all projects)
    memberships: list[str | int | None]  # per user: system role key, custom role index, or not a member
    group_roles: list[frozenset[str | int]]
    group_users: list[frozenset[int]]
    group_robots: list[frozenset[int]]
    robots_active: list[bool]
    grants: list[tuple[str, int, int, frozenset[str]]]  # grantee kind, grantee index, recipe, caps
    policies: dict[str, frozenset[str]]
    jobs: list[tuple[int, str, int]]  # recipe, run by kind ("user"/"robot"/"trigger"), index


N_USERS, N_GROUPS, N_ROBOTS = 3, 2, 2


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    n_projects = draw(st.integers(1, 3))
    project_envs = draw(st.lists(st.sampled_from(ENVS), min_size=n_projects, max_size=n_projects))
    n_recipes = draw(st.integers(1, 4))
    recipe_projects = draw(st.lists(st.integers(0, n_projects - 1), min_size=n_recipes, max_size=n_recipes))
    scope = st.one_of(st.none(), st.frozensets(st.integers(0, n_projects - 1), min_size=1))
    custom_roles = draw(st.lists(st.tuples(st.frozensets(st.sampled_from(CATALOGUE)), scope), max_size=2))
    role_choice = st.one_of(
        st.sampled_from(["admin", "analyst", "operator"]),
        *([st.integers(0, len(custom_roles) - 1)] if custom_roles else []),
    )
    memberships = draw(st.lists(st.one_of(st.none(), role_choice), min_size=N_USERS, max_size=N_USERS))
    group_role_choice = st.one_of(
        st.sampled_from(["analyst", "operator"]),
        *([st.integers(0, len(custom_roles) - 1)] if custom_roles else []),
    )
    group_roles = draw(
        st.lists(st.frozensets(group_role_choice, max_size=2), min_size=N_GROUPS, max_size=N_GROUPS)
    )
    group_users = draw(
        st.lists(st.frozensets(st.integers(0, N_USERS - 1)), min_size=N_GROUPS, max_size=N_GROUPS)
    )
    group_robots = draw(
        st.lists(st.frozensets(st.integers(0, N_ROBOTS - 1)), min_size=N_GROUPS, max_size=N_GROUPS)
    )
    robots_active = draw(st.lists(st.booleans(), min_size=N_ROBOTS, max_size=N_ROBOTS))
    grantee = st.one_of(
        st.tuples(st.just("user"), st.integers(0, N_USERS - 1)),
        st.tuples(st.just("group"), st.integers(0, N_GROUPS - 1)),
        st.tuples(st.just("robot"), st.integers(0, N_ROBOTS - 1)),
    )
    raw_grants = draw(
        st.lists(
            st.tuples(
                grantee, st.integers(0, n_recipes - 1), st.frozensets(st.sampled_from(CAPS), min_size=1)
            ),
            max_size=6,
            unique_by=lambda g: (g[0], g[1]),
        )
    )
    grants = [(kind, idx, recipe, caps) for (kind, idx), recipe, caps in raw_grants]
    policies = draw(st.dictionaries(st.sampled_from(ENVS), st.frozensets(st.sampled_from(CAPS))))
    run_by = st.one_of(
        st.tuples(st.just("user"), st.integers(0, N_USERS - 1)),
        st.tuples(st.just("robot"), st.integers(0, N_ROBOTS - 1)),
        st.tuples(st.just("trigger"), st.just(0)),
    )
    jobs = [
        (r, k, i)
        for r, (k, i) in draw(st.lists(st.tuples(st.integers(0, n_recipes - 1), run_by), max_size=4))
    ]
    return Spec(
        project_envs,
        recipe_projects,
        custom_roles,
        memberships,
        group_roles,
        group_users,
        group_robots,
        robots_active,
        grants,
        policies,
        jobs,
    )


# The reference: DESIGN rule 2, 3, 5 and 8 as plain set arithmetic over the spec.


def _role_perms(spec: Spec, role: str | int) -> tuple[set[str], frozenset[int] | None]:
    if isinstance(role, str):
        return {p.value for p in SYSTEM_ROLES[role]}, None
    perms, scope = spec.custom_roles[role]
    return set(perms), scope


def _ceiling(spec: Spec, env: str) -> set[str]:
    caps = spec.policies.get(env, DEFAULT_CEILING[env])
    return set().union(*(CEILING_MEANS[c] for c in caps)) if caps else set()


def ref_recipe_perms(spec: Spec, who: tuple[str, int], recipe: int) -> set[str]:
    kind, i = who
    project = spec.recipe_projects[recipe]
    env = spec.project_envs[project]
    groups = [
        g for g in range(N_GROUPS) if i in (spec.group_users if kind == "user" else spec.group_robots)[g]
    ]
    caps: set[str] = set()
    for g_kind, g_i, g_recipe, g_caps in spec.grants:
        if g_recipe == recipe and ((g_kind == kind and g_i == i) or (g_kind == "group" and g_i in groups)):
            caps |= g_caps
    if kind == "robot":
        # Rule 8: a service account executes what it is granted, nothing else.
        if not spec.robots_active[i]:
            return set()
        return {"recipe:run"} if "execute" in caps else set()
    membership = spec.memberships[i]
    if membership is None:
        return set()
    held: set[str] = set()
    for role in [membership, *[r for g in groups for r in spec.group_roles[g]]]:
        perms, scope = _role_perms(spec, role)
        if scope is None or project in scope:
            held |= {p for p in perms if p.startswith(("recipe:", "job:"))}
    for cap in caps:
        held |= GRANT_MEANS[cap]
    held &= _ceiling(spec, env)
    if membership != "admin":
        held -= {p.value for p in ADMIN_ONLY}
    return held


def ref_project_visible(spec: Spec, who: tuple[str, int], project: int) -> bool:
    kind, i = who
    if kind == "robot" or spec.memberships[i] is None:
        return False
    env = spec.project_envs[project]
    if "project:view" not in _ceiling(spec, env):
        return False
    groups = [g for g in range(N_GROUPS) if i in spec.group_users[g]]
    for role in [spec.memberships[i], *[r for g in groups for r in spec.group_roles[g]]]:
        perms, scope = _role_perms(spec, role)  # type: ignore[arg-type]
        if "project:view" in perms and (scope is None or project in scope):
            return True
    # A project holding a recipe the actor may read by a grant is visible too.
    return any(
        spec.recipe_projects[r] == project
        and "read" in caps
        and ((k == "user" and g_i == i) or (k == "group" and g_i in groups))
        for k, g_i, r, caps in spec.grants
    )


def ref_job_visible(spec: Spec, who: tuple[str, int], job: tuple[int, str, int]) -> bool:
    recipe, run_kind, run_i = job
    kind, i = who
    if kind == "robot":
        return spec.robots_active[i] and run_kind == "robot" and run_i == i
    perms = ref_recipe_perms(spec, who, recipe)
    return "recipe:debug" in perms or (run_kind == "user" and run_i == i and "job:view" in perms)


# Writing a spec to the database.


def _build(spec: Spec) -> tuple[Workspace, list[User], list[ServiceAccount], list, list]:
    from causeway.recipes.models import Project, Recipe, RecipeVersion
    from causeway.runs.models import Job

    tag = uuid.uuid4().hex[:10]
    ws = Workspace.objects.create(name=f"W {tag}", slug=f"w-{tag}")
    projects = [
        Project.objects.create(workspace=ws, name=f"p{n}", environment=env)
        for n, env in enumerate(spec.project_envs)
    ]
    recipes = [
        Recipe.objects.create(workspace=ws, project=projects[p], name=f"r{n}")
        for n, p in enumerate(spec.recipe_projects)
    ]
    system_roles = {r.key: r for r in Role.objects.filter(workspace__isnull=True, is_system=True)}
    custom = []
    for n, (perms, scope) in enumerate(spec.custom_roles):
        role = Role.objects.create(
            workspace=ws, key=f"c{n}", name=f"C{n}", permissions=sorted(perms), all_projects=scope is None
        )
        role.projects.set([projects[p] for p in scope or ()])
        custom.append(role)

    def role_of(ref: str | int) -> Role:
        return system_roles[ref] if isinstance(ref, str) else custom[ref]

    users = [
        User.objects.create_user(email=f"u{n}-{tag}@model.test", first_name="Ada", last_name="Lo")
        for n in range(N_USERS)
    ]
    for user, membership in zip(users, spec.memberships, strict=True):
        if membership is not None:
            Membership.objects.create(workspace=ws, user=user, role=role_of(membership))
    robots = [
        ServiceAccount.objects.create(
            workspace=ws, name=f"robot{n}", disabled_at=None if active else ws.created_at
        )
        for n, active in enumerate(spec.robots_active)
    ]
    groups = []
    for g in range(N_GROUPS):
        group = Group.objects.create(workspace=ws, name=f"g{g}")
        group.roles.set([role_of(r) for r in spec.group_roles[g]])
        GroupMember.objects.bulk_create(
            [GroupMember(group=group, user=users[u]) for u in spec.group_users[g]]
            + [GroupMember(group=group, service_account=robots[r]) for r in spec.group_robots[g]]
        )
        groups.append(group)
    for kind, i, recipe, caps in spec.grants:
        if kind == "user":
            who: dict[str, object] = {"user": users[i]}
        elif kind == "group":
            who = {"group": groups[i]}
        else:
            who = {"service_account": robots[i]}
        RecipeGrant.objects.create(workspace=ws, recipe=recipes[recipe], **who, **{c: True for c in caps})
    for env, caps in spec.policies.items():
        EnvironmentPolicy.objects.create(workspace=ws, environment=env, capabilities=sorted(caps))
    jobs = []
    versions: dict[int, RecipeVersion] = {}
    for recipe, run_kind, i in spec.jobs:
        if recipe not in versions:
            versions[recipe] = RecipeVersion.objects.create(
                workspace=ws, recipe=recipes[recipe], number=1, definition={"trigger": {"type": "manual"}}
            )
        jobs.append(
            Job.objects.create(
                workspace=ws,
                recipe=recipes[recipe],
                version=versions[recipe],
                environment=recipes[recipe].project.environment,
                trigger_type="manual",
                run_by_user=users[i] if run_kind == "user" else None,
                run_by_service_account=robots[i] if run_kind == "robot" else None,
            )
        )
    return ws, users, robots, [projects, recipes], jobs


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs())
def test_rule_02_policy_matches_reference_model(spec: Spec) -> None:
    ws, users, robots, (projects, recipes), jobs = _build(spec)
    actors = [(("user", n), u) for n, u in enumerate(users)] + [
        (("robot", n), r) for n, r in enumerate(robots)
    ]
    for who, actor in actors:
        actor.refresh_from_db()
        st_ = policy.standing(actor, ws)
        for n, recipe in enumerate(recipes):
            expected = ref_recipe_perms(spec, who, n)
            got = {p.value for p in recipes_policy.recipe_perms(st_, recipe)}
            assert got == expected, (who, n)
        for perm in ASKED:
            visible = set(Recipe.objects.visible_to(actor, Perm(perm), ws).values_list("pk", flat=True))
            assert visible == {
                r.pk for n, r in enumerate(recipes) if perm in ref_recipe_perms(spec, who, n)
            }, (who, perm)
        shown = set(Project.objects.visible_to(actor, workspace=ws).values_list("pk", flat=True))
        assert shown == {p.pk for n, p in enumerate(projects) if ref_project_visible(spec, who, n)}, who
        seen = set(Job.objects.visible_to(actor, workspace=ws).values_list("pk", flat=True))
        assert seen == {
            j.pk for j, spec_job in zip(jobs, spec.jobs, strict=True) if ref_job_visible(spec, who, spec_job)
        }, who
        # The single-object getter agrees with the list (rule 9: no read, no object).
        for n, recipe in enumerate(recipes):
            readable = "recipe:view" in ref_recipe_perms(spec, who, n)
            try:
                recipes_policy.recipe_get(actor, ws, recipe.pk)
                found = True
            except NotFound:
                found = False
            assert found == readable, (who, n)
