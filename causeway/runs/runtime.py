"""A job's life on the workers: handing it to the broker, claiming it by lease, heartbeating, finishing it,
and the reaper that recovers jobs whose worker stopped (rule 15).

The Job row is the source of truth, not the broker. A worker runs a job only after one conditional
UPDATE gave it the lease (the job queued, or running under a lease that ran out); every later change
it makes is conditional on still holding that lease. So a message delivered twice (a broker's
visibility timeout, a reaper that re-sent it) runs nothing the second time, and a worker that lost
its lease cannot overwrite what the job's new holder does. A message a broker lost, or one that the
embedded broker hides forever after its worker was killed, does not matter either: the reaper finds
the job by its row and sends another.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from causeway.db.prepared import PreparedSelect, PreparedUpdate
from causeway.recipes.definition import definition_load
from causeway.recipes.models import Recipe, RecipeVersion
from causeway.recipes.schema import Definition
from causeway.runs.models import FINISHED, Job, JobStatus
from causeway.vault.fields import SealedField
from causeway.vault.masking import mask_text

if TYPE_CHECKING:
    from causeway.runs.engine import Answer, History

logger = logging.getLogger(__name__)

RUN_JOB_TASK = "causeway.runs.tasks.run_job"
# At most this many jobs of each kind per reaper run: a backlog is worked off over several runs.
REAPER_BATCH = 500
PURGE_CHUNK = 500


class LeaseLost(Exception):
    """Another worker holds the job now (the reaper gave it away, or failed it): stop, change nothing."""


class DeadlinePassed(Exception):
    """The job ran longer than its maximum duration."""


class Cancelled(Exception):
    """Someone cancelled the job while it ran: it stops at the next step boundary, as cancelled."""


# The longest wait before a retry, however many came before it.
MAX_RETRY_WAIT_SECONDS = 24 * 3600

# How often a running job looks at its row for a cancellation, at the latest: at a step boundary, and
# between the slices of a long wait (a back-off, a rate budget). A step that reaches outside the job
# looks before it starts, whenever it last looked.
CANCEL_CHECK_SECONDS = 1.0


def cancelled_reason(label: str) -> str:
    return f"cancelled by {label}" if label else "cancelled"


def lease() -> timedelta:
    return timedelta(seconds=settings.JOB_LEASE_SECONDS)


def dispatch(
    job_id: uuid.UUID | str,
    *,
    waited: bool = False,
    claimed: Claim | None = None,
    in_caller: bool = False,
) -> None:
    """Run the job in this process's job threads if it runs jobs (or the caller waits for the job),
    else hand it to the broker. A broker that is down loses nothing: the job stays queued with its
    `dispatched_at`, and the reaper sends it again once that is older than a lease. A job `claimed`
    as it was inserted (`claim_at_insert`) runs here; `in_caller`, in the waiting caller's thread."""
    from causeway.celery import app
    from causeway.runs import local

    if local.take(job_id, waited=waited, claimed=claimed, in_caller=in_caller):
        return
    try:
        app.send_task(RUN_JOB_TASK, args=[str(job_id)])
    except Exception as exc:
        logger.warning("job %s: the broker did not take it (%s); the reaper will send it again", job_id, exc)


def dispatch_on_commit(
    job_id: uuid.UUID | str,
    *,
    waited: bool = False,
    claimed: Claim | None = None,
    in_caller: bool = False,
) -> None:
    """Dispatch once the caller's transaction commits, so no worker looks for a row that is not there."""
    transaction.on_commit(lambda: dispatch(job_id, waited=waited, claimed=claimed, in_caller=in_caller))


# Versions never change once saved, so a worker reads and checks each one's definition once; the
# ciphertext is not even opened again. Bounded, and held per process only.
_DEFINITIONS: OrderedDict[Any, Definition] = OrderedDict()
_DEFINITIONS_KEPT = 256
_definitions_lock = threading.Lock()


