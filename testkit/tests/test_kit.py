"""The test kit makes what it says: each persona where it belongs, rows as the services write them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from testkit.factories import (
    JobFactory,
    ProjectFactory,
    RecipeFactory,
    RecipeVersionFactory,
    UserFactory,
)
from testkit.personas import builder, cast, robot
from testkit.worlds import reread

pytestmark = pytest.mark.django_db


def roles_of(user: Any) -> dict[str, str]:
    return {m.workspace.name: m.role.key for m in user.memberships.select_related("workspace", "role")}


def test_each_persona_holds_its_place_and_no_other() -> None:
    acme = cast("admin", "analyst", "operator", "builder", "outsider", "staff", "robot")
    assert acme.admin and acme.analyst and acme.operator and acme.builder and acme.outsider
    assert acme.staff and acme.robot
    assert roles_of(acme.admin.user) == {"Acme": "admin"}
    assert roles_of(acme.analyst.user) == {"Acme": "analyst"}
    assert roles_of(acme.operator.user) == {"Acme": "operator"}
    assert roles_of(acme.outsider.user) == {"Other": "admin"}
    assert roles_of(acme.staff.user) == {}
    assert acme.staff.user.user_type == "staff" and acme.admin.user.user_type == "standard"
    assert acme.builder.membership.role == acme.builder.role
    assert acme.builder.role.workspace == acme.workspace and acme.builder.role.all_projects
    assert acme.robot.account.workspace == acme.workspace
    assert acme.admin.email == "admin@example.com"


def test_only_the_personas_asked_for_are_written() -> None:
    from causeway.accounts.models import User
    from causeway.workspaces.models import Workspace

    acme = cast("admin")
    assert acme.admin and acme.analyst is None and acme.outsider is None and acme.other is None
    assert list(User.objects.all()) == [acme.admin.user]
    assert list(Workspace.objects.all()) == [acme.workspace]
    assert acme.people() == {"admin": acme.admin.user, "acme": acme.workspace}


def test_an_unknown_persona_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no persona named wizard"):
        cast("admin", "wizard")


def test_a_builder_can_be_held_to_chosen_projects() -> None:
    acme = cast("admin")
    p1 = ProjectFactory.create(workspace=acme.workspace, name="P1")

    held = builder(acme.workspace, UserFactory.create(), projects=[p1], perms=["recipe:view"])
    assert not held.role.all_projects and list(held.role.projects.all()) == [p1]
    assert held.role.permissions == ["recipe:view"]


def test_tokens_made_by_the_kit_let_their_holder_in() -> None:
    from causeway.workspaces.tokens import token_verify

    acme = cast("admin")
    made = robot(acme.workspace, name="ci-bot")
    found = token_verify(made.secret)
    assert found is not None and found.service_account == made.account


def test_a_recipe_comes_with_its_first_version_and_its_creators_grants() -> None:
    acme = cast("analyst")
    assert acme.analyst
    recipe = RecipeFactory.create(
        actor=acme.analyst.user, project=ProjectFactory.create(workspace=acme.workspace)
    )
    assert recipe.current_version.number == 1
    grant = recipe.grants.get(user=acme.analyst.user)
    assert (grant.read, grant.write, grant.execute, grant.debug) == (True, True, True, True)
    second = RecipeVersionFactory.create(recipe=recipe, message="again")
    assert recipe.current_version == second and second.number == 2


def test_a_job_can_be_backdated() -> None:
    when = timezone.now() - dt.timedelta(days=40)
    job = JobFactory.create(status="failed", created_at=when)
    assert job.created_at == when
    assert job.version == job.recipe.current_version and job.environment == "dev"


def test_reread_hands_out_fresh_containers_and_rows_read_again() -> None:
    acme = cast("admin")
    world = {"ws": acme.workspace, "tokens": {"a": "1"}}
    copy = reread(world)
    copy["tokens"]["a"] = "changed"
    assert world["tokens"] == {"a": "1"}
    type(acme.workspace).objects.filter(pk=acme.workspace.pk).update(name="Renamed")
    assert reread(world)["ws"].name == "Renamed"


def test_a_new_connection_to_the_test_database_does_not_wait_for_the_disk() -> None:
    """What a Causeway process a test starts meets: on PostgreSQL commits that do not wait for the WAL to
    reach the disk; on SQLite the WAL journal, which waits for the disk only at checkpoints."""
    from django.db import connection

    from testkit.support import database_url

    if connection.vendor == "postgresql":
        import psycopg

        with psycopg.connect(database_url()) as other:
            row = other.execute("SHOW synchronous_commit").fetchone()
        assert row == ("off",)
    else:
        import sqlite3

        other = sqlite3.connect(database_url().removeprefix("sqlite:///"))
        try:
            assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            other.close()
