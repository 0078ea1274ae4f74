"""Pages for jobs: Run History, one job's step-by-step history, a recipe's jobs (Run, Test, Re-run), Schedule.

Jobs are read only through `runs.history` (which starts from `Job.objects.visible_to`, rule 8),
and started only through `runs.services.job_create` / `job_rerun`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from causeway.access import policy
from causeway.access.perms import Perm
from causeway.access.routes import AuthenticatedRequest, page
from causeway.db import is_conflict
from causeway.recipes import policy as recipes_policy
from causeway.recipes.models import Recipe
from causeway.runs import breakglass, history, schedule, services
from causeway.runs import policy as runs_policy
from causeway.runs.models import JobStatus, TriggerType
from causeway.web import live
from causeway.web.forms import PageForm, messages_of, text
from causeway.web.recipes_forms import BreakGlassDecisionForm, BreakGlassForm, BreakGlassSettingsForm
from causeway.workspaces.models import Workspace

PER_PAGE = 50
TEST_CHOICES = [("", "any"), ("only", "only test runs"), ("exclude", "no test runs")]


class RunForm(PageForm):
    """Run or test a recipe by hand, with an optional trigger payload."""

    mode = text()
    payload = text()
    service_names = {NON_FIELD_ERRORS: "payload"}

    def clean_mode(self) -> bool:
        """Whether this is a test run (of the current draft)."""
        return self.cleaned_data.get("mode") == "test"

    def trigger_payload(self) -> dict[str, Any] | None:
        """The payload as the job takes it; nothing typed, none. A refusal names the field."""
        raw = self.cleaned_data["payload"]
        return services.trigger_payload_parse(raw) if raw.strip() else None


class JobCancelForm(PageForm):
    """Cancelling a job: nothing is posted but the CSRF token; the job is in the address."""


class JobFilterForm(forms.Form):
    recipe = forms.ChoiceField(required=False)
    status = forms.ChoiceField(required=False, choices=[("", "any"), *JobStatus.choices])
    trigger_type = forms.ChoiceField(
        required=False, label="Trigger", choices=[("", "any"), *TriggerType.choices]
    )
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    test = forms.ChoiceField(required=False, label="Test runs", choices=TEST_CHOICES)

    def __init__(self, *args: Any, recipes: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "any"), *((str(r.pk), r.name) for r in recipes)]
        self.fields["recipe"].choices = choices  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", "must not be before the first day")
        return cleaned

    def filters(self, **fixed: Any) -> history.JobFilters:
        data = self.cleaned_data
        test = {"only": True, "exclude": False}.get(data.get("test") or "")
        values: dict[str, Any] = {
            "recipe": uuid.UUID(data["recipe"]) if data.get("recipe") else None,
            "status": data.get("status") or None,
            "trigger_type": data.get("trigger_type") or None,
            "since": data.get("since"),
            "until": data.get("until"),
            "test": test,
        }
        values.update(fixed)
        return history.JobFilters(**values)


def _listing(
    request: AuthenticatedRequest, workspace: Workspace, *, recipes: list[Any], **fixed: Any
) -> dict[str, Any]:
    """The filter form and one page of the jobs it selects; nothing when the filters are wrong."""
    form = JobFilterForm(request.GET or None, recipes=recipes)
    valid, bound = form.is_valid(), form.is_bound
    jobs = history.jobs_list(
        actor=request.user, workspace=workspace, filters=form.filters(**fixed) if valid else None
    )
    if form.is_bound and not valid:
        jobs = jobs.none()
    listing = Paginator(jobs, PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    shown = list(listing)
    reasons = history.failure_reasons(actor=request.user, jobs=shown)
    return {
        "workspace": workspace,
        "form": form,
        "page_obj": listing,
        "rows": [(job, history.run_by(job), reasons.get(job.pk)) for job in shown],
        "query": query.urlencode(),
        "poll": live.list_seconds(shown, first_page=listing.number == 1) if valid or not bound else None,
    }


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def jobs(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    recipes = list(Recipe.objects.visible_to(request.user, Perm.RECIPE_VIEW, workspace).order_by("name"))
    context = _listing(request, workspace, recipes=recipes)
    return live.page_or_fragment(request, "web/runs/jobs.html", "web/runs/_table.html", context)


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def job(request: AuthenticatedRequest, workspace: Workspace, job: Any) -> HttpResponse:
    context = _job_context(request, workspace, job)
    return live.page_or_fragment(request, "web/runs/job.html", "web/runs/_job_live.html", context)


def _job_context(request: AuthenticatedRequest, workspace: Workspace, job: Any) -> dict[str, Any]:
    view = history.job_view(actor=request.user, workspace=workspace, job_id=job)
    return {
        "workspace": workspace,
        "view": view,
        "job": view.job,
        "run_by": history.run_by(view.job),
        "payload": _pretty(view.payload),
        "steps": [(step, _pretty(step.input), _pretty(step.output)) for step in view.steps],
        "poll": live.job_seconds(view.job),
    }


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def job_data(request: AuthenticatedRequest, workspace: Workspace, job: Any) -> HttpResponse:
    """The job with its data: a PROD job's only under the viewer's break-glass session in force."""
    view = breakglass.job_data(actor=request.user, workspace=workspace, job_id=job)
    context = {
        "workspace": workspace,
        "view": view,
        "job": view.job,
        "run_by": history.run_by(view.job),
        "payload": _pretty(view.payload),
        "steps": [(step, _pretty(step.input), _pretty(step.output)) for step in view.steps],
        "revealed": True,
        "session": breakglass.active_session(request.user, workspace),
    }
    return render(request, "web/runs/job.html", context)


def _break_glass_page(
    request: AuthenticatedRequest,
    workspace: Workspace,
    *,
    status: int = 200,
    form: Any = None,
    refused: ValidationError | None = None,
) -> HttpResponse:
    sessions = list(breakglass.break_glass_list(actor=request.user, workspace=workspace)[:200])
    context = {
        "workspace": workspace,
        "sessions": sessions,
        "in_force": {s.pk for s in sessions if breakglass.in_force(s)},
        "is_admin": policy.may(request.user, Perm.WORKSPACE_SETTINGS, workspace),
        "active": breakglass.active_session(request.user, workspace),
        "form": form or BreakGlassForm(),
        "max_minutes": breakglass.MAX_MINUTES,
        # Why approving, refusing, withdrawing or ending a session was refused.
        "decision_errors": [m for problems in messages_of(refused).values() for m in problems]
        if refused
        else [],
    }
    return render(request, "web/runs/break_glass.html", context, status=status)


@page(need=Perm.WORKSPACE_VIEW)
@require_http_methods(["GET", "POST"])
def break_glass(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    if request.method == "GET":
        return _break_glass_page(request, workspace)
    form = BreakGlassForm(request.POST)
    try:
        form.is_valid()
        made = breakglass.break_glass_request(
            actor=request.user,
            workspace=workspace,
            reason=form.cleaned_data.get("reason"),
            minutes=form.cleaned_data.get("minutes"),
        )
    except ValidationError as exc:
        return _break_glass_page(request, workspace, status=400, form=form.refuse(exc))
    messages.success(
        request,
        f"Break-glass access is open until {made.expires_at:%H:%M} UTC (self-approved)."
        if made.expires_at
        else "Break-glass access requested: an Admin approves it.",
    )
    return redirect("web:break_glass", workspace=workspace.slug)


def _decided(
    request: AuthenticatedRequest, workspace: Workspace, session: Any, decision: str, done: str
) -> HttpResponse:
    BreakGlassDecisionForm(request.POST).is_valid()
    try:
        breakglass.break_glass_decide(actor=request.user, workspace=workspace, ref=session, decision=decision)
    except ValidationError as exc:
        # A request already decided, a session already over: well formed, refused by what is stored.
        status = 409 if is_conflict(exc) else 400
        return _break_glass_page(request, workspace, status=status, refused=exc)
    messages.success(request, done)
    return redirect("web:break_glass", workspace=workspace.slug)


# Approving and refusing are an Admin's (workspace settings, after a fresh sign-in); withdrawing is the
# requester's, ending the holder's or an Admin's: the service tells them apart.
@page(need=Perm.WORKSPACE_SETTINGS)
@require_POST
def break_glass_approve(request: AuthenticatedRequest, workspace: Workspace, session: Any) -> HttpResponse:
    return _decided(request, workspace, session, "approve", "Break-glass access approved.")


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def break_glass_withdraw(request: AuthenticatedRequest, workspace: Workspace, session: Any) -> HttpResponse:
    return _decided(request, workspace, session, "withdraw", "Request withdrawn.")


@page(need=Perm.WORKSPACE_SETTINGS)
@require_POST
def break_glass_refuse(request: AuthenticatedRequest, workspace: Workspace, session: Any) -> HttpResponse:
    return _decided(request, workspace, session, "refuse", "Request refused.")


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def break_glass_end(request: AuthenticatedRequest, workspace: Workspace, session: Any) -> HttpResponse:
    return _decided(request, workspace, session, "end", "Break-glass access ended.")


@page(need=Perm.WORKSPACE_SETTINGS)
@require_POST
def break_glass_settings(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    form = BreakGlassSettingsForm(request.POST)
    form.is_valid()
    allowed = bool(form.cleaned_data.get("self_approval"))
    breakglass.break_glass_self_approval_set(actor=request.user, workspace=workspace, allowed=allowed)
    messages.success(request, "Self-approval " + ("allowed (flagged)." if allowed else "not allowed."))
    return redirect("web:break_glass", workspace=workspace.slug)


def _pretty(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def job_rerun(request: AuthenticatedRequest, workspace: Workspace, job: Any) -> HttpResponse:
    found = runs_policy.job_get(request.user, workspace, job)
    try:
        rerun = services.job_rerun(actor=request.user, job=found)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("web:runs_job", workspace=workspace.slug, job=found.pk)
    messages.success(request, "Re-run queued.")
    return redirect("web:runs_job", workspace=workspace.slug, job=rerun.pk)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def job_cancel(request: AuthenticatedRequest, workspace: Workspace, job: Any) -> HttpResponse:
    JobCancelForm(request.POST).is_valid()
    found = runs_policy.job_get(request.user, workspace, job)
    try:
        services.job_cancel(actor=request.user, job=found)
    except ValidationError as exc:
        # Finished already, or already being cancelled: well formed, refused by what is stored.
        messages.error(request, " ".join(exc.messages))
        context = _job_context(request, workspace, found.pk)
        return render(request, "web/runs/job.html", context, status=409 if is_conflict(exc) else 400)
    messages.success(request, "Job cancelled." if found.status == JobStatus.QUEUED else "Cancelling the job.")
    return redirect("web:runs_job", workspace=workspace.slug, job=found.pk)


@page(need=Perm.WORKSPACE_VIEW)
@require_http_methods(["GET", "POST"])
def recipe_jobs(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    found = recipes_policy.recipe_get(request.user, workspace, recipe, need=Perm.RECIPE_VIEW)
    form = RunForm(request.POST) if request.method == "POST" else RunForm()
    if form.is_valid():
        test = form.cleaned_data["mode"]
        wanted = history.recipe_for_run(
            actor=request.user, workspace=workspace, recipe_id=found.pk, test=test
        )
        try:
            started = services.job_create(
                actor=request.user,
                recipe=wanted,
                trigger_type=TriggerType.MANUAL,
                payload=form.trigger_payload(),
                is_test=test,
            )
        except ValidationError as exc:
            form.refuse(exc)
        else:
            messages.success(request, "Test run queued." if test else "Run queued.")
            return redirect("web:runs_job", workspace=workspace.slug, job=started.pk)
    context = {
        **_listing(request, workspace, recipes=[found], recipe=found.pk),
        "recipe": found,
        "may_run": policy.may(request.user, Perm.RECIPE_RUN, found),
        "may_test": policy.may(request.user, Perm.RECIPE_TEST, found),
        "form": form,
    }
    status = 400 if form.errors else 200
    if request.method == "GET":
        return live.page_or_fragment(
            request, "web/runs/recipe_jobs.html", "web/runs/_table.html", context, status=status
        )
    return render(request, "web/runs/recipe_jobs.html", context, status=status)


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def schedule_page(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    rows = schedule.schedules_visible(request.user, workspace)
    return render(request, "web/runs/schedule.html", {"workspace": workspace, "rows": rows})