def definition_of(version: RecipeVersion) -> Definition:
    """The version's definition as its model; ValidationError when it cannot be read."""
    with _definitions_lock:
        found = _DEFINITIONS.get(version.pk)
        if found is not None:
            _DEFINITIONS.move_to_end(version.pk)
            return found
    loaded = definition_load(version.definition)
    with _definitions_lock:
        _DEFINITIONS[version.pk] = loaded
        while len(_DEFINITIONS) > _DEFINITIONS_KEPT:
            _DEFINITIONS.popitem(last=False)
    return loaded


def max_duration_seconds(job: Job) -> int:
    """The definition's `settings.max_duration_seconds`, capped by CAUSEWAY_JOB_MAX_DURATION_SECONDS."""
    cap = int(settings.JOB_MAX_DURATION_SECONDS)
    try:
        wanted = definition_of(job.version).settings.max_duration_seconds
    except Exception:
        # A definition that cannot be read is the engine's to report, as the job's failure; a job
        # that could never be claimed would be sent again and again instead.
        logger.warning("job %s: could not read its maximum duration; using %s s", job.pk, cap)
        wanted = cap
    return max(1, min(wanted, cap))


def concurrency_of(job: Job) -> int | None:
    """The job's version's `settings.concurrency`: at most so many jobs of the recipe run at once."""
    try:
        return definition_of(job.version).settings.concurrency
    except Exception:
        # A definition that cannot be read sets no limit: the engine fails the job, saying why.
        return None


def slot_reason(limit: int) -> str:
    jobs = "job" if limit == 1 else "jobs"
    return f"waiting for a free slot: at most {limit} {jobs} of this recipe run at once"


def overdue_reason(job: Job) -> str:
    if job.deadline_at is not None and job.started_at is not None:
        seconds = round((job.deadline_at - job.started_at).total_seconds())
    else:
        seconds = max_duration_seconds(job)
    return f"ran longer than {seconds} s"


def stopped_reason(attempts: int) -> str:
    return f"the worker stopped during this job {attempts} time{'s' if attempts != 1 else ''}"


def _lease_owner() -> str:
    # Host and process name the holder for an operator (and a test) reading the row; the random part
    # makes each claim distinct, so a process that claims the same job again is another holder.
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex}"


def _claimable(now: datetime, max_attempts: int) -> Q:
    return (
        (Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, lease_expires_at__lt=now))
        & (Q(not_before__isnull=True) | Q(not_before__lte=now))
        & Q(attempts__lt=max_attempts)
        & Q(cancel_requested_at__isnull=True)
    )


@dataclass(frozen=True)
class Claim:
    job: Job
    owner: str
    # When the lease was taken (this process's clock): the first renewal is due an interval later.
    taken: float = field(default_factory=time.monotonic)


def _claimable_now(job: Job, now: datetime) -> bool:
    """`_claimable`, asked of a row already read."""
    if job.status == JobStatus.QUEUED:
        pass
    elif job.status != JobStatus.RUNNING or job.lease_expires_at is None or job.lease_expires_at >= now:
        return False
    return (
        (job.not_before is None or job.not_before <= now)
        and job.attempts < settings.JOB_MAX_ATTEMPTS
        and job.cancel_requested_at is None
    )


# The statements every job runs, compiled once per connection (`causeway.db.prepared`).
_CLAIM_READ = PreparedSelect(
    lambda pk: Job.objects.select_related("version", "workspace", "recipe__project").filter(pk=pk),
    pk=uuid.UUID,
)


def _claim_update(
    pk: uuid.UUID,
    now: datetime,
    attempts: int,
    max_attempts: int,
    owner: str,
    expires: datetime,
    deadline: datetime,
) -> tuple[Any, dict[str, Any]]:
    return Job.objects.filter(_claimable(now, max_attempts), pk=pk, attempts=attempts), {
        "status": JobStatus.RUNNING,
        "lease_owner": owner,
        "lease_expires_at": expires,
        "heartbeat_at": now,
        "attempts": F("attempts") + 1,
        "started_at": Coalesce("started_at", Value(now, output_field=DateTimeField())),
        "deadline_at": Coalesce("deadline_at", Value(deadline, output_field=DateTimeField())),
    }


