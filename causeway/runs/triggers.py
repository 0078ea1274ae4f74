"""Schedule and poll triggers (connectors' polling triggers among them): beat calls `schedule_tick` and
`poll_tick`; each starts the jobs now due.

Both run in any number of beat (or worker) processes at once without doing anything twice: a due time is
claimed by a conditional UPDATE of the recipe's TriggerState (only the process that moves `next_run_at` on
starts the job), and a polled item by inserting its PolledItem row (unique per recipe and key).
"""

from __future__ import annotations

import json
import logging
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any, TypeVar
from urllib.parse import urlsplit

from celery import shared_task
from croniter import croniter
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from causeway.access.perms import Perm
from causeway.access.policy import TRIGGER, Actor
from causeway.connections import budgets as connections_budgets
from causeway.connections import outbound
from causeway.connections import services as connections
from causeway.connections.models import Outcome
from causeway.connections.sdk import ActionFailed, Cursor
from causeway.recipes import policy as access
from causeway.recipes.definition import trigger_load
from causeway.recipes.models import Recipe
from causeway.recipes.schema import (
    ConnectorTrigger,
    ManualTrigger,
    PollTrigger,
    ScheduleTrigger,
    Trigger,
    WebhookTrigger,
    type_of,
)
from causeway.recipes.secrets import secret_use_for_destination
from causeway.recipes.services import recipe_activate
from causeway.runs.models import Job, PolledItem, TriggerState, TriggerType
from causeway.runs.services import job_create
from causeway.vault.fields import blind_index
from causeway.vault.masking import mask_text
from causeway.vault.secrets import SecretNotFoundError, SecretRefusedError

logger = logging.getLogger(__name__)

