"""Telling watchers of failures, in the worker: which watches have failures to tell, the messages they
make (one `Notice` per channel) and sending each, retried with back-off and never touching the job.

A watch is due when a failed job of its recipe finished after `told_until` and the workspace's interval
has passed since its last message. Its message counts the failures its watcher may see (rule 8) and
names the latest; `told_until` moves past every failure looked at, so one the watcher may not see is
not looked at again. Before each try the watcher's access is asked again: a watcher who lost the recipe,
the job or their membership is told nothing (the notice is dropped).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from causeway import mail
from causeway.access import policy
from causeway.access.perms import Perm
from causeway.connections import outbound
from causeway.connections import services as connections
from causeway.connections.models import Outcome
from causeway.connections.sdk import ActionFailed
from causeway.runs.models import Job, JobStatus
from causeway.vault.masking import mask_text
from causeway.watches.models import CONNECTOR_ACTIONS, NOTICE_MAX_ATTEMPTS, Notice, NoticeState, Watch
from causeway.watches.selectors import interval_minutes

logger = logging.getLogger(__name__)

# A worker holds a notice this long while it sends it; one that died sending is taken again after.
CLAIM = timedelta(minutes=2)
BATCH = 200


def _new_failures(watch_filter: Q) -> QuerySet[Watch]:
    """Watches with a failure they were not told of (a test run's only where the watch asks for them)."""
    failed = Job.objects.filter(
        recipe_id=OuterRef("recipe_id"), status=JobStatus.FAILED, finished_at__gt=OuterRef("told_until")
    )
    return Watch.objects.filter(watch_filter).filter(
        Exists(failed.filter(is_test=False)) | (Q(include_tests=True) & Exists(failed))
    )


def _due(watch: Watch, now: datetime) -> bool:
    if watch.last_message_at is None:
        return True
    return now >= watch.last_message_at + timedelta(minutes=interval_minutes(watch.workspace))


def watch_tell(watch: Watch, now: datetime | None = None) -> Notice | None:
    """Make the watch's next message if it is due and has failures to tell; the email's notice, or the
    connection's when there is no email."""
    now = now or timezone.now()
    if not _due(watch, now):
        return None
    failed = Job.objects.filter(
        recipe_id=watch.recipe_id, status=JobStatus.FAILED, finished_at__gt=watch.told_until
    )
    if not watch.include_tests:
        failed = failed.filter(is_test=False)
    newest = failed.order_by("-finished_at").values_list("finished_at", flat=True).first()
    if newest is None:
        return None
    user = watch.user
    seen = Job.objects.none()
    if user.is_active and policy.may(user, Perm.RECIPE_VIEW, watch.recipe):
        seen = failed.filter(finished_at__lte=newest).filter(
            pk__in=Job.objects.visible_to(user, watch.workspace).values("pk")
        )
    count = seen.count()
    latest = seen.order_by("-finished_at").first() if count else None
    made: list[Notice] = []
    with transaction.atomic():
        moved = Watch.objects.filter(pk=watch.pk, told_until=watch.told_until).update(
            told_until=newest, last_message_at=now if count else watch.last_message_at
        )
        if not moved:
            return None  # another worker told it
        if count:
            channels = ([Notice.EMAIL] if watch.by_email else []) + (
                [Notice.CONNECTION] if watch.connection_id else []
            )
            for channel in channels:
                made.append(
                    Notice.objects.create(
                        watch=watch, channel=channel, failures=count, job=latest, next_attempt_at=now
                    )
                )
    watch.told_until = newest
    return made[0] if made else None


def watches_tell(*, recipe_id: uuid.UUID | None = None, now: datetime | None = None) -> int:
    """Make the due messages of the watches of one recipe (a job of it just failed), or of every watch."""
    now = now or timezone.now()
    where = Q(recipe_id=recipe_id) if recipe_id is not None else Q()
    made = 0
    # Those told longest ago first: they are the ones whose interval has passed.
    waiting = _new_failures(where).order_by(F("last_message_at").asc(nulls_first=True), "created_at")
    for watch in waiting.select_related("user", "recipe", "workspace")[:BATCH]:
        if watch_tell(watch, now) is not None:
            made += 1
    return made


def _text(notice: Notice) -> tuple[str, str, dict[str, Any]]:
    watch, job = notice.watch, notice.job
    assert job is not None  # nosec B101 - a notice without its job is dropped before this
    recipe = watch.recipe
    times = "once" if notice.failures == 1 else f"{notice.failures} times"
    link = settings.BASE_URL.rstrip("/") + reverse(
        "web:runs_job", kwargs={"workspace": watch.workspace.slug, "job": job.pk}
    )
    # Masked when the job finished (rule 13), and again here with what this process knows now.
    reason = mask_text(job.error or "no reason was recorded")
    subject = f"Recipe {recipe.name} failed {times}"
    body = (
        f"The recipe {recipe.name} in {watch.workspace.name} failed {times} since the last message.\n\n"
        f"The latest failure ({job.finished_at:%Y-%m-%d %H:%M:%S} UTC):\n{reason}\n\n"
        f"The job: {link}\n\n"
        "You get this because you watch the recipe; stop watching it on its page.\n"
    )
    data = {
        "event": "recipe.failed",
        "workspace": watch.workspace.slug,
        "recipe": {"id": str(recipe.pk), "name": recipe.name},
        "failures": notice.failures,
        "latest": {"job": str(job.pk), "reason": reason, "url": link},
    }
    return subject, body, data


def _may_still_see(notice: Notice) -> bool:
    watch, user = notice.watch, notice.watch.user
    if notice.job_id is None or not user.is_active:
        return False
    if not policy.may(user, Perm.RECIPE_VIEW, watch.recipe):
        return False
    return Job.objects.visible_to(user, watch.workspace).filter(pk=notice.job_id).exists()


def _by_connection(notice: Notice, subject: str, body: str, data: dict[str, Any]) -> str | None:
    """Send through the watch's connection, as a job run on the watcher's behalf would (rules 6 and 7);
    None when it went, else why not."""
    watch = notice.watch
    if watch.connection is None:
        return "the connection was removed"
    action_key = CONNECTOR_ACTIONS.get(watch.connection.connector_key, "")
    try:
        resolved = connections.connection_for_step(
            workspace=watch.workspace,
            connection_ref=watch.connection_id,
            action_key=action_key,
            on_behalf_of=watch.user,
            job_id=None,
            step_path="watch",
            idempotency_key=f"notice:{notice.pk}",
            timeout=20.0,
        )
    except connections.ConnectionRefused as exc:
        return str(exc)
    if resolved.connector.key == "slack":
        given: dict[str, Any] = {"channel": watch.channel, "text": f"*{subject}*\n{body}"}
    else:
        given = {"path": watch.channel, "body": data}
    failure: str | None = None
    try:
        resolved.action.run(resolved.call, connections.action_input(resolved, given))
    except ActionFailed as exc:
        failure = str(exc)
    except outbound.DestinationRefused as exc:
        failure = str(exc)
    except httpx.HTTPError as exc:
        failure = f"{type(exc).__name__}: {exc}"
    except ValueError as exc:  # the action's input refused (a channel no longer valid)
        failure = f"the message was refused: {type(exc).__name__}"
    connections.use_record(
        connection=resolved.connection,
        action=resolved.action.key,
        job_id=None,
        step_path="watch",
        on_behalf_of=watch.user,
        outcome=Outcome.FAILED if failure else Outcome.SUCCEEDED,
        host=resolved.call.hosts[-1] if resolved.call.hosts else "",
        detail=failure or "",
    )
    return failure


def _claim(notice_id: uuid.UUID, now: datetime) -> bool:
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    return bool(
        Notice.objects.filter(free, pk=notice_id, state=NoticeState.PENDING).update(claimed_until=now + CLAIM)
    )


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))