_CLAIM_TAKE = PreparedUpdate(
    _claim_update,
    pk=uuid.UUID,
    now=datetime,
    attempts=int,
    max_attempts=int,
    owner=str,
    expires=datetime,
    deadline=datetime,
)
_RENEW = PreparedUpdate(
    lambda pk, owner, expires, now: (
        Job.objects.filter(pk=pk, status=JobStatus.RUNNING, lease_owner=owner),
        {"lease_expires_at": expires, "heartbeat_at": now},
    ),
    pk=uuid.UUID,
    owner=str,
    expires=datetime,
    now=datetime,
)
# A finish without a reason: the job succeeded (a reason is sealed per row and takes the ORM's path).
_FINISH_HELD = PreparedUpdate(
    lambda pk, owner, status, now: (
        Job.objects.filter(pk=pk, status=JobStatus.RUNNING, lease_owner=owner),
        {"status": status, "error": None, "finished_at": now, "lease_expires_at": None},
    ),
    pk=uuid.UUID,
    owner=str,
    status=str,
    now=datetime,
)


def _uuid(value: uuid.UUID | str) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def claim(job_id: uuid.UUID | str) -> Claim | None:
    """Take the job's lease; None when another worker holds it, it is finished, not due yet, or gone.

    One read of the job (which the run needs anyway), then one conditional UPDATE that takes the lease
    and sets the deadline together. The UPDATE also requires the attempts count read, so the row in
    hand is exactly the row written. A duplicate delivery costs the read and nothing more. Both
    statements are compiled once per connection.
    """
    now = timezone.now()
    pk = _uuid(job_id)
    job = _CLAIM_READ.first(pk=pk) if pk is not None else None
    if job is None:
        return None
    if not _claimable_now(job, now):
        return None
    owner = _lease_owner()
    started_at = job.started_at or now
    # A resumed job keeps the start of its first claim, and with it its deadline.
    deadline_at = job.deadline_at or started_at + timedelta(seconds=max_duration_seconds(job))
    take: dict[str, Any] = {
        "pk": job.pk,
        "now": now,
        "attempts": job.attempts,
        "max_attempts": int(settings.JOB_MAX_ATTEMPTS),
        "owner": owner,
        "expires": now + lease(),
        "deadline": deadline_at,
    }
    limit = concurrency_of(job)
    if limit is None:
        taken = _CLAIM_TAKE.run(**take)
    else:
        taken = _claim_in_a_slot(job, limit, take)
    if taken != 1:
        return None
    job.status = JobStatus.RUNNING
    job.lease_owner = owner
    job.lease_expires_at = now + lease()
    job.heartbeat_at = now
    job.attempts += 1
    job.started_at = started_at
    job.deadline_at = deadline_at
    return Claim(job=job, owner=owner)


def _claim_in_a_slot(job: Job, limit: int, take: dict[str, Any]) -> int:
    """The claim of a job whose recipe runs at most `limit` jobs at once, counted in the database: the
    recipe's row is locked while its running jobs are counted and the lease is taken, so two workers
    never both take the last slot (SQLite's write transactions are one at a time anyway). Without a
    free slot the job stays queued, saying so; a job of the recipe that ends hands the broker the
    oldest of those waiting (`_wake_waiting`), and the reaper resends any still queued a lease later."""
    with transaction.atomic():
        Recipe.objects.select_for_update().filter(pk=job.recipe_id).values_list("pk", flat=True).first()
        running = Job.objects.filter(recipe_id=job.recipe_id, status=JobStatus.RUNNING).exclude(pk=job.pk)
        if running.count() >= limit:
            reason = slot_reason(limit)
            Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).exclude(waiting_for=reason).update(
                waiting_for=reason
            )
            logger.info("job %s: %s", job.pk, reason)
            return 0
        taken = _CLAIM_TAKE.run(**take)
        if taken and job.waiting_for:
            Job.objects.filter(pk=job.pk).update(waiting_for="")
            job.waiting_for = ""
        return taken


