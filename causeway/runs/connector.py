"""The `connector` step: one action of a connection, for the person the job runs on behalf of.

Before anything is sent, the connection is resolved for that person (`connections.connection_for_step`:
rules 6 and 7, the connector's enablement, the action's scopes and switch); a refusal fails the step
with its reason and reaches no provider. The action's input is rendered in the template sandbox,
checked against the action's model, and sent through the outbound rules (rule 20), with the step's
`Idempotency-Key` (job and path). Each try is one line of the connection's usage history.

On whose behalf a job runs (docs/connections.md):
- a run or test run started by a person, and a re-run: that person;
- a schedule, webhook or poll, and a run by a service account (the API): the person who saved the
  version being run, who chose its connections;
- a run from the operator's command line: no one, so it uses no connection.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from django.core.exceptions import ValidationError
from django.utils import timezone

from causeway.accounts.models import User
from causeway.connections import budgets as connections_budgets
from causeway.connections import outbound
from causeway.connections import services as connections
from causeway.connections.models import Connection, Outcome, RateBudget
from causeway.connections.sdk import ActionFailed
from causeway.recipes.schema import ConnectorStep
from causeway.runs.models import Job, TriggerType
from causeway.runs.steps import StepFailed, StepResult, _backoff, _render_tree, _wait


def on_behalf_of(job: Job) -> User | None:
    if job.run_by_user_id is not None:
        return job.run_by_user
    if job.run_by_service_account_id is None and job.trigger_type == TriggerType.MANUAL:
        return None
    return job.version.created_by


def _rendered_input(given: Any, context: dict[str, Any], literal: frozenset[str]) -> Any:
    """The step's input with its templates rendered, except the action's literal fields, which are taken
    as written and may hold no template at all (so no value is ever spliced into a SQL text)."""
    if not literal or not isinstance(given, dict):
        return _render_tree(given, context, "input")
    rendered: dict[str, Any] = {}
    for key, value in given.items():
        if key not in literal:
            rendered[key] = _render_tree(value, context, f"input.{key}")
        elif isinstance(value, str) and ("{{" in value or "{%" in value):
            raise StepFailed(
                f"input.{key} is taken as written and may hold no template: pass values as parameters"
            )
        else:
            rendered[key] = value
    return rendered


def run_connector(
    step: ConnectorStep,
    context: dict[str, Any],
    job: Job,
    path: str,
    heartbeat: Callable[[], None],
    opened: connections.Opened | None = None,
) -> StepResult:
    recorded: dict[str, Any] = {"connection": step.connection, "action": step.action, "input": step.input}
    person = on_behalf_of(job)
    tries = 0
    while True:
        tries += 1
        heartbeat()
        try:
            resolved = connections.connection_for_step(
                workspace=job.workspace,
                connection_ref=step.connection,
                action_key=step.action,
                on_behalf_of=person,
                job_id=job.id,
                step_path=path,
                idempotency_key=f"{job.key_id}:{path}",
                timeout=float(step.timeout_seconds),
                render=lambda template, scope: _render_tree(template, scope, "connector"),
                opened=opened,
            )
            break
        except connections.ConnectionRefused as exc:
            # An OAuth token endpoint that could not be reached is tried again, like a provider's 5xx.
            if not exc.transient or tries > step.retries:
                refused = StepFailed(str(exc), transient=exc.transient)
                return StepResult(input=recorded, output=None, attempts=tries, failure=refused)
            _wait(_backoff(tries, None), heartbeat)
    recorded["connection"] = resolved.describe()
    try:
        given = _rendered_input(step.input, context, resolved.action.literal)
    except StepFailed as exc:
        return StepResult(input=recorded, output=None, failure=exc)
    recorded["input"] = given
    try:
        checked = connections.action_input(resolved, given)
    except ValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        return StepResult(input=recorded, output=None, failure=StepFailed(detail))
    budgets = opened.budgets.get(resolved.connection.pk) if opened is not None else None
    if budgets is None:
        budgets = connections_budgets.budgets_of(resolved.connection)
        if opened is not None:
            opened.budgets[resolved.connection.pk] = budgets
    attempt = 0
    while True:
        attempt += 1
        heartbeat()
        over = _wait_for_budget(resolved.connection, budgets, job, heartbeat, fresh=attempt == 1)
        if over is not None:
            return StepResult(input=recorded, output=None, attempts=attempt, failure=StepFailed(over))
        output: Any = None
        outcome, detail = Outcome.SUCCEEDED, ""
        try:
            answer = resolved.action.run(resolved.call, checked)
            output = answer.model_dump(mode="json")
            failure: StepFailed | None = None
        except ActionFailed as exc:
            output = exc.output
            failure = StepFailed(str(exc), transient=exc.transient)
            if exc.retry_after is not None:
                connections_budgets.connection_pause(connection=resolved.connection, seconds=exc.retry_after)
        except outbound.DestinationRefused as exc:
            failure = StepFailed(str(exc))
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            failure = StepFailed(f"{type(exc).__name__}: {exc}", transient=True)
        except httpx.TooManyRedirects as exc:
            failure = StepFailed(str(exc))
        if failure is not None:
            outcome, detail = Outcome.FAILED, failure.message
        connections.use_record(
            connection=resolved.connection,
            action=resolved.action.key,
            job_id=job.id,
            step_path=path,
            on_behalf_of=person,
            outcome=outcome,
            host=resolved.call.hosts[-1] if resolved.call.hosts else "",
            detail=detail,
        )
        if failure is None:
            return StepResult(input=recorded, output=output, attempts=attempt)
        if not failure.transient or attempt > step.retries:
            return StepResult(input=recorded, output=output, attempts=attempt, failure=failure)
        paused = resolved.connection.paused_until
        if paused is None or paused <= timezone.now():
            _wait(_backoff(attempt, None), heartbeat)


def _wait_for_budget(
    connection: Connection,
    budgets: list[RateBudget],
    job: Job,
    heartbeat: Callable[[], None],
    *,
    fresh: bool,
) -> str | None:
    """Wait until the connection's rate budgets (and any pause a provider asked for) let one request go,
    saying on the job what it waits for; the reason it cannot go before the job's deadline, if so."""
    if not fresh:
        # Another worker may have been told to pause it since this step resolved it.
        connection.paused_until = (
            Connection.objects.filter(pk=connection.pk).values_list("paused_until", flat=True).first()
        )
    shown = ""
    while (wait := connections_budgets.budget_take(connection=connection, budgets=budgets)) is not None:
        if job.deadline_at is not None and timezone.now() + timedelta(seconds=wait.seconds) > job.deadline_at:
            _show_waiting(job, "")
            return f"{wait.reason}: that is past the job's time limit, so no request was sent"
        if wait.reason != shown:
            shown = _show_waiting(job, wait.reason)
        _wait(min(wait.seconds, 5.0), heartbeat)
    if shown:
        _show_waiting(job, "")
    return None


def _show_waiting(job: Job, reason: str) -> str:
    Job.objects.filter(pk=job.pk).update(waiting_for=reason[:300])
    job.waiting_for = reason[:300]
    return reason
