"""The job-history and schedule selectors, for every kind of actor the interfaces hand them."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest

from causeway.access.errors import Forbidden, NotFound
from causeway.accounts.actors import SystemActor
from causeway.recipes.models import RecipeGrant
from causeway.recipes.services import recipe_save
from causeway.runs import history, schedule
from causeway.runs.tests.factories import MANUAL, make_job, make_recipe, schedule_definition
from causeway.runs.triggers import recipe_start
from causeway.workspaces.models import ServiceAccount
from testkit.personas import cast

pytestmark = pytest.mark.django_db

SYSTEM = SystemActor(label="cli (tests)")


@pytest.fixture
def world() -> dict[str, Any]:
    people = cast("admin", "analyst").people()
    admin, analyst, acme = people["admin"], people["analyst"], people["acme"]
    robot = ServiceAccount.objects.create(workspace=acme, name="robot")
    sync = make_recipe(admin, acme, "Sync")
    return {
        **people,
        "robot": robot,
        "sync": sync,
        "by_robot": make_job(sync, service_account=robot),
        "by_analyst": make_job(sync, by=analyst),
        "by_schedule": make_job(sync, trigger_type="schedule"),
    }


def test_rule_08_a_service_account_sees_only_the_jobs_it_started(world: dict[str, Any]) -> None:
    RecipeGrant.objects.create(
        workspace=world["acme"], recipe=world["sync"], service_account=world["robot"], read=True, debug=True
    )
    listed = history.jobs_list(actor=world["robot"], workspace=world["acme"])
    assert list(listed) == [world["by_robot"]]
    with pytest.raises(NotFound):
        history.job_view(actor=world["robot"], workspace=world["acme"], job_id=world["by_analyst"].pk)
    assert history.run_by(world["by_robot"]) == "service account robot"
    assert history.run_by(world["by_schedule"]) == "the schedule trigger"


def test_a_service_account_with_execute_alone_may_run_the_recipe(world: dict[str, Any]) -> None:
    sync, acme, robot = world["sync"], world["acme"], world["robot"]
    with pytest.raises(NotFound):
        history.recipe_for_run(actor=robot, workspace=acme, recipe_id=sync.pk, test=False)
    RecipeGrant.objects.create(workspace=acme, recipe=sync, service_account=robot, execute=True)
    assert history.recipe_for_run(actor=robot, workspace=acme, recipe_id=sync.pk, test=False) == sync
    with pytest.raises(NotFound):
        history.recipe_for_run(actor=robot, workspace=acme, recipe_id="not-an-id", test=False)


def test_recipe_for_run_gives_the_policy_answer(world: dict[str, Any]) -> None:
    prod = make_recipe(world["admin"], world["acme"], "Prod", environment="prod")
    with pytest.raises(Forbidden):
        history.recipe_for_run(actor=world["analyst"], workspace=world["acme"], recipe_id=prod.pk, test=True)
    with pytest.raises(NotFound):
        history.recipe_for_run(actor=world["analyst"], workspace=world["acme"], recipe_id="nope", test=True)


def test_the_operator_command_line_sees_every_job(world: dict[str, Any]) -> None:
    assert history.jobs_list(actor=SYSTEM, workspace=world["acme"]).count() == 3
    view = history.job_view(actor=SYSTEM, workspace=world["acme"], job_id=world["by_robot"].pk)
    assert view.job == world["by_robot"]
    found = history.recipe_for_run(
        actor=SYSTEM, workspace=world["acme"], recipe_id=world["sync"].pk, test=False
    )
    assert found == world["sync"]


def test_next_runs_follow_the_time_zone_across_daylight_saving() -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    # The night clocks go forward in Paris (2026-03-29): 09:00 stays 09:00 local, the UTC hour moves.
    now = dt.datetime(2026, 3, 27, 12, 0, tzinfo=dt.UTC)
    runs = schedule.next_runs("0 9 * * *", "Europe/Paris", now=now, count=3)
    assert [r.astimezone(paris).hour for r in runs] == [9, 9, 9]
    assert [r.astimezone(dt.UTC).hour for r in runs] == [8, 7, 7]


def test_a_time_the_clocks_repeat_runs_once_and_a_skipped_one_just_after() -> None:
    back = schedule.next_runs(
        "30 2 * * *", "Europe/Paris", now=dt.datetime(2026, 10, 23, 12, tzinfo=dt.UTC), count=3
    )
    assert [r.isoformat() for r in back] == [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]
    forward = schedule.next_runs(
        "30 2 * * *", "Europe/Paris", now=dt.datetime(2026, 3, 28, 12, tzinfo=dt.UTC), count=1
    )
    assert [r.isoformat() for r in forward] == ["2026-03-29T03:00:00+02:00"]


def test_the_schedule_reads_the_active_version_not_the_draft(world: dict[str, Any]) -> None:
    admin, acme = world["admin"], world["acme"]
    daily = make_recipe(admin, acme, "Daily", definition=schedule_definition("0 9 * * *", "UTC"))
    recipe_start(actor=admin, recipe=daily)
    recipe_save(actor=admin, recipe=daily, definition=MANUAL)
    [row] = schedule.schedules_visible(admin, acme)
    assert (row.recipe.pk, row.cron, row.version) == (daily.pk, "0 9 * * *", 1)
    manual = world["sync"]
    recipe_start(actor=admin, recipe=manual)
    recipe_save(actor=admin, recipe=manual, definition=schedule_definition())
    assert [r.recipe.pk for r in schedule.schedules_visible(admin, acme)] == [daily.pk]
