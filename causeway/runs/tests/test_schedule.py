"""Schedule triggers: cron in the trigger's time zone (DST included), missed runs skipped or caught up once,
and each due time fired exactly once however many beats tick."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from causeway.recipes.services import recipe_stop
from causeway.runs.models import Job, TriggerState
from causeway.runs.tests.trigger_helpers import people, started_recipe
from causeway.runs.triggers import cron_times, next_runs, recipe_start, schedule_tick

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def scheduled(trigger: dict[str, Any], when: str) -> Any:
    found = people()
    with time_machine.travel(at(when), tick=False):
        recipe = started_recipe(found["admin"], found["acme"], {"type": "schedule", **trigger})
    return found, recipe


def payloads() -> list[dict[str, Any]]:
    return [job.trigger_payload for job in Job.objects.order_by("created_at")]


@pytest.mark.django_db
def test_schedule_fires_on_time_in_its_time_zone_across_the_dst_change() -> None:
    # Berlin moves from UTC+1 to UTC+2 in the night of 29 March 2026: 09:00 local is 08:00Z, then 07:00Z.
    _, recipe = scheduled({"cron": "0 9 * * *", "timezone": "Europe/Berlin"}, "2026-03-28T06:00:00+00:00")
    assert next_runs(recipe, 3, now=at("2026-03-28T06:00:00+00:00")) == [
        datetime(2026, 3, 28, 9, tzinfo=BERLIN),
        datetime(2026, 3, 29, 9, tzinfo=BERLIN),
        datetime(2026, 3, 30, 9, tzinfo=BERLIN),
    ]
    with time_machine.travel(at("2026-03-28T07:59:50+00:00"), tick=False) as clock:
        assert schedule_tick() == []
        clock.move_to(at("2026-03-28T08:00:20+00:00"))
        [first] = schedule_tick()
        assert schedule_tick() == []
        clock.move_to(at("2026-03-29T06:59:40+00:00"))
        assert schedule_tick() == []
        clock.move_to(at("2026-03-29T07:00:10+00:00"))
        [second] = schedule_tick()
    assert first.trigger_type == second.trigger_type == "schedule"
    assert payloads() == [
        {"scheduled_for": "2026-03-28T08:00:00+00:00"},
        {"scheduled_for": "2026-03-29T07:00:00+00:00"},
    ]
    state = TriggerState.objects.get(recipe=recipe)
    assert state.last_fired_for == at("2026-03-29T07:00:00+00:00")
    assert state.next_run_at == at("2026-03-30T07:00:00+00:00")


def test_schedule_times_skipped_or_repeated_by_the_clock_change_run_once() -> None:
    zone = ZoneInfo("America/New_York")
    # 8 March 2026: 02:00 becomes 03:00, so 02:30 does not exist: it runs at the first minute after.
    spring = list(
        zip(range(3), cron_times("30 2 * * *", zone, at("2026-03-07T12:00:00+00:00")), strict=False)
    )
    assert [t.astimezone(zone).isoformat() for _, t in spring] == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
        "2026-03-10T02:30:00-04:00",
    ]
    # 1 November 2026: 01:30 happens twice; it runs at the first.
    autumn = list(
        zip(range(3), cron_times("30 1 * * *", zone, at("2026-10-31T12:00:00+00:00")), strict=False)
    )
    assert [t.isoformat() for _, t in autumn] == [
        "2026-11-01T05:30:00+00:00",
        "2026-11-02T06:30:00+00:00",
        "2026-11-03T06:30:00+00:00",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("missed", ["skip", "catch_up"])
def test_schedule_after_downtime_skips_or_catches_up_once(missed: str) -> None:
    scheduled(
        {"cron": "*/5 * * * *", "timezone": "Asia/Kolkata", "missed": missed}, "2026-05-04T10:00:00+00:00"
    )
    with time_machine.travel(at("2026-05-04T10:05:10+00:00"), tick=False) as clock:
        assert len(schedule_tick()) == 1
        # Beat is down from 10:06 to 10:32: the runs of 10:10 to 10:30 are missed.
        clock.move_to(at("2026-05-04T10:32:30+00:00"))
        after_downtime = schedule_tick()
        assert schedule_tick() == []
        clock.move_to(at("2026-05-04T10:35:05+00:00"))
        assert len(schedule_tick()) == 1
    if missed == "skip":
        assert after_downtime == []
        assert payloads() == [
            {"scheduled_for": "2026-05-04T10:05:00+00:00"},
            {"scheduled_for": "2026-05-04T10:35:00+00:00"},
        ]
    else:
        assert len(after_downtime) == 1
        assert payloads() == [
            {"scheduled_for": "2026-05-04T10:05:00+00:00"},
            {"scheduled_for": "2026-05-04T10:30:00+00:00", "missed": 4},
            {"scheduled_for": "2026-05-04T10:35:00+00:00"},
        ]


@pytest.mark.django_db
def test_schedule_stopped_recipe_does_not_fire_nor_catch_up_when_started_again() -> None:
    found, recipe = scheduled({"cron": "0 * * * *", "missed": "catch_up"}, "2026-05-04T10:00:00+00:00")
    with time_machine.travel(at("2026-05-04T10:30:00+00:00"), tick=False) as clock:
        recipe_stop(actor=found["admin"], recipe=recipe)
        clock.move_to(at("2026-05-04T13:00:30+00:00"))
        assert schedule_tick() == []
        recipe_start(actor=found["admin"], recipe=recipe)
        assert schedule_tick() == []
        clock.move_to(at("2026-05-04T14:00:10+00:00"))
        assert len(schedule_tick()) == 1
    assert payloads() == [{"scheduled_for": "2026-05-04T14:00:00+00:00"}]


@pytest.mark.django_db(transaction=True)
def test_schedule_due_time_fires_exactly_once_with_two_concurrent_ticks() -> None:
    _, recipe = scheduled({"cron": "*/5 * * * *", "timezone": "Europe/Berlin"}, "2026-05-04T10:00:00+00:00")
    rounds = ["2026-05-04T10:05:01+00:00", "2026-05-04T10:10:01+00:00", "2026-05-04T10:15:01+00:00"]
    started: list[Any] = []
    errors: list[BaseException] = []
    for moment in rounds:
        barrier = threading.Barrier(2)
        now = at(moment)

        def beat(now: datetime = now, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait(timeout=10)
                started.extend(schedule_tick(now=now))
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=beat) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert len(started) == 3
    assert sorted(p["scheduled_for"] for p in payloads()) == [
        "2026-05-04T10:05:00+00:00",
        "2026-05-04T10:10:00+00:00",
        "2026-05-04T10:15:00+00:00",
    ]
    assert Job.objects.filter(recipe=recipe).count() == 3


def test_beat_runs_both_ticks_every_30_seconds() -> None:
    from django.conf import settings

    from causeway.celery import app

    app.loader.import_default_modules()
    for entry in ("runs-schedule-tick", "runs-poll-tick"):
        beat = settings.CELERY_BEAT_SCHEDULE[entry]
        assert beat["task"] in app.tasks
        assert beat["schedule"] == 30.0


@pytest.mark.django_db
def test_schedule_follows_the_started_version_not_a_draft_saved_since() -> None:
    from causeway.recipes.services import recipe_save

    found, recipe = scheduled({"cron": "0 * * * *"}, "2026-05-04T10:00:00+00:00")
    draft = {"trigger": {"type": "manual"}, "steps": []}
    with time_machine.travel(at("2026-05-04T10:30:00+00:00"), tick=False) as clock:
        recipe_save(actor=found["admin"], recipe=recipe, definition=draft)
        clock.move_to(at("2026-05-04T11:00:05+00:00"))
        [job] = schedule_tick()
        assert job.version.number == 1
        # Started again, the draft (a manual trigger) is what runs: the schedule stops.
        recipe_start(actor=found["admin"], recipe=recipe)
        clock.move_to(at("2026-05-04T12:00:05+00:00"))
        assert schedule_tick() == []
