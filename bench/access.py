"""Listing the first page of recipes a user may see, against the same page with no permission filter.

100,000 recipes in 1,000 projects (80% DEV, 10% TEST, 10% PROD), 50 groups each holding recipe grants
and some a scoped role. The viewer's own role covers 20 projects; it is in 5 of the groups and holds
some direct grants. The filtered figure includes everything `Recipe.objects.visible_to` does for one
request (reading the viewer's standing and its roles' project scopes, then the filtered query); the
unfiltered one is the plain query. Each figure is the median of several runs after a warm-up.

SQLite always; PostgreSQL too when CAUSEWAY_BENCH_DATABASE_URL names a database (it is emptied and
rebuilt), e.g. postgresql://postgres@127.0.0.1:5432/causeway_access_bench.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

RECIPES = 100_000
PROJECTS = 1_000
GROUPS = 50
PAGE = 50
RUNS = 25
GOAL_RATIO = 2.0
GOAL_MS = 50.0


def _setup(database_url: str | None) -> None:
    home = tempfile.mkdtemp(prefix="causeway-bench-")
    os.environ["CAUSEWAY_HOME"] = home
    if database_url:
        os.environ["CAUSEWAY_DATABASE_URL"] = database_url
        _recreate_postgres(database_url)
    else:
        os.environ.pop("CAUSEWAY_DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "causeway.settings")
    from causeway.bootstrap import prepare_home

    prepare_home()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _recreate_postgres(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _populate() -> tuple[object, object]:
    from causeway.access.models import Group, GroupMember
    from causeway.accounts.models import User
    from causeway.recipes.models import Project, Recipe, RecipeGrant
    from causeway.workspaces.models import Membership, Role, Workspace

    rng = random.Random(7)  # noqa: S311  # nosec B311 - test data, not secrets
    ws = Workspace.objects.create(name="Bench", slug="bench")
    envs = ["dev"] * 8 + ["test", "prod"]
    projects = Project.objects.bulk_create(
        [Project(workspace=ws, name=f"project {n:04}", environment=envs[n % 10]) for n in range(PROJECTS)]
    )
    recipes = Recipe.objects.bulk_create(
        [
            Recipe(
                id=uuid.uuid4(),
                workspace=ws,
                project=projects[n % PROJECTS],
                name=f"recipe {rng.randrange(10**8):08} {n}",
            )
            for n in range(RECIPES)
        ],
        batch_size=5000,
    )
    role = Role.objects.create(
        workspace=ws,
        key="scoped",
        name="Scoped",
        permissions=["project:view", "recipe:view", "recipe:run", "job:view"],
        all_projects=False,
    )
    role.projects.set(rng.sample(projects, 20))
    viewer = User.objects.create_user(email="viewer@bench.test", first_name="Ada", last_name="Lo")
    Membership.objects.create(workspace=ws, user=viewer, role=role)
    others = [
        User.objects.create_user(email=f"u{n}@bench.test", first_name="Bo", last_name="Lo")
        for n in range(200)
    ]
    operator = Role.objects.get(workspace__isnull=True, key="operator")
    Membership.objects.bulk_create([Membership(workspace=ws, user=u, role=operator) for u in others])
    groups = [Group.objects.create(workspace=ws, name=f"group {n:02}") for n in range(GROUPS)]
    for n, group in enumerate(groups[:10]):
        scoped = Role.objects.create(
            workspace=ws, key=f"g{n}", name=f"G{n}", permissions=["recipe:view"], all_projects=False
        )
        scoped.projects.set(rng.sample(projects, 3))
        group.roles.add(scoped)
    members = [GroupMember(group=g, user=u) for g in groups for u in rng.sample(others, 20)]
    members += [GroupMember(group=g, user=viewer) for g in rng.sample(groups, 5)]
    GroupMember.objects.bulk_create(members)
    grants = []
    for group in groups:
        for recipe in rng.sample(recipes, 200):
            grants.append(RecipeGrant(workspace=ws, recipe=recipe, group=group, read=True, execute=True))
    seen = set()
    for recipe in rng.sample(recipes, 100):
        seen.add(recipe.id)
        grants.append(RecipeGrant(workspace=ws, recipe=recipe, user=viewer, read=True, write=True))
    for user in others[:50]:
        for recipe in rng.sample(recipes, 40):
            grants.append(RecipeGrant(workspace=ws, recipe=recipe, user=user, read=True))
    RecipeGrant.objects.bulk_create(grants, batch_size=5000, ignore_conflicts=True)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return ws, viewer


def _median_ms(run: object) -> float:
    times = []
    for _ in range(3):
        run()  # type: ignore[operator]
    for _ in range(RUNS):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(database_url: str | None) -> None:
    _setup(database_url)
    from django.db import connection

    from causeway.access import policy
    from causeway.access.perms import Perm
    from causeway.recipes.models import Recipe, project_scopes

    started = time.perf_counter()
    ws, viewer = _populate()
    built = time.perf_counter() - started

    def filtered() -> list[object]:
        return list(Recipe.objects.visible_to(viewer, Perm.RECIPE_VIEW, ws).order_by("name")[:PAGE])

    def plain() -> list[object]:
        return list(Recipe.objects.filter(workspace=ws).order_by("name")[:PAGE])

    visible = Recipe.objects.visible_to(viewer, Perm.RECIPE_VIEW, ws).count()
    assert len(filtered()) == PAGE
    with_filter, without = _median_ms(filtered), _median_ms(plain)
    reading = _median_ms(lambda: project_scopes(policy.standing(viewer, ws)))
    ratio = with_filter / without
    verdict = "met" if ratio < GOAL_RATIO and with_filter < GOAL_MS else "NOT met"
    print(
        f"{connection.vendor:>10}  {visible:>7,} of {RECIPES:,} visible  filtered {with_filter:7.2f} ms"
        f" (standing {reading:5.2f} ms)  unfiltered {without:6.2f} ms  ratio {ratio:5.2f}"
        f"  (goal < {GOAL_RATIO}x and < {GOAL_MS:.0f} ms: {verdict}; data built in {built:.0f} s)"
    )


def main() -> None:
    print(f"first page ({PAGE}) of the recipes one user may see: {RECIPES:,} recipes, {PROJECTS:,} projects,")
    print(f"{GROUPS} groups; the policy's filtered query against the same page unfiltered (median of {RUNS})")
    targets = [""]
    if os.environ.get("CAUSEWAY_BENCH_DATABASE_URL"):
        targets.append(os.environ["CAUSEWAY_BENCH_DATABASE_URL"])
    for url in targets:
        # Each database in its own process: Django's settings are fixed once set up.
        subprocess.run([sys.executable, "-m", "bench.access", url], check=True)  # noqa: S603  # nosec B603


if __name__ == "__main__":
    measure(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None)
