"""The Migrate page: promote chosen recipes of a project's DEV or TEST copy into the next environment,
with their connections mapped to the target's. Shown only to those who may promote there."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from causeway.access.perms import Perm
from causeway.access.routes import AuthenticatedRequest, page
from causeway.connections import policy as connections_policy
from causeway.db import is_conflict
from causeway.recipes import policy as access
from causeway.recipes import promotion
from causeway.recipes.models import Project, Recipe
from causeway.web.errors import masked_page
from causeway.web.recipes_forms import MigrateForm, PromotionDecisionForm, RollbackForm
from causeway.workspaces.models import Workspace


def _page(
    request: AuthenticatedRequest, workspace: Workspace, source: Project, *, status: int = 200, **extra: Any
) -> HttpResponse:
    target = promotion.target_of(source)
    # Write is asked where a recipe is built, its DEV copy (TEST's policy lets nobody write there).
    built = Project.objects.filter(family=source.family, environment="dev").first() or source
    editable = Recipe.objects.visible_to(request.user, Perm.RECIPE_EDIT, workspace).filter(project=built)
    candidates = Recipe.objects.visible_to(request.user, Perm.RECIPE_VIEW, workspace).filter(
        project=source, family__in=editable.values("family")
    )
    recipes = list(candidates.select_related("current_version").order_by("name"))
    used: dict[str, None] = {}
    for recipe in recipes:
        if recipe.current_version is not None:
            used.update(dict.fromkeys(promotion.connections_used(recipe.current_version.definition)))
    available = list(connections_policy.visible_to(request.user, workspace).order_by("name"))
    names = {str(c.pk): c.name for c in available}
    bound = promotion.bindings_of(target)
    context = {
        "workspace": workspace,
        "source": source,
        "target": target,
        "recipes": recipes,
        "used": [(pk, names.get(pk, pk), str(bound.get(pk, ""))) for pk in used],
        "available": available,
        "history": promotion.promotions_of(actor=request.user, project=source)[:20],
        "pending": [
            (waiting, not promotion.same_person(request.user, waiting))
            for waiting in promotion.pending_into(target)
        ],
        "form": extra.pop("form", None) or MigrateForm(),
        **extra,
    }
    return masked_page(render(request, "web/environments/migrate.html", context, status=status))


@page(need=Perm.WORKSPACE_VIEW)
@require_http_methods(["GET", "POST"])
def migrate(request: AuthenticatedRequest, workspace: Workspace, project: Any) -> HttpResponse:
    source = access.project_get(request.user, workspace, project)
    promotion.require_may_promote(request.user, source)
    if request.method == "GET":
        return _page(request, workspace, source)
    form = MigrateForm(request.POST)
    try:
        form.is_valid()
        done = promotion.promote(
            actor=request.user,
            source=source,
            recipes=form.cleaned_data.get("recipes") or [],
            connections=form.connections(),
            with_rows=bool(form.cleaned_data.get("lookup_rows")),
            note=form.cleaned_data.get("note") or "",
        )
    except ValidationError as exc:
        return _page(request, workspace, source, status=400, form=form.refuse(exc))
    moved = ", ".join(item["name"] for item in done.details["recipes"])
    messages.success(request, f"Promoted to {done.target.environment.upper()}: {moved}.")
    return redirect("web:project", workspace=workspace.slug, project=done.target_id)


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def changes(request: AuthenticatedRequest, workspace: Workspace, project: Any) -> HttpResponse:
    source = access.project_get(request.user, workspace, project)
    found = promotion.environment_changes(actor=request.user, source=source)
    context = {"workspace": workspace, "changes": found, "source": found.source, "target": found.target}
    return masked_page(render(request, "web/environments/changes.html", context))


def _decided(
    request: AuthenticatedRequest, workspace: Workspace, promotion_id: Any, approve: bool
) -> HttpResponse:
    found = promotion.promotion_get(request.user, workspace, promotion_id)
    PromotionDecisionForm(request.POST).is_valid()
    try:
        if approve:
            done = promotion.promotion_approve(actor=request.user, promotion=found)
        else:
            done = promotion.promotion_reject(actor=request.user, promotion=found)
    except ValidationError as exc:
        errors = [m for problems in exc.message_dict.values() for m in problems]
        return _page(request, workspace, found.source, status=400, decision_errors=errors)
    if approve:
        moved = ", ".join(item["name"] for item in done.details["recipes"])
        messages.success(request, f"Approved into {done.target.environment.upper()}: {moved}.")
    else:
        messages.success(request, "The promotion was turned down; nothing moved.")
    return redirect("web:project_migrate", workspace=workspace.slug, project=done.source_id)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def promotion_approve(request: AuthenticatedRequest, workspace: Workspace, promotion_id: Any) -> HttpResponse:
    return _decided(request, workspace, promotion_id, approve=True)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def promotion_reject(request: AuthenticatedRequest, workspace: Workspace, promotion_id: Any) -> HttpResponse:
    return _decided(request, workspace, promotion_id, approve=False)


@page(need=Perm.WORKSPACE_VIEW)
@require_http_methods(["GET", "POST"])
def recipe_rollback(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    found = access.recipe_get(request.user, workspace, recipe, need=Perm.RECIPE_VIEW)
    form = RollbackForm(request.POST) if request.method == "POST" else RollbackForm(request.GET)
    form.is_valid()
    number = form.cleaned_data.get("version")
    status = 200
    if request.method == "POST":
        try:
            done = promotion.rollback(
                actor=request.user, recipe=found, number=number, note=form.cleaned_data.get("note") or ""
            )
        except ValidationError as exc:
            form.refuse(exc)
            # A version that is already the current one is refused by what is stored, not malformed.
            status = 409 if is_conflict(exc) else 400
        else:
            if done.status == promotion.PENDING:
                messages.success(request, f"Rollback of {found.name} to v{number} waits for a second person.")
            else:
                messages.success(request, f"{found.name} in PROD rolled back to v{number}.")
            return redirect("web:recipe_versions", workspace=workspace.slug, recipe=found.id)
    try:
        preview = promotion.rollback_preview(actor=request.user, recipe=found, number=number)
    except ValidationError as exc:
        if status == 200:
            form.refuse(exc)
            status = 409 if is_conflict(exc) else 400
        preview = promotion.rollback_preview(actor=request.user, recipe=found)
    context = {"workspace": workspace, "recipe": found, "preview": preview, "form": form}
    return masked_page(render(request, "web/environments/rollback.html", context, status=status))