def notice_send(notice_id: uuid.UUID) -> str:
    """Send one notice if this worker wins it; what happened, as one word."""
    now = timezone.now()
    if not _claim(notice_id, now):
        return "skipped"
    notice = (
        Notice.objects.select_related(
            "watch__user", "watch__recipe", "watch__workspace", "watch__connection", "job"
        )
        .filter(pk=notice_id)
        .first()
    )
    if notice is None:
        return "skipped"  # its watch ended meanwhile
    if not _may_still_see(notice):
        Notice.objects.filter(pk=notice.pk).update(state=NoticeState.DROPPED, claimed_until=None)
        return "dropped"
    subject, body, data = _text(notice)
    try:
        if notice.channel == Notice.EMAIL:
            failure = (
                None
                if mail.deliver(to=notice.watch.user.email, subject=subject, body=body)
                else ("the mail server did not take the message")
            )
        else:
            failure = _by_connection(notice, subject, body, data)
    except Exception as exc:  # whatever happens while sending, the notice is retried, never lost
        logger.exception("notice %s: could not be sent", notice.pk)
        failure = f"stopped on an internal error ({type(exc).__name__})"
    attempts = notice.attempts + 1
    if failure is None:
        Notice.objects.filter(pk=notice.pk).update(
            state=NoticeState.SENT,
            attempts=attempts,
            sent_at=timezone.now(),
            claimed_until=None,
            last_error="",
        )
        return "sent"
    failure = mask_text(failure)[:300]
    given_up = attempts >= NOTICE_MAX_ATTEMPTS
    logger.warning(
        "notice %s (%s) of watch %s: try %s failed: %s",
        notice.pk,
        notice.channel,
        notice.watch_id,
        attempts,
        failure,
    )
    Notice.objects.filter(pk=notice.pk).update(
        state=NoticeState.FAILED if given_up else NoticeState.PENDING,
        attempts=attempts,
        last_error=failure,
        next_attempt_at=timezone.now() + _backoff(attempts),
        claimed_until=None,
    )
    return "failed" if given_up else "retrying"


def notices_send(*, recipe_id: uuid.UUID | None = None, now: datetime | None = None) -> dict[str, int]:
    """Send every notice due (of one recipe's watches, or of all)."""
    now = now or timezone.now()
    due = Notice.objects.filter(state=NoticeState.PENDING, next_attempt_at__lte=now)
    if recipe_id is not None:
        due = due.filter(watch__recipe_id=recipe_id)
    outcomes: dict[str, int] = {}
    for notice_id in list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:BATCH]):
        outcome = notice_send(notice_id)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
