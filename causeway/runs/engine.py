"""Runs one job's steps in order, recording each in the job's history, resuming where a dead worker stopped.

Steps are named by path: their id at the top level (and inside a condition's branches), and
`<for-each path>[<i>].<id>` inside an iteration of a for-each. A step already `succeeded` in the
job's JobStep rows is not run again: its stored output is read back, so a job resumed after its worker
died goes on from the first step that did not finish, and an http step's `Idempotency-Key` (job id and
path) is the same on every try. Each step's input, output and error are masked, then sealed twice (the
JobStep fields do the sealing). The Job's status is the runtime's to change, not this module's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from causeway.connections.services import Opened
from causeway.db.prepared import PreparedInsert, PreparedSave
from causeway.recipes import signatures
from causeway.recipes.schema import (
    ConditionStep,
    ConnectorStep,
    Definition,
    ForeachStep,
    HttpStep,
    LookupReadStep,
    LookupWriteStep,
    MapStep,
    RespondStep,
    Step,
    StopStep,
)
from causeway.runs import steps as runners
from causeway.runs.connector import run_connector
from causeway.runs.models import Job, JobStep, StepStatus
from causeway.runs.runtime import Cancelled, definition_of
from causeway.runs.steps import StepFailed, StepResult, masked

__all__ = ["History", "StepFailed", "execute", "runs_in_caller"]


# Rows written at most this many at a time when a job runs many light steps in a row.
FLUSH_ROWS = 200
_CHANGING = ["status", "input", "output", "error", "attempts", "started_at", "finished_at", "duration_ms"]
# Step rows are written by these two, their SQL written once per connection: each value sealed as a save
# seals it, then bound as a parameter.
_INSERT = PreparedInsert(JobStep)
_SAVE = PreparedSave(JobStep, _CHANGING)


class History:
    """A job's step rows as this run writes them: kept in memory and written together, in one transaction.

    A light step (a mapping, a condition, a lookup read) has no effect outside the job, so a run that
    dies before its row is written only runs it again. Before a step that reaches outside (an HTTP call,
    a connector action, a lookup write) every row so far is written, that step's own `running` row with
    them: a resumed job then goes on from there, with the same idempotency key and its tries counted.
    The rest is written by whoever ends the job, in the transaction that finishes it (`runtime`), so
    the history and the job's status are committed together, by the lease's holder only.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        # A job on its first claim has no rows yet: no earlier run wrote any.
        found = JobStep.objects.filter(job=job) if job.attempts != 1 else []
        self.rows: dict[str, JobStep] = {row.path: row for row in found}
        self._new: dict[str, JobStep] = {}
        self._changed: dict[str, JobStep] = {}

    def add(self, row: JobStep) -> None:
        self.rows[row.path] = row
        self._new[row.path] = row
        self._full()

    def changed(self, row: JobStep) -> None:
        if row.path not in self._new:
            self._changed[row.path] = row
        self._full()

    def _full(self) -> None:
        if len(self._new) + len(self._changed) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write every row added or changed since the last flush."""
        if not self._new and not self._changed:
            return
        # Within the caller's transaction when there is one (the job's finish): no savepoint of its own.
        with transaction.atomic(savepoint=False):
            if self._new:
                _INSERT.run(list(self._new.values()))
            for row in self._changed.values():
                _SAVE.run(row)
        self._new.clear()
        self._changed.clear()


def _reaches_outside(step: Step) -> bool:
    return isinstance(step, HttpStep | ConnectorStep | LookupWriteStep)


# Steps whose time is the process's own (a template, a row of the database): no wait outside the job.
_LIGHT = (MapStep, ConditionStep, RespondStep, StopStep, LookupReadStep, LookupWriteStep)


def runs_in_caller(definition: Definition, within: float) -> bool:
    """Whether a job of this definition, whose caller waits `within` seconds for its answer, may run in
    the caller's own request instead of a job thread: it cannot outlast that wait, nor keep an answer
    from its caller.

    So every step is light (a mapping, a condition, a lookup, a respond or stop step) or an HTTP call
    tried once (a retry may wait out a Retry-After of up to a minute), the calls' time-outs (each bounds
    its whole call, redirects included) add up to at most `within`, and no call comes after a respond
    step, whose answer would otherwise wait for it. A for-each (as many iterations as its items) and a
    connector action (rate budgets, token refreshes) never qualify.
    """
    budget = float(within)
    answered = False

    def fits(steps: Sequence[Step]) -> bool:
        nonlocal budget, answered
        for step in steps:
            if isinstance(step, HttpStep):
                budget -= step.timeout_seconds
                if step.retries or answered or budget < 0:
                    return False
            elif isinstance(step, RespondStep):
                answered = True
            elif isinstance(step, ConditionStep):
                if not (fits(step.then) and fits(step.else_)):
                    return False
            elif not isinstance(step, _LIGHT):
                return False
        return True

    return fits(definition.steps)


# Told the answer for a waiting caller: a respond step's (`final` False, as soon as it ran), or the last
# step's output once every step ran (`final` True: the job has yet to be finished).
Answer = Callable[[dict[str, Any], bool], None]


class _Run:
    def __init__(
        self,
        job: Job,
        heartbeat: Callable[[], None],
        history: History,
        answer: Answer | None,
        cancel_check: Callable[[], None] | None = None,
    ) -> None:
        self.job = job
        self.heartbeat = heartbeat
        self.cancel_check = cancel_check
        self.history = history
        self.answer = answer
        self.rows = history.rows
        self.position = 0
        # Tries of each step made before this run (a resumed or re-run job), so attempts add up.
        self.prior: dict[str, int] = {}
        self.last_position = max((row.position for row in self.rows.values()), default=0)
        self.job_context = {
            "id": str(job.id),
            "recipe": {"id": str(job.recipe_id), "name": job.recipe.name, "version": job.version.number},
            "environment": job.environment,
            "is_test": job.is_test,
        }
        self.trigger = job.trigger_payload if job.trigger_payload is not None else {}
        # The connections' credentials this run opened: each once, however many steps use it.
        self.opened = Opened()

    def context(self, outputs: dict[str, Any], loop: dict[str, Any]) -> dict[str, Any]:
        return {"trigger": self.trigger, "steps": outputs, "job": self.job_context, **loop}

    # History.

    def _begin(self, path: str, step: Step) -> tuple[JobStep, float]:
        self.position += 1
        now = timezone.now()
        row = self.rows.get(path)
        if row is None:
            self.last_position = max(self.last_position, self.position) + 1
            row = JobStep(
                workspace_id=self.job.workspace_id,
                job=self.job,
                path=path,
                position=self.last_position,
                step_type=step.type,
                status=StepStatus.RUNNING,
                attempts=1,
                started_at=now,
            )
            self.history.add(row)
        else:
            # A try that did not finish (its worker died, or it failed and the job is run again).
            self.prior[path] = row.attempts
            row.status = StepStatus.RUNNING
            row.attempts += 1
            row.started_at = now
            row.finished_at = None
            row.duration_ms = None
            row.error = None
            self.history.changed(row)
        if _reaches_outside(step):
            self.history.flush()
        return row, time.monotonic()

    def _finish(
        self,
        row: JobStep,
        started: float,
        *,
        status: str,
        input: Any,
        output: Any,
        error: str | None = None,
        attempts: int = 1,
    ) -> None:
        row.status = status
        row.input = masked(input)
        row.output = masked(output)
        row.error = error
        row.attempts = self.prior.get(row.path, 0) + attempts
        row.finished_at = timezone.now()
        row.duration_ms = int((time.monotonic() - started) * 1000)
        self.history.changed(row)

    def _succeeded(self, path: str) -> JobStep | None:
        row = self.rows.get(path)
        if row is not None and row.status == StepStatus.SUCCEEDED:
            return row
        return None

    # Walking.

    def walk(self, steps: Sequence[Step], prefix: str, outputs: dict[str, Any], loop: dict[str, Any]) -> None:
        for step in steps:
            self.heartbeat()
            if self.job.deadline_at is not None and timezone.now() > self.job.deadline_at:
                raise StepFailed("the job ran past its maximum duration")
            path = f"{prefix}{step.id}"
            done = self._succeeded(path)
            if done is not None:
                self.position += 1
                output = done.output
                outputs[step.id] = output
                if isinstance(step, ConditionStep):
                    branch = (output or {}).get("branch", "else")
                    self.walk(runners.condition_branch(step, branch), prefix, outputs, loop)
                continue
            self.run_step(step, path, prefix, outputs, loop)

    def run_step(
        self, step: Step, path: str, prefix: str, outputs: dict[str, Any], loop: dict[str, Any]
    ) -> None:
        if self.cancel_check is not None and _reaches_outside(step):
            # No effect outside the job starts after it was cancelled, however soon.
            self.cancel_check()
        row, started = self._begin(path, step)
        context = self.context(outputs, loop)
        try:
            result = self._dispatch(step, context, path)
        except Cancelled as stopped:
            # Cancelled during a wait inside the step (a back-off, a rate budget).
            self._finish(row, started, status=StepStatus.FAILED, input=None, output=None, error=str(stopped))
            raise
        except StepFailed as failure:
            self._finish(
                row, started, status=StepStatus.FAILED, input=None, output=None, error=failure.message
            )
            raise
        except Exception as exc:
            message = f"internal error ({type(exc).__name__})"
            self._finish(row, started, status=StepStatus.FAILED, input=None, output=None, error=message)
            raise
        if result.failure is not None:
            self._finish(
                row,
                started,
                status=StepStatus.FAILED,
                input=result.input,
                output=result.output,
                error=result.failure.message,
                attempts=result.attempts,
            )
            raise result.failure
        if isinstance(step, ConditionStep):
            self._finish(row, started, status=StepStatus.SUCCEEDED, input=result.input, output=result.output)
            outputs[step.id] = masked(result.output)
            self.walk(result.branch or [], prefix, outputs, loop)
            return
        if isinstance(step, ForeachStep):
            self._foreach(step, path, row, started, result, outputs, loop)
            return
        self._finish(
            row,
            started,
            status=StepStatus.SUCCEEDED,
            input=result.input,
            output=result.output,
            attempts=result.attempts,
        )
        # Later steps see what history holds (masked), fresh or resumed alike: a secret that came back
        # in an answer cannot travel on into a mapping, a lookup table or another host.
        outputs[step.id] = row.output
        if isinstance(step, RespondStep) and self.answer is not None:
            self.answer(row.output, False)

    def _dispatch(self, step: Step, context: dict[str, Any], path: str) -> StepResult:
        match step:
            case HttpStep():
                return runners.run_http(step, context, self.job, path, self.heartbeat)
            case ConnectorStep():
                return run_connector(step, context, self.job, path, self.heartbeat, self.opened)
            case MapStep():
                return runners.run_map(step, context)
            case LookupReadStep():
                return runners.run_lookup_read(step, context, self.job)
            case LookupWriteStep():
                return runners.run_lookup_write(step, context, self.job)
            case ConditionStep():
                return runners.run_condition(step, context)
            case ForeachStep():
                return runners.run_foreach(step, context)
            case StopStep():
                return runners.run_stop(step, context)
            case RespondStep():
                return runners.run_respond(step, context)
        raise StepFailed(f"there is no runner for steps of type {step.type!r}")

    def _foreach(
        self,
        step: ForeachStep,
        path: str,
        row: JobStep,
        started: float,
        result: StepResult,
        outputs: dict[str, Any],
        loop: dict[str, Any],
    ) -> None:
        items = result.items or []
        variable = step.as_
        iterations: list[dict[str, Any]] = []
        try:
            for index, item in enumerate(items):
                inner = dict(outputs)
                scope = {
                    **loop,
                    variable: item,
                    "loop": {
                        "index": index,
                        "number": index + 1,
                        "first": index == 0,
                        "last": index == len(items) - 1,
                        "length": len(items),
                    },
                }
                self.walk(step.steps, f"{path}[{index}].", inner, scope)
                iterations.append({key: inner[key] for key in inner if key not in outputs})
        except StepFailed as failure:
            self._finish(
                row,
                started,
                status=StepStatus.FAILED,
                input=result.input,
                output=None,
                error=f"iteration {len(iterations)}: {failure.message}",
            )
            raise
        self._finish(row, started, status=StepStatus.SUCCEEDED, input=result.input, output=iterations)
        outputs[step.id] = row.output


def execute(
    job: Job,
    *,
    heartbeat: Callable[[], None],
    history: History | None = None,
    answer: Answer | None = None,
    cancel_check: Callable[[], None] | None = None,
) -> None:
    """Run the job's version's steps; StepFailed (after recording it) when a step fails or stops the job.

    Steps that already succeeded (a resumed job) are not run again; their recorded outputs are reused.
    With `history`, rows not yet written stay in it for the caller to write as it ends the job; without,
    they are written before this returns or raises. `answer` hears what a waiting caller is answered.
    `cancel_check` raises Cancelled if the job was cancelled; it is asked before each step that reaches
    outside the job (`heartbeat` asks it too, between steps and during waits, at most every second).
    """
    refusal = signatures.version_refusal(job.version, job.recipe)
    if refusal is not None:
        # An unsigned or altered PROD version never runs: the refusal is audited before the job fails.
        with transaction.atomic():
            signatures.refusal_record(job.version, job_id=str(job.pk), reason=refusal)
        raise StepFailed(refusal)
    try:
        definition = definition_of(job.version)
    except ValidationError as exc:
        where = ", ".join(sorted(exc.message_dict))
        raise StepFailed(f"the version's definition cannot be read ({where})") from None
    kept = history if history is not None else History(job)
    run = _Run(job, heartbeat, kept, answer, cancel_check)
    outputs: dict[str, Any] = {}
    try:
        run.walk(definition.steps, "", outputs, {})
        heartbeat()
    finally:
        if history is None:
            kept.flush()
    if answer is not None:
        last = outputs.get(definition.steps[-1].id) if definition.steps else None
        answer({"status": 200, "headers": {}, "body": last}, True)