def _wake_waiting(job: Job, limit: int) -> None:
    """A job of a recipe with a limit ended: its slot is free. The oldest queued jobs of the recipe that
    are due (as many as the limit) are handed to the broker again; each claims a slot or waits again."""
    now = timezone.now()
    due = Q(not_before__isnull=True) | Q(not_before__lte=now)
    waiting = (
        Job.objects.filter(due, recipe_id=job.recipe_id, status=JobStatus.QUEUED)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in list(waiting):
        if Job.objects.filter(pk=pk, status=JobStatus.QUEUED).update(dispatched_at=now):
            dispatch(pk)


def claim_at_insert(job: Job, *, waited: bool = False) -> Claim | None:
    """For a job not yet inserted that this process will run (`local.would_take`): its lease, taken
    in the row as it is inserted, so the job costs no claim of its own. None: leave it queued.

    The lease starts before the job does: a job that waits in this process's queue is renewed (or
    found lost) by its heartbeat before its first step, as any running job is.
    """
    from causeway.runs import local

    # A job whose recipe has a limit claims its slot as any claim does, after its insert.
    if concurrency_of(job) is not None or not local.would_take(waited=waited):
        return None
    now = timezone.now()
    owner = _lease_owner()
    job.status = JobStatus.RUNNING
    job.lease_owner = owner
    job.lease_expires_at = now + lease()
    job.heartbeat_at = now
    job.attempts = 1
    job.started_at = now
    job.deadline_at = now + timedelta(seconds=max_duration_seconds(job))
    return Claim(job=job, owner=owner)


def renew(job_id: uuid.UUID | str, owner: str) -> bool:
    """Extend the lease; False when this worker no longer holds it."""
    now = timezone.now()
    pk = _uuid(job_id)
    return pk is not None and _RENEW.run(pk=pk, owner=owner, expires=now + lease(), now=now) == 1


def _finish(
    job: Job,
    condition: Q,
    *,
    status: str,
    error: str | None = None,
    history: History | None = None,
) -> bool:
    """Mark the job finished if it still matches `condition`, with one conditional UPDATE (which
    takes the row's lock), and write in the same transaction whatever step history the run still
    holds. `job` needs only its id and workspace: the reason is sealed for that row."""
    # The reason is masked (rule 13), then sealed twice with the rest of the job's history, bound to
    # this row as the field seals it on a save.
    job.error = mask_text(error) if error else None
    sealed_error = cast(SealedField, Job._meta.get_field("error")).ciphertext_for(job)
    with transaction.atomic():
        changed = Job.objects.filter(condition, pk=job.pk).update(
            status=status, error=sealed_error, finished_at=timezone.now(), lease_expires_at=None
        )
        if not changed:
            return False
        if history is not None:
            history.flush()
        if status == JobStatus.FAILED:
            _tell_of_failure(job.pk)
    return True


# Told of each job that failed, once its failure is committed, by the apps above this one that act on
# failures (they sit above, so this one cannot call them itself): each takes the job's id and must only
# queue work, never do it here (this may be a web process running a job for a caller who waits).
FAILURE_LISTENERS: dict[str, Callable[[uuid.UUID], None]] = {}


def _tell_of_failure(job_id: uuid.UUID) -> None:
    for name, listener in FAILURE_LISTENERS.items():

        def told(listener: Callable[[uuid.UUID], None] = listener, name: str = name) -> None:
            try:
                listener(job_id)
            except Exception:  # a listener's trouble never touches the job, already finished
                logger.exception("job %s: %s could not be told of its failure", job_id, name)

        transaction.on_commit(told)


def finish_cancelled(job: Job, label: str) -> bool:
    """End a queued job whose cancellation was just written (in the caller's transaction)."""
    asked = Q(status=JobStatus.QUEUED, cancel_requested_at__isnull=False)
    return _finish(job, asked, status=JobStatus.CANCELLED, error=cancelled_reason(label))


def finish_held(
    claimed: Claim, *, status: str, error: str | None = None, history: History | None = None
) -> bool:
    if error is None:
        # The common finish, with no reason to seal: its UPDATE compiled once per connection.
        with transaction.atomic():
            changed = _FINISH_HELD.run(
                pk=claimed.job.pk, owner=claimed.owner, status=status, now=timezone.now()
            )
            if not changed:
                return False
            if history is not None:
                history.flush()
        claimed.job.error = None
        return True
    held = Q(status=JobStatus.RUNNING, lease_owner=claimed.owner)
    return _finish(claimed.job, held, status=status, error=error, history=history)


def _failed(claimed: Claim, reason: str, history: History, *, retry: bool = True) -> bool:
    """Finish the held job failed; if its recipe's retry policy has a retry left, queue the next attempt
    in the same transaction, so a failed job and its retry are committed together or not at all."""
    job = claimed.job
    with transaction.atomic():
        if not finish_held(claimed, status=JobStatus.FAILED, error=reason, history=history):
            return False
        # A job someone cancelled that failed before it noticed is not started again.
        if retry and not Job.objects.filter(pk=job.pk, cancel_requested_at__isnull=False).exists():
            _retry_queue(job)
    return True


def _retry_queue(job: Job) -> Job | None:
    """The next attempt of a failed job, by its version's `settings.retries` and `retry_wait_seconds`
    (doubled for each retry after the first): a new job of the same version, payload and runner, due
    after the wait. The reaper hands it to the broker once it is due (it sends any queued job whose
    message is older than a lease, or was never sent)."""
    try:
        policy = definition_of(job.version).settings
    except Exception:
        return None
    number = job.retry_number + 1
    if number > policy.retries:
        return None
    wait = policy.retry_wait_seconds * 2 ** (number - 1)
    retry = Job(
        workspace_id=job.workspace_id,
        recipe_id=job.recipe_id,
        version_id=job.version_id,
        environment=job.environment,
        status=JobStatus.QUEUED,
        trigger_type=job.trigger_type,
        is_test=job.is_test,
        run_by_user_id=job.run_by_user_id,
        run_by_service_account_id=job.run_by_service_account_id,
        trigger_payload=job.trigger_payload,
        retry_of_id=job.pk,
        retry_number=number,
        first_attempt_id=job.first_attempt_id or job.pk,
        not_before=timezone.now() + timedelta(seconds=min(wait, MAX_RETRY_WAIT_SECONDS)),
        dispatched_at=None,
    )
    retry.save(force_insert=True)
    logger.info("job %s: failed; retry %s of %s queued as job %s", job.pk, number, policy.retries, retry.pk)
    return retry


class _Keeper:
    """One thread per process renewing the leases of every job running in it while their steps block.

    A job registers its heartbeat when its run starts and leaves when it ends; a job that ends within
    a renewal interval (most) costs the keeper nothing, and no job starts a thread of its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, Heartbeat] = {}
        self._wake = threading.Event()
        # When the thread next looks, on this process's monotonic clock: a job added with a renewal due
        # later than that does not wake it (most jobs end long before their first renewal).
        self._until = 0.0
        self._thread = threading.Thread(target=self._run, name="causeway-leases", daemon=True)
        self._thread.start()

    def add(self, beat: Heartbeat) -> None:
        with self._lock:
            self._held[id(beat)] = beat
            wake = time.monotonic() + beat.due() < self._until
        if wake:
            self._wake.set()

    def remove(self, beat: Heartbeat) -> None:
        with self._lock:
            self._held.pop(id(beat), None)

    def _beats(self) -> list[Heartbeat]:
        with self._lock:
            return [beat for beat in self._held.values() if not beat.lost.is_set()]

    def _run(self) -> None:
        while True:
            renewed = False
            for beat in self._beats():
                if beat.due() <= 0:
                    beat.renew_logged()
                    renewed = True
            if renewed:
                # Renewals are seconds apart: the connection is not kept between them, so a database
                # being dropped or restarted finds no idle session of this thread.
                connection.close()
            # Cleared before the beats are read: one added after this is either read now or wakes it.
            self._wake.clear()
            with self._lock:
                waits = [beat.due() for beat in self._held.values() if not beat.lost.is_set()]
                wait = min(waits) if waits else None
                self._until = math.inf if wait is None else time.monotonic() + wait
            self._wake.wait(wait)


_keeper: _Keeper | None = None
_keeper_pid = 0
_keeper_lock = threading.Lock()


def _leases() -> _Keeper:
    global _keeper, _keeper_pid
    with _keeper_lock:
        # A forked child (a pool process) never uses its parent's thread.
        if _keeper is None or _keeper_pid != os.getpid():
            _keeper = _Keeper()
            _keeper_pid = os.getpid()
        return _keeper


class Heartbeat:
    """The engine's `heartbeat()` callback, with the lease renewed by this process's keeper thread while
    a step blocks.

    Both stop at the first renewal that fails: the lease is someone else's. The callback then raises
    LeaseLost (and DeadlinePassed past the job's deadline), which ends the engine's walk; and Cancelled
    once it finds the job cancelled (`cancel_check`), which it looks for at most every
    CANCEL_CHECK_SECONDS, so a job of quick steps costs no read for it.
    """

    def __init__(self, claimed: Claim) -> None:
        self.claimed = claimed
        self.interval = float(settings.JOB_HEARTBEAT_SECONDS)
        self.lost = threading.Event()
        self._last = claimed.taken
        self._looked = claimed.taken

    def start(self) -> None:
        _leases().add(self)

    def stop(self) -> None:
        _leases().remove(self)

    def due(self) -> float:
        """Seconds until the next renewal is due (at once for a lease taken long before its run)."""
        return max(0.0, self.interval - (time.monotonic() - self._last))

    def _renew(self) -> None:
        if not renew(self.claimed.job.pk, self.claimed.owner):
            self.lost.set()
        else:
            self._last = time.monotonic()

    def renew_logged(self) -> None:
        try:
            self._renew()
        except DatabaseError as exc:
            # The lease may yet run out; the reaper then decides, and the next renewal says so. Tried
            # again in a second, not at once.
            logger.warning("job %s: could not renew its lease: %s", self.claimed.job.pk, exc)
            self._last = time.monotonic() - self.interval + 1.0

    def cancel_check(self) -> None:
        """Cancelled when someone cancelled the job: one read of its row."""
        self._looked = time.monotonic()
        asked = (
            Job.objects.filter(pk=self.claimed.job.pk, cancel_requested_at__isnull=False)
            .values_list("cancelled_by", flat=True)
            .first()
        )
        if asked is not None:
            raise Cancelled(cancelled_reason(asked))

    def __call__(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(str(self.claimed.job.pk))
        deadline = self.claimed.job.deadline_at
        if deadline is not None and timezone.now() > deadline:
            raise DeadlinePassed(overdue_reason(self.claimed.job))
        if time.monotonic() - self._last >= self.interval:
            self._renew()
            if self.lost.is_set():
                raise LeaseLost(str(self.claimed.job.pk))
        if time.monotonic() - self._looked >= CANCEL_CHECK_SECONDS:
            self.cancel_check()


def run(job_id: uuid.UUID | str, *, answer: Answer | None = None, claimed: Claim | None = None) -> str:
    """Claim the job and run it through the engine; what happened, as one word (for logs and tests).

    `answer` hears what a caller waiting for the job is to be answered (see `engine.execute`);
    `claimed`: the job's lease was taken as it was inserted (`claim_at_insert`)."""
    from causeway.runs import engine

    claimed = claimed or claim(job_id)
    if claimed is None:
        logger.info("job %s: not claimed (finished, held by another worker, or not due)", job_id)
        return "skipped"
    job = claimed.job
    logger.info("job %s: claimed by %s (attempt %s)", job.pk, claimed.owner, job.attempts)
    beat = Heartbeat(claimed)
    beat.start()
    outcome = "lost"
    try:
        history = engine.History(job)
        try:
            engine.execute(
                job, heartbeat=beat, history=history, answer=answer, cancel_check=beat.cancel_check
            )
        except Cancelled as exc:
            if finish_held(claimed, status=JobStatus.CANCELLED, error=str(exc), history=history):
                outcome = "cancelled"
        except LeaseLost:
            # What the run still held is dropped: the job's new holder writes its own.
            logger.warning("job %s: lost its lease; another worker or the reaper has it now", job.pk)
        except DeadlinePassed as exc:
            if _failed(claimed, str(exc), history):
                outcome = "failed"
        except engine.StepFailed as exc:
            if _failed(claimed, exc.message, history, retry=not exc.final):
                outcome = "failed"
        except Exception as exc:
            # The traceback may carry the job's data: it goes to the (masked) worker log, never to the job.
            logger.exception("job %s: stopped on an unexpected error", job.pk)
            reason = f"stopped on an internal error ({type(exc).__name__}); the worker's log has the details"
            if _failed(claimed, reason, history):
                outcome = "failed"
        else:
            if finish_held(claimed, status=JobStatus.SUCCEEDED, history=history):
                outcome = "succeeded"
    finally:
        beat.stop()
    logger.info("job %s: %s", job.pk, outcome)
    limit = concurrency_of(job)
    if limit is not None and outcome != "lost":
        _wake_waiting(job, limit)
    return outcome


# The reaper.


def _row(job_id: uuid.UUID, workspace_id: uuid.UUID) -> Job:
    """A job as `_finish` needs it: which row, in which workspace (what its reason is sealed to)."""
    return Job(pk=job_id, workspace_id=workspace_id)


def _overdue(now: datetime) -> int:
    count = 0
    overdue = Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING], deadline_at__lt=now)
    for job in Job.objects.filter(overdue).select_related("version").order_by("deadline_at")[:REAPER_BATCH]:
        if _finish(job, overdue, status=JobStatus.FAILED, error=overdue_reason(job)):
            logger.warning("job %s: failed by the reaper: %s", job.pk, overdue_reason(job))
            count += 1
    return count


