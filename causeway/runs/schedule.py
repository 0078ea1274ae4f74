"""The Schedule page's selector: every started recipe with a schedule trigger the viewer may read, and
when it runs next.

What runs is the recipe's active version, so the cron and time zone come from that version's
definition (the recipe's plain `trigger_type` follows the current draft, which may differ).
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.utils import timezone

from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.recipes.models import Recipe
from causeway.recipes.schema import ScheduleTrigger
from causeway.runs.models import TriggerState
from causeway.runs.triggers import active_trigger, cron_times
from causeway.workspaces.models import Workspace


@dataclass(frozen=True)
class ScheduleRow:
    recipe: Any
    version: int
    cron: str
    timezone: str
    missed: str
    next_runs: list[dt.datetime]  # aware, in the schedule's own time zone
    last_fired_for: dt.datetime | None


def next_runs(cron: str, zone: str, *, now: dt.datetime, count: int) -> list[dt.datetime]:
    """The next `count` times `cron` fires after `now`, in the time zone `zone` (DST included).

    They are the times the schedule trigger itself fires (`triggers.cron_times`), so the page and the
    firing cannot disagree: a time the clocks skip runs at the first minute after it; a time they
    repeat runs once.
    """
    tz = zoneinfo.ZoneInfo(zone)
    return [when.astimezone(tz) for when in itertools.islice(cron_times(cron, tz, now), count)]


def schedules_visible(
    actor: Actor, workspace: Workspace, *, now: dt.datetime | None = None, count: int = 5
) -> list[ScheduleRow]:
    """Started recipes the actor may read whose active version has a schedule trigger, by next run."""
    now = now or timezone.now()
    started = (
        Recipe.objects.visible_to(actor, Perm.RECIPE_VIEW, workspace)
        .filter(active=True, active_version__isnull=False)
        # The plain trigger type speaks of the current version; where the active one differs, it is read.
        .filter(Q(trigger_type="schedule") | ~Q(active_version=F("current_version")))
        .select_related("project", "active_version")
    )
    recipes = list(started)
    fired = dict(
        TriggerState.objects.filter(recipe_id__in=[r.pk for r in recipes]).values_list(
            "recipe_id", "last_fired_for"
        )
    )
    rows = []
    for recipe in recipes:
        try:
            trigger = active_trigger(recipe)
        except ValidationError:
            continue  # a version that cannot be read has no times to show
        if not isinstance(trigger, ScheduleTrigger) or recipe.active_version is None:
            continue
        rows.append(
            ScheduleRow(
                recipe=recipe,
                version=recipe.active_version.number,
                cron=trigger.cron,
                timezone=trigger.timezone,
                missed=trigger.missed,
                next_runs=next_runs(trigger.cron, trigger.timezone, now=now, count=count),
                last_fired_for=fired.get(recipe.pk),
            )
        )
    rows.sort(key=lambda row: (row.next_runs[0] if row.next_runs else now, row.recipe.name))
    return rows