# A due time this late is "missed" (the beat was down): `skip` runs nothing for it.
MISSED_AFTER = timedelta(seconds=90)
# Bounds on walking a schedule forward, so an absurd downtime cannot spin a tick.
MAX_STEPS = 100_000
# New items started per poll; the rest are found again by the next poll.
MAX_ITEMS_PER_POLL = 500
MAX_POLL_BYTES = 5 * 1024 * 1024
POLL_TIMEOUT_SECONDS = 30.0
MAX_ERROR = 500
_SECRET_IN_HEADER = re.compile(r"\{\{\s*secret\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


T = TypeVar("T", bound=Trigger)


def active_trigger(recipe: Recipe) -> Trigger:
    """The trigger of the recipe's active version (manual if none is active)."""
    version = recipe.active_version
    if version is None:
        return ManualTrigger()
    return trigger_load(version.definition)


def _started(kind: type[T]) -> Iterator[tuple[Recipe, T]]:
    """Started recipes whose active version has a trigger of this kind."""
    # `trigger_type` follows the current version; an active version that is not the current one is
    # opened to find out.
    recipes = (
        Recipe.objects.filter(active=True, active_version__isnull=False)
        .filter(Q(trigger_type=type_of(kind)) | ~Q(active_version=F("current_version")))
        .select_related("active_version", "workspace", "project")
        .order_by("id")
    )
    for recipe in recipes:
        try:
            trigger = active_trigger(recipe)
        except ValidationError as exc:
            # One unreadable version does not stop the other recipes' triggers.
            logger.warning(
                "recipe %s: its trigger cannot be read (%s)", recipe.id, ", ".join(exc.message_dict)
            )
            continue
        if isinstance(trigger, kind):
            yield recipe, trigger


def _state(recipe: Recipe) -> TriggerState:
    found = TriggerState.objects.filter(recipe=recipe).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return TriggerState.objects.create(workspace_id=recipe.workspace_id, recipe=recipe)
    except IntegrityError:
        return TriggerState.objects.get(recipe=recipe)


# Schedules.


def _zone(trigger: ScheduleTrigger) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(trigger.timezone)


def _to_utc(local: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """A wall-clock time in zone as an instant. A time the clocks skip (spring forward) runs at the first
    minute that exists after it; a time they repeat (fall back) runs once, at its first occurrence."""
    for minutes in range(24 * 60):
        candidate = (local + timedelta(minutes=minutes)).replace(tzinfo=zone, fold=0)
        instant = candidate.astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == candidate.replace(tzinfo=None):
            return instant
    raise ValueError(f"no such time in {zone.key}")  # pragma: no cover - no zone skips a whole day


def cron_times(cron: str, zone: zoneinfo.ZoneInfo, after: datetime) -> Iterator[datetime]:
    """The instants (UTC) the cron expression names in zone, strictly after `after`, in order.

    croniter walks wall-clock time (naive), so days of 23 or 25 hours fall out of the conversion.
    """
    # Start a little earlier: the same wall-clock time can come twice when the clocks go back.
    local = (after.astimezone(zone) - timedelta(hours=3)).replace(tzinfo=None)
    walker = croniter(cron, local)
    last = after
    for _ in range(MAX_STEPS):
        instant = _to_utc(walker.get_next(datetime), zone)
        if instant > last:
            last = instant
            yield instant


def _next_after(trigger: ScheduleTrigger, after: datetime) -> datetime | None:
    return next(cron_times(trigger.cron, _zone(trigger), after), None)


def _is_on_schedule(trigger: ScheduleTrigger, moment: datetime) -> bool:
    """Whether moment is one of the schedule's times (not so after the cron or zone changed)."""
    return _next_after(trigger, moment - timedelta(seconds=1)) == moment


@dataclass(frozen=True)
class Due:
    """What a tick does for a schedule due at some time: run (or not), for which time, and what comes next."""

    run: bool
    scheduled_for: datetime
    missed: int
    next_run_at: datetime | None


def _due(trigger: ScheduleTrigger, next_run_at: datetime, now: datetime) -> Due:
    times = [next_run_at]
    upcoming = None
    for instant in cron_times(trigger.cron, _zone(trigger), next_run_at):
        if instant > now:
            upcoming = instant
            break
        times.append(instant)
    latest = times[-1]
    if trigger.missed == "catch_up":
        # One run for all of them: the latest time, with how many earlier ones it stands for.
        return Due(run=True, scheduled_for=latest, missed=len(times) - 1, next_run_at=upcoming)
    # skip: only a time that is not yet late runs; the ones missed while beat was down are dropped.
    return Due(run=now - latest <= MISSED_AFTER, scheduled_for=latest, missed=0, next_run_at=upcoming)


def schedule_reset(*, recipe: Recipe, now: datetime | None = None) -> None:
    """A recipe was started: its schedule counts from now, not from before it was stopped."""
    trigger = active_trigger(recipe)
    if not isinstance(trigger, ScheduleTrigger):
        return
    state = _state(recipe)
    state.next_run_at = _next_after(trigger, now or timezone.now())
    state.save(update_fields=["next_run_at"])


def _schedule_one(recipe: Recipe, trigger: ScheduleTrigger, now: datetime) -> Job | None:
    state = _state(recipe)
    current = state.next_run_at
    if current is None or not _is_on_schedule(trigger, current):
        # First sight of this schedule, or a version with another cron or zone: count from now.
        TriggerState.objects.filter(pk=state.pk, next_run_at=current).update(
            next_run_at=_next_after(trigger, now)
        )
        return None
    if current > now:
        return None
    due = _due(trigger, current, now)
    with transaction.atomic():
        # Only the process whose UPDATE moves next_run_at on from the value it read fires: a second beat
        # (or a second tick) finds it moved and does nothing.
        claimed = TriggerState.objects.filter(pk=state.pk, next_run_at=current).update(
            next_run_at=due.next_run_at, last_fired_for=due.scheduled_for
        )
        if not claimed:
            return None
        if not due.run:
            logger.info(
                "schedule of recipe %s: skipped the runs missed until %s", recipe.id, due.scheduled_for
            )
            return None
        payload: dict[str, Any] = {"scheduled_for": due.scheduled_for.isoformat()}
        if due.missed:
            payload["missed"] = due.missed
        job: Job = job_create(
            actor=TRIGGER, recipe=recipe, trigger_type=TriggerType.SCHEDULE.value, payload=payload
        )
        return job


def schedule_tick(now: datetime | None = None) -> list[Job]:
    """Start the job of every started schedule that is due; returns the jobs started."""
    now = now or timezone.now()
    started: list[Job] = []
    for recipe, trigger in _started(ScheduleTrigger):
        try:
            job = _schedule_one(recipe, trigger, now)
        except Exception:
            # One broken recipe does not stop the others' schedules.
            logger.exception("schedule of recipe %s failed", recipe.id)
            continue
        if job is not None:
            started.append(job)
    return started


def next_runs(recipe: Recipe, count: int = 3, now: datetime | None = None) -> list[datetime]:
    """The next times a started recipe's schedule runs, in the schedule's time zone (none if stopped)."""
    if not recipe.active:
        return []
    trigger = active_trigger(recipe)
    if not isinstance(trigger, ScheduleTrigger):
        return []
    zone = _zone(trigger)
    now = now or timezone.now()
    state = TriggerState.objects.filter(recipe=recipe).first()
    pending = state.next_run_at if state is not None else None
    start = pending - timedelta(seconds=1) if pending is not None and pending > now else now
    times: list[datetime] = []
    for instant in cron_times(trigger.cron, zone, start):
        times.append(instant.astimezone(zone))
        if len(times) >= count:
            break
    return times


# Polls.


class PollError(Exception):
    """Why a poll failed, phrased without the source's data (it is shown to the recipe's readers)."""


def _dotted(value: Any, path: str) -> Any:
    for part in [p for p in (path or "").split(".") if p]:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _headers(recipe: Recipe, trigger: PollTrigger, host: str) -> dict[str, str]:
    """The poll's headers; `{{ secret.NAME }}` in one is resolved for this host alone (and audited)."""
    headers: dict[str, str] = {}
    for name, template in trigger.headers.items():

        def resolve(match: re.Match[str]) -> str:
            return secret_use_for_destination(
                actor=None,
                workspace_id=recipe.workspace_id,
                name=match.group(1),
                host=host,
                context={"recipe": str(recipe.id), "step": "trigger"},
            )

        headers[name] = _SECRET_IN_HEADER.sub(resolve, template)
    return headers


def _fetch(recipe: Recipe, trigger: PollTrigger) -> list[Any]:
    url = trigger.url
    host = urlsplit(url).hostname or ""
    carries_secrets = any(_SECRET_IN_HEADER.search(v) for v in trigger.headers.values())
    try:
        headers = _headers(recipe, trigger, host)
    except (SecretRefusedError, SecretNotFoundError) as refused:
        # The vault's message names the secret and the hosts it may go to, never its value.
        raise PollError(f"headers not sent: {refused}") from None
    try:
        response = outbound.request(
            workspace=recipe.workspace,
            method=trigger.method,
            url=url,
            headers=headers,
            timeout=POLL_TIMEOUT_SECONDS,
            # A secret resolved for this host does not follow a redirect to another.
            carries_secrets=carries_secrets,
        )
    except outbound.DestinationRefused as refused:
        raise PollError(f"destination refused: {refused}") from None
    except Exception as exc:  # httpx's transport errors and time-outs, or the client's own refusals
        logger.info("poll of recipe %s: %s", recipe.id, type(exc).__name__)
        raise PollError(f"could not reach {host}: {type(exc).__name__}") from None
    if response.status_code >= 400:
        raise PollError(f"{host} answered HTTP {response.status_code}")
    if len(response.content) > MAX_POLL_BYTES:
        raise PollError(f"{host} answered more than {MAX_POLL_BYTES} bytes")
    try:
        answer = response.json()
    except ValueError:
        raise PollError(f"{host} did not answer JSON") from None
    items = _dotted(answer, trigger.items)
    if not isinstance(items, list):
        where = trigger.items or "the answer"
        raise PollError(f"no list at {where!r} in the answer of {host}")
    return items


def _key_of(item: Any, field: str) -> str | None:
    key = _dotted(item, field) if isinstance(item, dict) else None
    if key is None or isinstance(key, dict | list) or key == "":
        return None
    return str(key)


def _newest(keys: list[str]) -> str:
    """The newest of the keys: numerically if all are numbers, else in text order (ISO times, ids)."""
    if all(re.fullmatch(r"-?\d+", key) for key in keys):
        return max(keys, key=int)
    return max(keys)


def _record(state: TriggerState, error: str | None, now: datetime) -> None:
    state.last_error = mask_text(error)[:MAX_ERROR] if error else None
    state.last_error_at = now if error else None
    state.save(update_fields=["last_error", "last_error_at"])


def _claim_round(state: TriggerState, interval_seconds: int, now: datetime) -> bool:
    """Whether this process polls now: the interval has passed, and no other beat claimed the round."""
    previous = state.last_polled_at
    if previous is not None and now - previous < timedelta(seconds=interval_seconds):
        return False
    # A second beat that read the same last_polled_at finds it moved.
    return bool(TriggerState.objects.filter(pk=state.pk, last_polled_at=previous).update(last_polled_at=now))


def _poll_one(recipe: Recipe, trigger: PollTrigger, now: datetime) -> list[Job]:
    state = _state(recipe)
    if not _claim_round(state, trigger.interval_seconds, now):
        return []
    try:
        items = _fetch(recipe, trigger)
    except PollError as error:
        _record(state, str(error), now)
        return []
    return poll_items(recipe=recipe, state=state, items=items, key=trigger.key, now=now)


def poll_items(
    *, recipe: Recipe, state: TriggerState, items: list[Any], key: str, now: datetime
) -> list[Job]:
    """One job for each item not seen before (by its `key` field); the rest are left alone."""
    keyed: dict[str, tuple[str, Any]] = {}
    missing = 0
    for item in items:
        value = _key_of(item, key)
        if value is None:
            missing += 1
            continue
        keyed.setdefault(blind_index(f"runs.poll.{recipe.id}", value), (value, item))
    seen = set(
        PolledItem.objects.filter(recipe=recipe, key_index__in=list(keyed)).values_list(
            "key_index", flat=True
        )
    )
    started: list[Job] = []
    new_keys: list[str] = []
    for index, (value, item) in keyed.items():
        if index in seen or len(started) >= MAX_ITEMS_PER_POLL:
            continue
        try:
            with transaction.atomic():
                # The unique row is the claim: of two pollers that both saw the item as new, one inserts.
                polled = PolledItem.objects.create(recipe=recipe, key_index=index)
                job = job_create(
                    actor=TRIGGER,
                    recipe=recipe,
                    trigger_type=TriggerType.POLL.value,
                    payload=item if isinstance(item, dict) else {"item": item},
                )
                polled.job = job
                polled.save(update_fields=["job"])
        except IntegrityError:
            continue
        started.append(job)
        new_keys.append(value)
    if new_keys:
        state.refresh_from_db(fields=["cursor"])
        state.cursor = _newest(new_keys + ([state.cursor] if state.cursor else []))
        state.save(update_fields=["cursor"])
    _record(state, f"{missing} item(s) had no {key!r} field and were ignored" if missing else None, now)
    return started


# Connectors' polling triggers.


def _fingerprint(trigger: ConnectorTrigger) -> str:
    """What a cursor belongs to: another connection, trigger or settings starts afresh."""
    described = json.dumps([trigger.connection, trigger.trigger, trigger.input], sort_keys=True)
    return sha256(described.encode()).hexdigest()[:32]


def _cursor_of(state: TriggerState, fingerprint: str) -> Cursor | None:
    try:
        stored = json.loads(state.cursor or "null")
    except ValueError:
        return None
    if not isinstance(stored, dict) or stored.get("for") != fingerprint:
        return None
    return Cursor(stored.get("value"), inclusive=bool(stored.get("inclusive")))


def _keep_cursor(state: TriggerState, fingerprint: str, cursor: Cursor) -> None:
    state.cursor = json.dumps({"for": fingerprint, "value": cursor.value, "inclusive": cursor.inclusive})
    state.save(update_fields=["cursor"])


def _connector_poll(recipe: Recipe, trigger: ConnectorTrigger, *, polls: bool = True) -> tuple[Any, Any]:
    """The trigger's connection, resolved for the person who saved the version (as a step's is), and its
    settings checked; PollError saying why not (and, with `polls`, when the trigger does not poll)."""
    version = recipe.active_version
    person = version.created_by if version is not None else None
    try:
        resolved = connections.connection_for_trigger(
            workspace=recipe.workspace,
            connection_ref=trigger.connection,
            trigger_key=trigger.trigger,
            on_behalf_of=person,
            timeout=POLL_TIMEOUT_SECONDS,
        )
    except connections.ConnectionRefused as refused:
        raise PollError(str(refused)) from None
    if polls and resolved.trigger.poll is None:
        raise PollError(f"{resolved.connector.name}'s trigger {trigger.trigger!r} does not poll")
    try:
        given = connections.trigger_input(resolved, trigger.input)
    except ValidationError as exc:
        raise PollError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
    return resolved, given


def _connector_poll_one(recipe: Recipe, trigger: ConnectorTrigger, now: datetime) -> list[Job]:
    kind = connections.trigger_kind(
        workspace=recipe.workspace, connection_ref=trigger.connection, trigger_key=trigger.trigger
    )
    if kind == "webhook":
        # Its provider calls it (`connector_hooks`): nothing to poll.
        return []
    state = _state(recipe)
    if not _claim_round(state, trigger.interval_seconds, now):
        return []
    try:
        resolved, given = _connector_poll(recipe, trigger)
    except PollError as refused:
        _record(state, str(refused), now)
        return []
    fingerprint = _fingerprint(trigger)
    person = recipe.active_version.created_by if recipe.active_version is not None else None
    # A poll is a use of the connection like a step's: it waits for its rate budgets and for a pause the
    # provider asked for, here by skipping the round (beat never blocks) and trying at the next one.
    budgets = connections_budgets.budgets_of(resolved.connection)
    wait = connections_budgets.budget_take(connection=resolved.connection, budgets=budgets)
    if wait is not None:
        _record(state, f"not polled: {wait.reason}", now)
        return []
    error: str | None = None
    try:
        polled = resolved.trigger.poll(resolved.call, given, _cursor_of(state, fingerprint))
    except ActionFailed as exc:
        error = str(exc)
        if exc.retry_after is not None:
            connections_budgets.connection_pause(connection=resolved.connection, seconds=exc.retry_after)
    except outbound.DestinationRefused as exc:
        error = f"destination refused: {exc}"
    except Exception as exc:  # a connector's own failure must not stop the other recipes' polls
        logger.exception("poll of recipe %s failed", recipe.id)
        error = f"the poll failed: {type(exc).__name__}"
    connections.use_record(
        connection=resolved.connection,
        action=resolved.trigger.key,
        job_id=None,
        step_path="trigger",
        on_behalf_of=person,
        outcome=Outcome.FAILED if error else Outcome.SUCCEEDED,
        host=resolved.call.hosts[-1] if resolved.call.hosts else "",
        detail=error or "",
    )
    if error is not None:
        _record(state, error, now)
        return []
    started: list[Job] = []
    for item in polled.items[:MAX_ITEMS_PER_POLL]:
        index = blind_index(f"runs.poll.{recipe.id}", item.key)
        try:
            # The item's claim, its job and the cursor past it are one transaction: a worker stopped
            # here leaves either all three or none, so the item is started at least once, never twice.
            with transaction.atomic():
                seen = PolledItem.objects.create(recipe=recipe, key_index=index)
                job = job_create(
                    actor=TRIGGER, recipe=recipe, trigger_type=TriggerType.POLL.value, payload=item.data
                )
                seen.job = job
                seen.save(update_fields=["job"])
                _keep_cursor(state, fingerprint, Cursor(item.cursor, inclusive=True))
        except IntegrityError:
            _keep_cursor(state, fingerprint, Cursor(item.cursor, inclusive=True))
            continue
        started.append(job)
    if len(polled.items) <= MAX_ITEMS_PER_POLL:
        _keep_cursor(state, fingerprint, polled.cursor)
    _record(state, None, now)
    return started


def poll_tick(now: datetime | None = None) -> list[Job]:
    """Poll every started poll trigger (and connector polling trigger) whose interval has passed; returns
    the jobs started."""
    now = now or timezone.now()
    started: list[Job] = []
    for recipe, trigger in _started(PollTrigger):
        try:
            started += _poll_one(recipe, trigger, now)
        except Exception:
            logger.exception("poll of recipe %s failed", recipe.id)
    for recipe, connector_trigger in _started(ConnectorTrigger):
        try:
            started += _connector_poll_one(recipe, connector_trigger, now)
        except Exception:
            logger.exception("poll of recipe %s failed", recipe.id)
    return started


# What a recipe's readers see.


@dataclass(frozen=True)
class TriggerStatus:
    trigger_type: str
    active: bool
    next_run_at: datetime | None
    last_fired_for: datetime | None
    last_polled_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


def trigger_status(*, actor: Actor, recipe: Recipe) -> TriggerStatus:
    """The state of the recipe's trigger, for anyone who may read the recipe (never the poll cursor)."""
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_VIEW)
    trigger_type = active_trigger(recipe).type if recipe.active else recipe.trigger_type
    state = TriggerState.objects.filter(recipe=recipe).first()
    return TriggerStatus(
        trigger_type=trigger_type,
        active=recipe.active,
        next_run_at=state.next_run_at if state and recipe.active else None,
        last_fired_for=state.last_fired_for if state else None,
        last_polled_at=state.last_polled_at if state else None,
        last_error=state.last_error if state else None,
        last_error_at=state.last_error_at if state else None,
    )


def recipe_started(*, recipe: Recipe) -> None:
    """A recipe was started: a webhook trigger gets its endpoint, a schedule counts from now, a connector
    trigger's connection and settings are checked (ValidationError saying why not), and a connector's
    webhook trigger gets its endpoint too."""
    from causeway.runs.webhooks import webhook_endpoint_ensure

    trigger = active_trigger(recipe)
    if isinstance(trigger, WebhookTrigger):
        webhook_endpoint_ensure(recipe=recipe)
    elif isinstance(trigger, ScheduleTrigger):
        schedule_reset(recipe=recipe)
    elif isinstance(trigger, ConnectorTrigger):
        # Checked now as every poll or call will check it, so a recipe that could never run is not started.
        try:
            resolved, _ = _connector_poll(recipe, trigger, polls=False)
        except PollError as refused:
            raise ValidationError({"trigger": str(refused)}) from None
        if resolved.trigger.kind == "webhook":
            webhook_endpoint_ensure(recipe=recipe)
        elif resolved.trigger.poll is None:
            raise ValidationError(
                {"trigger": f"{resolved.connector.name}'s trigger {trigger.trigger!r} does not poll"}
            )


@transaction.atomic
def recipe_start(*, actor: Actor, recipe: Recipe) -> Recipe:
    """Start the recipe on its current version and arm its trigger, in one transaction: a start that
    is rolled back leaves no endpoint and no schedule behind."""
    started = recipe_activate(actor=actor, recipe=recipe)
    recipe_started(recipe=started)
    return started


# Beat.


@shared_task(name="causeway.runs.triggers.schedule_tick")  # type: ignore[untyped-decorator]
def schedule_tick_task() -> int:
    return len(schedule_tick())


@shared_task(name="causeway.runs.triggers.poll_tick")  # type: ignore[untyped-decorator]
def poll_tick_task() -> int:
    return len(poll_tick())