def _expired(now: datetime) -> tuple[int, int]:
    """Running jobs whose lease ran out: queued again, or failed once they used up their attempts."""
    requeued = failed = 0
    expired = Q(status=JobStatus.RUNNING, lease_expires_at__lt=now)
    rows = (
        Job.objects.filter(expired)
        .order_by("lease_expires_at")
        .values_list("pk", "workspace_id", "attempts", "cancel_requested_at", "cancelled_by")
    )
    for job_id, workspace_id, attempts, asked, label in rows[:REAPER_BATCH]:
        if asked is not None:
            # Cancelled while its worker was gone: ended as cancelled, never resumed.
            cancelled = expired & Q(cancel_requested_at__isnull=False)
            if _finish(
                _row(job_id, workspace_id),
                cancelled,
                status=JobStatus.CANCELLED,
                error=cancelled_reason(label),
            ):
                logger.warning(
                    "job %s: its worker stopped after it was cancelled; ended as cancelled", job_id
                )
            continue
        if attempts >= settings.JOB_MAX_ATTEMPTS:
            spent = expired & Q(attempts__gte=settings.JOB_MAX_ATTEMPTS)
            if _finish(
                _row(job_id, workspace_id), spent, status=JobStatus.FAILED, error=stopped_reason(attempts)
            ):
                logger.warning("job %s: failed by the reaper: %s", job_id, stopped_reason(attempts))
                failed += 1
            continue
        back = Job.objects.filter(
            expired, pk=job_id, attempts__lt=settings.JOB_MAX_ATTEMPTS, cancel_requested_at__isnull=True
        ).update(status=JobStatus.QUEUED, lease_expires_at=None, dispatched_at=now)
        if back:
            logger.warning("job %s: its worker stopped (attempt %s); queued again", job_id, attempts)
            dispatch(job_id)
            requeued += 1
    return requeued, failed


