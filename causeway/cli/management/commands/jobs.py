"""`causeway jobs`: list and show jobs, run a recipe, re-run a failed job, cancel a job, from a shell.

It acts as the system actor, like `causeway secrets`: whoever runs it already holds the database and
the keys. Job history is shown as stored: masked before it was sealed.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from causeway.access import policy
from causeway.access.errors import NotFound
from causeway.access.policy import Actor
from causeway.cli.management.commands._files import text_from
from causeway.cli.management.commands.workspaces import cli_actor, refusal
from causeway.runs import history, services
from causeway.runs.models import Job, JobStatus, TriggerType


def _day(raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"date: {raw!r} is not a day such as 2026-01-31") from None


def _payload(options: dict[str, Any]) -> dict[str, Any] | None:
    raw = options["payload"]
    if options["payload_file"] is not None:
        raw = text_from(options["payload_file"], sys.stdin, option="payload-file")
    if raw is None:
        return None
    try:
        return services.trigger_payload_parse(raw)
    except ValidationError as exc:
        raise CommandError(f"payload: {exc.message_dict['payload'][0]}") from None


def _line(job: Job) -> str:
    test = " test" if job.is_test else ""
    return (
        f"{job.id}\t{job.created_at:%Y-%m-%d %H:%M:%S} UTC\t{job.status}{test}\t{job.trigger_type}\t"
        f"{job.recipe.name} v{job.version.number}\t{history.run_by(job)}"
    )


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


class Command(BaseCommand):
    help = "List and show jobs, run a recipe, re-run a failed job, cancel a job. Acts as the system actor."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="jobs, newest first")
        listing.add_argument("--workspace", required=True, metavar="SLUG")
        listing.add_argument("--recipe", metavar="ID")
        listing.add_argument("--status", choices=[s.value for s in JobStatus])
        listing.add_argument("--trigger", choices=[t.value for t in TriggerType])
        listing.add_argument("--since", metavar="YYYY-MM-DD", help="created on or after this day (UTC)")
        listing.add_argument("--until", metavar="YYYY-MM-DD", help="created on or before this day (UTC)")
        tests = listing.add_mutually_exclusive_group()
        tests.add_argument("--test", dest="test", action="store_const", const=True, help="only test runs")
        tests.add_argument("--no-test", dest="test", action="store_const", const=False, help="no test runs")
        listing.add_argument("--limit", type=int, default=50, metavar="N")
        showing = actions.add_parser("show", help="one job and its step-by-step history")
        showing.add_argument("--workspace", required=True, metavar="SLUG")
        showing.add_argument("job", metavar="JOB_ID")
        running = actions.add_parser("run", help="queue a run of a recipe (or, with --test, of its draft)")
        running.add_argument("--workspace", required=True, metavar="SLUG")
        running.add_argument("recipe", metavar="RECIPE_ID")
        running.add_argument("--test", action="store_true", help="a test run of the current draft")
        source = running.add_mutually_exclusive_group()
        source.add_argument("--payload", metavar="JSON", help="the trigger payload, a JSON object")
        source.add_argument(
            "--payload-file", metavar="PATH", help="a file holding the payload; - for standard input"
        )
        rerunning = actions.add_parser("rerun", help="re-run a failed job")
        rerunning.add_argument("--workspace", required=True, metavar="SLUG")
        rerunning.add_argument("job", metavar="JOB_ID")
        cancelling = actions.add_parser(
            "cancel", help="cancel a queued or running job (a running one stops before its next step)"
        )
        cancelling.add_argument("--workspace", required=True, metavar="SLUG")
        cancelling.add_argument("job", metavar="JOB_ID")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        try:
            workspace = policy.system_workspace_get(actor, options["workspace"])
        except NotFound:
            raise CommandError(f"workspace: no workspace {options['workspace']!r}") from None
        action = options["action"]
        try:
            if action == "list":
                self._list(actor, workspace, options)
            elif action == "show":
                self._show(actor, workspace, options["job"])
            elif action == "run":
                recipe = history.recipe_for_run(
                    actor=actor, workspace=workspace, recipe_id=options["recipe"], test=options["test"]
                )
                job = services.job_create(
                    actor=actor,
                    recipe=recipe,
                    trigger_type=TriggerType.MANUAL,
                    payload=_payload(options),
                    is_test=options["test"],
                )
                self.stdout.write(f"Queued {'test run' if job.is_test else 'run'} {job.id} of {recipe.name}.")
            elif action == "cancel":
                found = history.job_view(actor=actor, workspace=workspace, job_id=options["job"]).job
                job = services.job_cancel(actor=actor, job=found)
                done = (
                    "Cancelled"
                    if job.status == JobStatus.CANCELLED
                    else "Cancelling (it stops before its next step)"
                )
                self.stdout.write(f"{done}: job {job.id}.")
            else:
                found = history.job_view(actor=actor, workspace=workspace, job_id=options["job"]).job
                job = services.job_rerun(actor=actor, job=found)
                self.stdout.write(f"Queued re-run {job.id} of {found.id}.")
        except ValidationError as exc:
            raise refusal(exc) from None
        except NotFound as exc:
            raise CommandError(f"{exc.what}: not found in {workspace.slug}") from None

    def _list(self, actor: Actor, workspace: Any, options: dict[str, Any]) -> None:
        recipe = None
        if options["recipe"]:
            try:
                recipe = uuid.UUID(options["recipe"])
            except ValueError:
                raise CommandError(f"recipe: {options['recipe']!r} is not a recipe id") from None
        if options["limit"] < 1:
            raise CommandError("limit: must be at least 1")
        filters = history.JobFilters(
            recipe=recipe,
            status=options["status"],
            trigger_type=options["trigger"],
            since=_day(options["since"]) if options["since"] else None,
            until=_day(options["until"]) if options["until"] else None,
            test=options["test"],
        )
        try:
            jobs = history.jobs_list(actor=actor, workspace=workspace, filters=filters)
        except ValidationError as exc:
            raise refusal(exc) from None
        for job in jobs[: options["limit"]]:
            self.stdout.write(_line(job))

    def _show(self, actor: Actor, workspace: Any, job_id: str) -> None:
        view = history.job_view(actor=actor, workspace=workspace, job_id=job_id)
        job = view.job
        self.stdout.write(_line(job))
        if job.rerun_of_id:
            self.stdout.write(f"re-run of\t{job.rerun_of_id}")
        for other in view.reruns:
            self.stdout.write(f"re-run\t{other.id}\t{other.status}")
        if job.retry_of_id:
            self.stdout.write(f"retry {job.retry_number} of\t{job.retry_of_id}")
        if job.cancel_requested_at:
            self.stdout.write(f"cancelled by\t{job.cancelled_by}")
        if view.error:
            self.stdout.write(f"error\t{view.error}")
        if view.payload is not None:
            self.stdout.write(f"payload\t{_json(view.payload)}")
        for step in view.steps:
            took = f"{step.duration_ms} ms" if step.duration_ms is not None else "-"
            self.stdout.write(
                f"step {step.position}\t{step.path}\t{step.step_type}\t{step.status}\t{took}\t"
                f"attempts {step.attempts}"
            )
            for name in ("input", "output"):
                value = getattr(step, name)
                if value is not None:
                    self.stdout.write(f"  {name}\t{_json(value)}")
            if step.error:
                self.stdout.write(f"  error\t{step.error}")
