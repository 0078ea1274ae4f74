"""Pages for projects, folders, recipes (the Build page, versions, diffs, export and import), lookup tables
and bookmarks. Every object is fetched through `access`; every change is one service call."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from causeway.access import policy
from causeway.access.perms import Environment, Perm
from causeway.access.routes import AuthenticatedRequest, page
from causeway.db import is_conflict
from causeway.recipes import policy as access
from causeway.recipes import promotion, selectors, services
from causeway.recipes.definition import definition_clean
from causeway.recipes.diff import definition_diff
from causeway.recipes.models import Recipe, RecipeDraft
from causeway.recipes.schema import blank_definition
from causeway.runs import history, triggers
from causeway.watches import selectors as watching
from causeway.watches import services as watches
from causeway.web import recipes_build as build
from causeway.web.errors import masked_page
from causeway.web.forms import PageForm
from causeway.web.params import query_choice, query_text, refused
from causeway.web.recipes_forms import (
    BookmarkForm,
    BuildForm,
    FolderCreateForm,
    FolderRenameForm,
    ImportForm,
    LookupRowDeleteForm,
    LookupRowForm,
    LookupTableCreateForm,
    ProjectCreateForm,
    RecipeCreateForm,
    RecipeMoveForm,
    RenameForm,
    WatchForm,
)
from causeway.workspaces.models import Workspace


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"__all__": list(exc.messages)}


def _base(request: AuthenticatedRequest, workspace: Workspace, **extra: Any) -> dict[str, Any]:
    perms = policy.workspace_perms(request.user, workspace)
    return {
        "workspace": workspace,
        "can_view_members": Perm.MEMBER_VIEW in perms,
        "can_settings": Perm.WORKSPACE_SETTINGS in perms,
        "errors": {},
        **extra,
    }


def _render(
    request: AuthenticatedRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    # Definitions and refused forms show what people typed: a secret value pasted into a template or a
    # field (instead of `secret.NAME`) comes back masked, never as it was (rule 13).
    return masked_page(render(request, f"web/recipes/{template}", context, status=status))


# Projects.


RECIPES_PER_PAGE = 25
PROJECTS_PER_PAGE = 25
TABLES_PER_PAGE = 25
WATCHES_PER_PAGE = 25
# The Recipes page's state filter: started recipes run on their trigger; stopped ones only by hand.
RECIPE_STATES = {"started": True, "stopped": False}


def _home(
    request: AuthenticatedRequest, workspace: Workspace, *, status: int = 200, **extra: Any
) -> HttpResponse:
    search = query_text(request, "q")
    environment = query_choice(request, "environment", [e.value for e in Environment])
    state = query_choice(request, "state", list(RECIPE_STATES))
    recipes = selectors.recipes_list(
        request.user, workspace, search=search, environment=environment, active=RECIPE_STATES.get(state)
    ).select_related("active_version")
    listing = Paginator(recipes, RECIPES_PER_PAGE).get_page(request.GET.get("page"))
    projects = selectors.projects_list(request.user, workspace, environment=environment or None)
    projects_page = Paginator(projects, PROJECTS_PER_PAGE).get_page(request.GET.get("projects_page"))
    query = request.GET.copy()
    query.pop("page", None)
    projects_query = request.GET.copy()
    projects_query.pop("projects_page", None)
    context = _base(
        request,
        workspace,
        projects_page=projects_page,
        projects_query=projects_query.urlencode(),
        environments=[e.value for e in Environment],
        environment=environment,
        can_create_project=Perm.PROJECT_CREATE in policy.workspace_perms(request.user, workspace),
        search=search,
        state=state,
        recipes_page=listing,
        filtered=bool(search or environment or state),
        query=query.urlencode(),
        **extra,
    )
    return _render(request, "home.html", context, status)


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def recipes_home(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    return _home(request, workspace)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def project_create(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    form = ProjectCreateForm(request.POST)
    try:
        form.is_valid()
        project = services.project_create(actor=request.user, workspace=workspace, **form.cleaned_data)
    except ValidationError as exc:
        return _home(request, workspace, status=400, project_form=form.refuse(exc))
    messages.success(request, f"Project {project.name} created.")
    return redirect("web:project", workspace=workspace.slug, project=project.id)


def _project_page(
    request: AuthenticatedRequest, workspace: Workspace, project: Any, *, status: int = 200, **extra: Any
) -> HttpResponse:
    tree = selectors.project_tree(request.user, project)
    rows = selectors.tree_rows(tree)
    context = _base(
        request,
        workspace,
        project=project,
        copies=selectors.project_copies(request.user, project),
        can_migrate=promotion.may_promote(request.user, project),
        rows=rows,
        folders=[row.folder for row in rows if row.folder is not None],
        can_edit=policy.may(request.user, Perm.PROJECT_EDIT, project),
        can_delete=policy.may(request.user, Perm.PROJECT_DELETE, project),
        can_create_folder=policy.may(request.user, Perm.FOLDER_CREATE, project),
        can_edit_folders=policy.may(request.user, Perm.FOLDER_EDIT, project),
        can_delete_folders=policy.may(request.user, Perm.FOLDER_DELETE, project),
        can_create_recipe=policy.may(request.user, Perm.RECIPE_CREATE, project),
        can_create_table=policy.may(request.user, Perm.LOOKUP_TABLE_CREATE, project),
        column_types=services.LOOKUP_COLUMN_TYPES,
        **extra,
    )
    return _render(request, "project.html", context, status)


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def project_detail(request: AuthenticatedRequest, workspace: Workspace, project: Any) -> HttpResponse:
    return _project_page(request, workspace, access.project_get(request.user, workspace, project))


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def project_rename(request: AuthenticatedRequest, workspace: Workspace, project: Any) -> HttpResponse:
    found = access.project_get(request.user, workspace, project)
    form = RenameForm(request.POST, auto_id="id_project_%s")
    try:
        form.is_valid()
        services.project_rename(
            actor=request.user,
            project=found,
            name=form.cleaned_data["name"],
            description=form.posted("description", found.description),
        )
    except ValidationError as exc:
        return _project_page(request, workspace, found, status=400, rename_form=form.refuse(exc))
    messages.success(request, "Project renamed.")
    return redirect("web:project", workspace=workspace.slug, project=found.id)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def project_delete(request: AuthenticatedRequest, workspace: Workspace, project: Any) -> HttpResponse:
    found = access.project_get(request.user, workspace, project)
    try:
        services.project_delete(actor=request.user, project=found)
    except ValidationError as exc:
        status = 409 if is_conflict(exc) else 400
        return _project_page(request, workspace, found, status=status, errors=_errors(exc))
    messages.success(request, f"Project {found.name} deleted.")
    return redirect("web:recipes", workspace=workspace.slug)


def _folder_or_none(request: AuthenticatedRequest, workspace: Workspace, ref: str) -> Any:
    return access.folder_get(request.user, workspace, ref) if ref else None


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def folder_create(request: AuthenticatedRequest, workspace: Workspace, project: Any) -> HttpResponse:
    found = access.project_get(request.user, workspace, project)
    form = FolderCreateForm(request.POST)
    try:
        form.is_valid()
        services.folder_create(
            actor=request.user,
            workspace=workspace,
            project=found,
            name=form.cleaned_data["name"],
            parent=_folder_or_none(request, workspace, form.cleaned_data["parent"]),
        )
    except ValidationError as exc:
        return _project_page(request, workspace, found, status=400, folder_form=form.refuse(exc))
    messages.success(request, "Folder created.")
    return redirect("web:project", workspace=workspace.slug, project=found.id)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def folder_rename(request: AuthenticatedRequest, workspace: Workspace, folder: Any) -> HttpResponse:
    found = access.folder_get(request.user, workspace, folder)
    form = FolderRenameForm(request.POST, auto_id=f"id_folder_{found.id}_%s")
    try:
        form.is_valid()
        services.folder_rename(actor=request.user, folder=found, name=form.cleaned_data["name"])
    except ValidationError as exc:
        return _project_page(
            request, workspace, found.project, status=400, row_form=form.refuse(exc), row_folder=found.id
        )
    messages.success(request, "Folder renamed.")
    return redirect("web:project", workspace=workspace.slug, project=found.project_id)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def folder_delete(request: AuthenticatedRequest, workspace: Workspace, folder: Any) -> HttpResponse:
    found = access.folder_get(request.user, workspace, folder)
    try:
        services.folder_delete(actor=request.user, folder=found)
    except ValidationError as exc:
        return _project_page(request, workspace, found.project, status=400, errors=_errors(exc))
    messages.success(request, f"Folder {found.name} deleted.")
    return redirect("web:project", workspace=workspace.slug, project=found.project_id)


# Recipes.


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def recipe_create(request: AuthenticatedRequest, workspace: Workspace, project: Any) -> HttpResponse:
    found = access.project_get(request.user, workspace, project)
    form = RecipeCreateForm(request.POST)
    try:
        form.is_valid()
        recipe = services.recipe_create(
            actor=request.user,
            workspace=workspace,
            project=found,
            folder=_folder_or_none(request, workspace, form.cleaned_data["folder"]),
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            definition=blank_definition(),
        )
    except ValidationError as exc:
        return _project_page(request, workspace, found, status=400, recipe_form=form.refuse(exc))
    messages.success(request, f"Recipe {recipe.name} created: add its trigger and steps.")
    return redirect("web:recipe_build", workspace=workspace.slug, recipe=recipe.id)


def _recipe_page(
    request: AuthenticatedRequest, workspace: Workspace, recipe: Recipe, *, status: int = 200, **extra: Any
) -> HttpResponse:
    st = policy.standing(request.user, workspace)
    held = access.recipe_perms(st, recipe)
    version = recipe.current_version
    context = _base(
        request,
        workspace,
        recipe=recipe,
        version=version,
        definition=version.definition if version else None,
        steps=_outline(version.definition["steps"]) if version else [],
        folders=selectors.folders_list(request.user, workspace, project=recipe.project),
        bookmarked=selectors.is_bookmarked(request.user, recipe),
        **_watch_context(request, workspace, recipe, extra.pop("watch_form", None)),
        can_edit=Perm.RECIPE_EDIT in held,
        can_delete=Perm.RECIPE_DELETE in held,
        can_start=Perm.RECIPE_TEST in held,
        **extra,
    )
    return _render(request, "recipe.html", context, status)


def _watch_context(
    request: AuthenticatedRequest, workspace: Workspace, recipe: Recipe, form: WatchForm | None
) -> dict[str, Any]:
    watch = watching.watch_of(request.user, recipe)
    if form is None:
        initial = {"email": "on", "connection": "", "channel": "", "include_tests": ""}
        if watch is not None:
            initial = {
                "email": "on" if watch.by_email else "",
                "connection": str(watch.connection_id or ""),
                "channel": watch.channel,
                "include_tests": "on" if watch.include_tests else "",
            }
        form = WatchForm(initial=initial)
    return {
        "watch": watch,
        "watch_form": form,
        "watch_connections": watching.notice_connections(request.user, workspace),
        "watch_interval": watching.interval_minutes(workspace),
    }


def _outline(steps: list[dict[str, Any]], depth: int = 0) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for step in steps:
        rows.append({"step": step, "depth": depth, "label": build.step_label(step["type"])})
        for branch in build.child_lists(step["type"]):
            if isinstance(step.get(branch), list):
                rows.append({"branch": branch, "depth": depth + 1})
                rows += _outline(step[branch], depth + 1)
    return rows


def _recipe(
    request: AuthenticatedRequest, workspace: Workspace, ref: Any, need: Perm = Perm.RECIPE_VIEW
) -> Recipe:
    found: Recipe = access.recipe_get(request.user, workspace, ref, need=need)
    return found


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def recipe_detail(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    return _recipe_page(request, workspace, _recipe(request, workspace, recipe))


def _build_page(
    request: AuthenticatedRequest,
    workspace: Workspace,
    recipe: Recipe,
    draft: dict[str, Any],
    errors: dict[str, list[str]],
    *,
    status: int = 200,
    selected: str = "",
    kept: RecipeDraft | None = None,
    newtype: str = "",
) -> HttpResponse:
    editor = build.editor(draft, errors)
    job, statuses = history.latest_step_statuses(actor=request.user, workspace=workspace, recipe_id=recipe.pk)
    build.with_statuses(editor["steps"], statuses)
    sample = history.latest_sample_data(actor=request.user, workspace=workspace, recipe_id=recipe.pk)
    pills = build.data_pills(sample.trigger, sample.steps, [step.step_id for step in editor["panels"]])
    context = _base(
        request,
        workspace,
        recipe=recipe,
        editor=editor,
        flow_job=job,
        pills=pills,
        pill_job=sample.job,
        completions=build.pill_expressions(pills),
        saved_errors=bool(errors),
        selected=build.anchor_of(selected) if selected else "",
        kept=kept,
        newtype=newtype,
    )
    return _render(request, "build.html", context, status)


def _also_schema_errors(definition: dict[str, Any], errors: dict[str, list[str]]) -> None:
    try:
        definition_clean(definition)
    except ValidationError as exc:
        for field, found in _errors(exc).items():
            if not any(field == k or field.startswith(f"{k}.") for k in errors):
                errors.setdefault(field, []).extend(found)


def _keep_draft(
    request: AuthenticatedRequest, recipe: Recipe, draft: dict[str, Any]
) -> tuple[RecipeDraft | None, dict[str, list[str]]]:
    """The draft kept for the viewer, or why it could not be (a recipe changed only by promotion)."""
    try:
        return services.recipe_draft_put(actor=request.user, recipe=recipe, draft=draft), {}
    except ValidationError as exc:
        return None, _errors(exc)


def _is_htmx(request: AuthenticatedRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@page(need=Perm.WORKSPACE_VIEW)
@never_cache
@require_http_methods(["GET", "POST"])
def recipe_build(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    """GET shows the viewer's draft, else the current version, in the editor. POST keeps the edits as
    the viewer's draft (and applies an operation: add, insert, remove, move a step, change a type),
    discards the draft, or saves it as a new version once every check passes. Pages whose script runs
    send these through htmx and get back the form alone, or, for a plain draft save, only its note."""
    found = _recipe(request, workspace, recipe, need=Perm.RECIPE_EDIT)
    if request.method == "GET":
        kept = services.recipe_draft_get(actor=request.user, recipe=found)
        if kept is not None:
            return _build_page(request, workspace, found, kept.draft, {}, kept=kept)
        definition = found.current_version.definition if found.current_version else {}
        return _build_page(request, workspace, found, build.draft_from_definition(definition), {})
    form = BuildForm(request.POST)
    form.is_valid()
    draft = build.draft_from_post(form.data)
    op = form.cleaned_data["op"]
    if op == "discard":
        services.recipe_draft_discard(actor=request.user, recipe=found)
        return _after_build(request, workspace, found, "Draft discarded.")
    if op != "save":
        outcome = build.apply_operation(draft, op, form.data) if op not in ("refresh", "draft") else None
        kept, errors = _keep_draft(request, found, draft)
        if outcome is not None and outcome.problem:
            errors.setdefault("__all__", []).append(outcome.problem)
        if op == "draft" and _is_htmx(request) and not errors:
            response = render(request, "web/recipes/_draft_note.html", {"kept": kept, "oob": True})
            response["HX-Reswap"] = "none"
            return response
        selected = outcome.selected if outcome is not None else ""
        return _build_page(
            request,
            workspace,
            found,
            draft,
            errors,
            selected=selected,
            kept=kept,
            newtype=form.cleaned_data["newtype"],
        )
    definition, errors = build.definition_from_draft(draft)
    try:
        if errors:
            # The whole form is checked, so every wrong field is named at once, not only the first kind.
            _also_schema_errors(definition, errors)
            raise ValidationError(errors)
        version = services.recipe_save(
            actor=request.user, recipe=found, definition=definition, message=form.cleaned_data["message"]
        )
    except ValidationError as exc:
        kept, _ = _keep_draft(request, found, draft)
        return _build_page(request, workspace, found, draft, _errors(exc), status=400, kept=kept)
    return _after_build(request, workspace, found, f"Saved version {version.number}.")


def _after_build(
    request: AuthenticatedRequest, workspace: Workspace, recipe: Recipe, done: str
) -> HttpResponse:
    """Back to the Build page, as a whole new page: htmx is told to load it rather than swap it in."""
    messages.success(request, done)
    response = redirect("web:recipe_build", workspace=workspace.slug, recipe=recipe.id)
    if _is_htmx(request):
        return HttpResponse(status=204, headers={"HX-Redirect": response["Location"]})
    return response


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def recipe_versions(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    found = _recipe(request, workspace, recipe)
    context = _base(
        request,
        workspace,
        recipe=found,
        versions=selectors.recipe_versions(found),
        may_rollback=promotion.may_rollback(request.user, found),
        may_restore=_may_edit(request, workspace, found),
    )
    return _render(request, "versions.html", context)


def _may_edit(request: AuthenticatedRequest, workspace: Workspace, recipe: Recipe) -> bool:
    return Perm.RECIPE_EDIT in access.recipe_perms(policy.standing(request.user, workspace), recipe)


def _version(recipe: Recipe, number: int) -> Any:
    try:
        return selectors.recipe_version(recipe, number)
    except ValidationError as exc:
        raise refused(exc) from None


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def recipe_version(
    request: AuthenticatedRequest, workspace: Workspace, recipe: Any, number: int
) -> HttpResponse:
    """One version as the flow shows it, read-only; an editor may restore it as a new version."""
    found = _recipe(request, workspace, recipe)
    version = _version(found, number)
    editor = build.editor(build.draft_from_definition(version.definition), {})
    context = _base(
        request,
        workspace,
        recipe=found,
        version=version,
        editor=editor,
        may_restore=_may_edit(request, workspace, found) and version.id != found.current_version_id,
    )
    return _render(request, "version.html", context)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def recipe_restore(
    request: AuthenticatedRequest, workspace: Workspace, recipe: Any, number: int
) -> HttpResponse:
    found = _recipe(request, workspace, recipe, need=Perm.RECIPE_EDIT)
    try:
        version = services.recipe_restore(actor=request.user, recipe=found, number=number)
    except ValidationError as exc:
        status = 409 if is_conflict(exc) else 400
        return _recipe_page(request, workspace, found, status=status, errors=_errors(exc))
    messages.success(request, f"Restored version {number} as version {version.number}.")
    return redirect("web:recipe_versions", workspace=workspace.slug, recipe=found.id)


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def recipe_diff(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    found = _recipe(request, workspace, recipe)
    current = found.current_version.number if found.current_version else 1
    try:
        old = selectors.recipe_version(found, request.GET.get("from", max(current - 1, 1)))
        new = selectors.recipe_version(found, request.GET.get("to", current))
    except ValidationError as exc:
        context = _base(request, workspace, recipe=found, errors=_errors(exc), versions=[])
        return _render(request, "versions.html", context, status=400)
    context = _base(
        request,
        workspace,
        recipe=found,
        old=old,
        new=new,
        diff=definition_diff(old.definition, new.definition),
        numbers=selectors.recipe_versions(found).values_list("number", flat=True),
    )
    return _render(request, "diff.html", context)


def _recipe_action(
    request: AuthenticatedRequest,
    workspace: Workspace,
    recipe: Any,
    act: Any,
    done: str,
    form: tuple[str, PageForm] | None = None,
) -> HttpResponse:
    """Do `act` to the recipe; with a form (its name in the page, the form), a refusal is shown under
    the form's fields."""
    found = _recipe(request, workspace, recipe)
    try:
        if form is not None:
            form[1].is_valid()
        act(found)
    except ValidationError as exc:
        if form is not None:
            return _recipe_page(request, workspace, found, status=400, **{form[0]: form[1].refuse(exc)})
        return _recipe_page(request, workspace, found, status=400, errors=_errors(exc))
    messages.success(request, done)
    return redirect("web:recipe", workspace=workspace.slug, recipe=found.id)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def recipe_start(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    return _recipe_action(
        request, workspace, recipe, lambda r: triggers.recipe_start(actor=request.user, recipe=r), "Started."
    )


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def recipe_stop(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    return _recipe_action(
        request, workspace, recipe, lambda r: services.recipe_stop(actor=request.user, recipe=r), "Stopped."
    )


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def recipe_rename(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    form = RenameForm(request.POST)
    return _recipe_action(
        request,
        workspace,
        recipe,
        lambda r: services.recipe_rename(
            actor=request.user,
            recipe=r,
            name=form.cleaned_data["name"],
            description=form.posted("description", r.description),
        ),
        "Recipe renamed.",
        ("rename_form", form),
    )


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def recipe_move(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    form = RecipeMoveForm(request.POST)
    return _recipe_action(
        request,
        workspace,
        recipe,
        lambda r: services.recipe_move(
            actor=request.user,
            recipe=r,
            folder=_folder_or_none(request, workspace, form.cleaned_data["folder"]),
        ),
        "Recipe moved.",
        ("move_form", form),
    )


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def recipe_delete(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    found = _recipe(request, workspace, recipe)
    try:
        services.recipe_delete(actor=request.user, recipe=found)
    except ValidationError as exc:
        status = 409 if is_conflict(exc) else 400
        return _recipe_page(request, workspace, found, status=status, errors=_errors(exc))
    messages.success(request, f"Recipe {found.name} deleted.")
    return redirect("web:project", workspace=workspace.slug, project=found.project_id)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def recipe_bookmark(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    found = _recipe(request, workspace, recipe)
    form = BookmarkForm(request.POST)
    form.is_valid()
    if form.cleaned_data["pin"]:
        services.bookmark_add(actor=request.user, recipe=found)
        messages.success(request, "Bookmarked.")
    else:
        services.bookmark_remove(actor=request.user, recipe=found)
        messages.success(request, "Bookmark removed.")
    return redirect("web:recipe", workspace=workspace.slug, recipe=found.id)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def recipe_watch(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    found = _recipe(request, workspace, recipe)
    form = WatchForm(request.POST)
    form.is_valid()
    try:
        watches.watch_set(
            actor=request.user,
            recipe=found,
            by_email=form.cleaned_data["email"],
            connection_id=form.cleaned_data["connection"] or None,
            channel=form.cleaned_data["channel"],
            include_tests=form.cleaned_data["include_tests"],
        )
    except ValidationError as exc:
        return _recipe_page(request, workspace, found, status=400, watch_form=form.refuse(exc))
    messages.success(request, "Watching: you are told of this recipe's failures.")
    return redirect("web:recipe", workspace=workspace.slug, recipe=found.id)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def recipe_unwatch(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    found = _recipe(request, workspace, recipe)
    watches.watch_remove(actor=request.user, recipe=found)
    messages.success(request, "No longer watching this recipe.")
    return redirect("web:recipe", workspace=workspace.slug, recipe=found.id)


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def watching_list(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    watched = watching.watches_list(request.user, workspace)
    listing = Paginator(watched, WATCHES_PER_PAGE).get_page(request.GET.get("page"))
    return _render(request, "watching.html", _base(request, workspace, watches_page=listing))


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def recipe_export(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    found = _recipe(request, workspace, recipe)
    number = request.GET.get("version")
    try:
        version = selectors.recipe_version(found, number) if number else None
    except ValidationError as exc:
        raise refused(exc) from None
    data = services.recipe_export(actor=request.user, recipe=found, version=version)
    response = HttpResponse(json.dumps(data, indent=2), content_type="application/json")
    filename = f"{slugify(found.name) or 'recipe'}-v{data['version']}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def recipe_import_version(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    found = _recipe(request, workspace, recipe, need=Perm.RECIPE_EDIT)
    form = ImportForm(request.POST, request.FILES, auto_id="id_%s")
    if not form.is_valid():
        return _recipe_page(request, workspace, found, status=400, import_form=form)
    try:
        version = services.recipe_import(
            actor=request.user, workspace=workspace, data=form.cleaned_data["file"], into=found
        )
    except ValidationError as exc:
        return _recipe_page(request, workspace, found, status=400, import_form=form.refuse(exc))
    messages.success(request, f"Imported as version {version.number}.")
    return redirect("web:recipe", workspace=workspace.slug, recipe=found.id)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def project_import(request: AuthenticatedRequest, workspace: Workspace, project: Any) -> HttpResponse:
    found = access.project_get(request.user, workspace, project)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _project_page(request, workspace, found, status=400, import_form=form)
    try:
        version = services.recipe_import(
            actor=request.user,
            workspace=workspace,
            data=form.cleaned_data["file"],
            project=found,
            folder=_folder_or_none(request, workspace, form.cleaned_data["folder"]),
            name=form.cleaned_data["name"],
        )
    except ValidationError as exc:
        return _project_page(request, workspace, found, status=400, import_form=form.refuse(exc))
    messages.success(request, f"Imported recipe {version.recipe.name}.")
    return redirect("web:recipe", workspace=workspace.slug, recipe=version.recipe_id)


# Lookup tables.


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def lookup_table_create(request: AuthenticatedRequest, workspace: Workspace, project: Any) -> HttpResponse:
    found = access.project_get(request.user, workspace, project)
    form = LookupTableCreateForm(request.POST)
    try:
        form.is_valid()
        table = services.lookup_table_create(
            actor=request.user,
            workspace=workspace,
            project=found,
            folder=_folder_or_none(request, workspace, form.cleaned_data["folder"]),
            name=form.cleaned_data["name"],
            columns=form.columns(),
            key_column=form.cleaned_data["key_column"],
        )
    except ValidationError as exc:
        return _project_page(request, workspace, found, status=400, table_form=form.refuse(exc))
    messages.success(request, f"Lookup table {table.name} created.")
    return redirect("web:lookup_table", workspace=workspace.slug, table=table.id)


def _table_page(
    request: AuthenticatedRequest,
    workspace: Workspace,
    table: Any,
    *,
    status: int = 200,
    row_form: LookupRowForm | None = None,
    **extra: Any,
) -> HttpResponse:
    rows = selectors.lookup_rows(table)
    wanted = request.GET.get("edit")
    editing = next(
        (row for row in rows if wanted is not None and str(row.get(table.key_column)) == wanted), None
    )

    def field(column: dict[str, str]) -> dict[str, Any]:
        if row_form is None:
            return {**column, "value": (editing or {}).get(column["name"])}
        bound = row_form[f"col:{column['name']}"]
        return {**column, "value": bound.value(), "errors": bound.errors}

    context = _base(
        request,
        workspace,
        table=table,
        fields=[field(c) for c in table.columns],
        row_form=row_form,
        editing=editing is not None,
        rows=[
            {"key": row.get(table.key_column), "cells": [row.get(c["name"]) for c in table.columns]}
            for row in rows
        ],
        can_edit=policy.may(request.user, Perm.LOOKUP_TABLE_EDIT, table),
        can_delete=policy.may(request.user, Perm.LOOKUP_TABLE_DELETE, table),
        **extra,
    )
    return _render(request, "lookup_table.html", context, status)


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def lookup_tables(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    """Every lookup table the viewer may see, in every project and environment, by name, a page at a time."""
    tables = selectors.lookup_tables_list(request.user, workspace).order_by(
        "name", "project__environment", "id"
    )
    listing = Paginator(tables, TABLES_PER_PAGE).get_page(request.GET.get("page"))
    return _render(request, "lookup_tables.html", _base(request, workspace, tables_page=listing))


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def lookup_table_detail(request: AuthenticatedRequest, workspace: Workspace, table: Any) -> HttpResponse:
    return _table_page(request, workspace, access.lookup_table_get(request.user, workspace, table))


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def lookup_row_put(request: AuthenticatedRequest, workspace: Workspace, table: Any) -> HttpResponse:
    found = access.lookup_table_get(request.user, workspace, table)
    form = LookupRowForm(request.POST, table=found)
    try:
        form.is_valid()
        services.lookup_row_edit(actor=request.user, table=found, key=form.key(), values=form.values())
    except ValidationError as exc:
        return _table_page(request, workspace, found, status=400, row_form=form.refuse(exc))
    messages.success(request, "Row saved.")
    return redirect("web:lookup_table", workspace=workspace.slug, table=found.id)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def lookup_row_delete(request: AuthenticatedRequest, workspace: Workspace, table: Any) -> HttpResponse:
    found = access.lookup_table_get(request.user, workspace, table)
    form = LookupRowDeleteForm(request.POST)
    try:
        form.is_valid()
        services.lookup_row_remove(actor=request.user, table=found, key=form.cleaned_data["key"])
    except ValidationError as exc:
        return _table_page(request, workspace, found, status=400, errors=_errors(exc))
    messages.success(request, "Row deleted.")
    return redirect("web:lookup_table", workspace=workspace.slug, table=found.id)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def lookup_table_delete(request: AuthenticatedRequest, workspace: Workspace, table: Any) -> HttpResponse:
    found = access.lookup_table_get(request.user, workspace, table)
    services.lookup_table_delete(actor=request.user, table=found)
    messages.success(request, f"Lookup table {found.name} deleted.")
    return redirect("web:project", workspace=workspace.slug, project=found.project_id)


# Bookmarks.


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def bookmarks(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    context = _base(request, workspace, recipes=selectors.bookmarked_recipes(request.user, workspace))
    return _render(request, "bookmarks.html", context)