def _lost_messages(now: datetime) -> int:
    """Queued jobs handed to the broker longer than a lease ago and still not claimed: send again."""
    resent = 0
    stale = Q(status=JobStatus.QUEUED) & (Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now - lease()))
    due = Q(not_before__isnull=True) | Q(not_before__lte=now)
    rows = (
        Job.objects.filter(stale, due)
        .order_by("created_at")
        .values_list("pk", "workspace_id", "dispatched_at", "attempts")
    )
    for job_id, workspace_id, dispatched_at, attempts in rows[:REAPER_BATCH]:
        if attempts >= settings.JOB_MAX_ATTEMPTS:
            # No claim would take it: end it rather than send it forever.
            spent = Q(status=JobStatus.QUEUED, attempts__gte=settings.JOB_MAX_ATTEMPTS)
            _finish(
                _row(job_id, workspace_id), spent, status=JobStatus.FAILED, error=stopped_reason(attempts)
            )
            continue
        # Conditional on the value read, so two reapers running at once send it once.
        if Job.objects.filter(pk=job_id, status=JobStatus.QUEUED, dispatched_at=dispatched_at).update(
            dispatched_at=now
        ):
            dispatch(job_id)
            resent += 1
    return resent


def reap(now: datetime | None = None) -> dict[str, int]:
    """One reaper run. Overdue jobs first, so a job both overdue and abandoned fails for being overdue."""
    now = now or timezone.now()
    overdue = _overdue(now)
    requeued, failed = _expired(now)
    resent = _lost_messages(now)
    return {"overdue": overdue, "requeued": requeued, "failed": failed, "resent": resent}


# Other daily purges, by name, run by the same beat task after the job history's: registered by the apps
# that keep the history (they sit above this one, so it cannot call them itself).
DAILY_PURGES: dict[str, Callable[[], int]] = {}


def job_history_purge(now: datetime | None = None) -> dict[str, int]:
    """Delete finished jobs (with their steps) older than their workspace's retention (rule 14).

    One audit event `job_history.purged` per workspace that lost any, in the transaction that deleted
    them, by the platform itself (the system actor).
    """
    from causeway.audit.services import audit_record
    from causeway.runs.models import JobStep
    from causeway.workspaces.models import Workspace

    now = now or timezone.now()
    purged: dict[str, int] = {}
    holding = Job.objects.filter(status__in=FINISHED).values("workspace_id")
    for workspace in Workspace.objects.filter(pk__in=holding).order_by("created_at"):
        before = now - timedelta(days=workspace.job_retention_days)
        with transaction.atomic():
            old = Job.objects.filter(workspace=workspace, status__in=FINISHED, created_at__lt=before)
            jobs = steps = 0
            while ids := list(old.values_list("pk", flat=True)[:PURGE_CHUNK]):
                steps += JobStep.objects.filter(job_id__in=ids).count()
                jobs += Job.objects.filter(pk__in=ids).delete()[1].get("runs.Job", 0)
            if not jobs:
                continue
            audit_record(
                actor=None,
                action="job_history.purged",
                target=workspace,
                workspace_id=workspace.id,
                details={
                    "jobs": jobs,
                    "steps": steps,
                    "retention_days": workspace.job_retention_days,
                    "created_before": before.isoformat(timespec="seconds"),
                },
            )
        purged[str(workspace.id)] = jobs
        logger.info("job history: purged %s jobs of workspace %s", jobs, workspace.id)
    return purged
