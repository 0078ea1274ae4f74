"""Pages for connectors and connections: the catalogue (Admins switch connectors on and off), the
connections list (yours, the company's), the connect form, and a connection's page (scopes, enabled
actions, health, usage; test, link, revoke). Every read and write goes through `connections`."""

from __future__ import annotations

from typing import Any, Literal, cast, get_args, get_origin

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from causeway.access import policy
from causeway.access.perms import Perm
from causeway.access.routes import page
from causeway.accounts.models import User
from causeway.connections import budgets, oauth_profiles, selectors, services
from causeway.connections.sdk import Connector
from causeway.web.connections_forms import (
    BudgetForm,
    ChooseForm,
    ConnectionForm,
    DocumentForm,
    LinkForm,
    ScopesForm,
    ToggleForm,
)
from causeway.web.connections_oauth import allow_sign_in
from causeway.web.errors import masked_page
from causeway.workspaces.models import Workspace


def _me(request: HttpRequest) -> User:
    """The signed-in person: `page` lets nobody else through."""
    return cast(User, request.user)


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"__all__": list(exc.messages)}


def _admin(request: HttpRequest, workspace: Workspace) -> bool:
    return policy.may(_me(request), Perm.CONNECTOR_MANAGE, workspace)


@page(need=Perm.WORKSPACE_VIEW)
@never_cache
@require_GET
def connectors(request: HttpRequest, workspace: Workspace) -> HttpResponse:
    return _catalogue(request, workspace)


def _catalogue(request: HttpRequest, workspace: Workspace, **extra: Any) -> HttpResponse:
    entries = selectors.catalogue(actor=_me(request), workspace=workspace)
    budgets_by_key = selectors.connector_budgets(actor=_me(request), workspace=workspace)
    context = {
        "workspace": workspace,
        "entries": entries,
        "rows": [(entry, budgets_by_key.get(entry.connector.key)) for entry in entries],
        "is_admin": _admin(request, workspace),
        "errors": {},
    }
    context.update(extra)
    status = 400 if extra.get("errors") else 200
    return render(request, "web/connections/catalogue.html", context, status=status)


@page(need=Perm.WORKSPACE_VIEW, step_up=True)
@require_POST
def connector_toggle(request: HttpRequest, workspace: Workspace, connector_key: str) -> HttpResponse:
    form = ToggleForm(request.POST)
    form.is_valid()
    enabled = form.on()
    try:
        services.connector_enable(actor=_me(request), workspace=workspace, key=connector_key, enabled=enabled)
    except ValidationError as exc:
        return _catalogue(request, workspace, errors=_errors(exc))
    messages.success(request, f"{connector_key} {'enabled' if enabled else 'disabled'}.")
    return redirect("web:connectors", workspace=workspace.slug)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def connector_budget(request: HttpRequest, workspace: Workspace, connector_key: str) -> HttpResponse:
    form = BudgetForm(request.POST)
    form.is_valid()
    try:
        budgets.connector_budget_set(
            actor=_me(request),
            workspace=workspace,
            key=connector_key,
            limit=cast(Any, form.limit_value()),
            period_seconds=cast(Any, form.period_value()),
        )
    except ValidationError as exc:
        return _catalogue(request, workspace, errors=_errors(exc))
    messages.success(request, f"Rate budget of {connector_key} saved.")
    return redirect("web:connectors", workspace=workspace.slug)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def custom_connector_save(request: HttpRequest, workspace: Workspace) -> HttpResponse:
    form = DocumentForm(request.POST)
    form.is_valid()
    document = form.cleaned_data.get("document", "")
    try:
        row = services.custom_connector_save(actor=_me(request), workspace=workspace, document=document)
    except ValidationError as exc:
        return _catalogue(request, workspace, errors=_errors(exc), document=document)
    messages.success(request, f"Connector {row.key} saved. An Admin enables it for the workspace.")
    return redirect("web:connectors", workspace=workspace.slug)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def custom_connector_delete(request: HttpRequest, workspace: Workspace, custom_key: str) -> HttpResponse:
    try:
        services.custom_connector_delete(actor=_me(request), workspace=workspace, key=custom_key)
    except ValidationError as exc:
        return _catalogue(request, workspace, errors=_errors(exc))
    messages.success(request, f"Connector {custom_key} removed.")
    return redirect("web:connectors", workspace=workspace.slug)


@page(need=Perm.WORKSPACE_VIEW)
@never_cache
@require_GET
def connections(request: HttpRequest, workspace: Workspace) -> HttpResponse:
    views = selectors.connections_list(actor=_me(request), workspace=workspace)
    context = {
        "workspace": workspace,
        "mine": [v for v in views if v.connection.owner_id == request.user.pk],
        "company": [v for v in views if v.connection.kind == "company"],
        "others": [
            v for v in views if v.connection.kind == "personal" and v.connection.owner_id != request.user.pk
        ],
        "can_create": policy.may(_me(request), Perm.CONNECTION_CREATE, workspace),
        "is_admin": _admin(request, workspace),
    }
    return render(request, "web/connections/list.html", context)


def _chosen(request: HttpRequest, workspace: Workspace) -> tuple[list[Connector], Connector | None, str, str]:
    """The enabled connectors, the one chosen (if any), its auth method, and the key the page named."""
    enabled = selectors.enabled_connectors(actor=_me(request), workspace=workspace)
    form = ChooseForm(request.POST) if request.method == "POST" else ChooseForm(request.GET)
    form.is_valid()
    key, auth = form.cleaned_data.get("connector", ""), form.cleaned_data.get("auth_method", "")
    # The only enabled connector is chosen when none is named; a named one that is not enabled is not
    # swapped for it (the page says so instead).
    connector = next(
        (c for c in enabled if c.key == key), enabled[0] if len(enabled) == 1 and not key else None
    )
    if connector is not None and connector.auth_method(auth) is None:
        auth = connector.auth_methods[0].kind
    return enabled, connector, auth, key


def _settings_fields(connector: Connector | None) -> list[tuple[str, str, str, bool, str, tuple[str, ...]]]:
    """Each setting's name, title, help, whether it is required, its default, and its closed set of values
    (a select on the page) if it has one."""
    if connector is None:
        return []
    found = []
    for name, info in connector.settings.model_fields.items():
        choices = (
            tuple(str(c) for c in get_args(info.annotation)) if get_origin(info.annotation) is Literal else ()
        )
        default = "" if info.is_required() or info.default is None else str(info.default)
        found.append((name, info.title or name, info.description or "", info.is_required(), default, choices))
    return found


@page(need=Perm.WORKSPACE_VIEW)
@never_cache
@require_http_methods(["GET", "POST"])
def connection_new(request: HttpRequest, workspace: Workspace) -> HttpResponse:
    enabled, connector, auth, named = _chosen(request, workspace)
    errors: dict[str, list[str]] = {}
    form = (
        ConnectionForm(request.POST, connector=connector, auth=auth)
        if request.method == "POST"
        else ConnectionForm(connector=connector, auth=auth)
    )
    if request.method == "POST" and named and connector is None:
        form.is_valid()
        errors["connector"] = [f"there is no connector {named[:40]!r} enabled in this workspace"]
    if request.method == "POST" and connector is not None and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.connection_create(
                actor=_me(request),
                workspace=workspace,
                kind=data.get("kind") or "personal",
                connector_key=connector.key,
                name=data.get("name", ""),
                auth_method=auth,
                settings=form.settings(),
                credentials=form.credentials(),
                scopes=data.get("scope", []),
                enabled_actions=data.get("action", []),
            )
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            messages.success(request, f"Connection {created.name} created.")
            return redirect("web:connection", workspace=workspace.slug, connection=created.id)
    method = connector.auth_method(auth) if connector is not None else None
    context = {
        "workspace": workspace,
        "enabled": enabled,
        "connector": connector,
        "auth": auth,
        "method": method,
        "settings_fields": _settings_fields(connector),
        "can_personal": policy.may(_me(request), Perm.CONNECTION_CREATE, workspace),
        "is_admin": _admin(request, workspace),
        "profiles": oauth_profiles.oauth_profiles(
            actor=_me(request), workspace=workspace, connector_key=connector.key
        )
        if connector is not None and method is not None and method.kind == "oauth2_code"
        else [],
        "errors": errors,
        "posted": {"kind": form.cleaned_data.get("kind"), "name": form.cleaned_data.get("name")}
        if errors
        else {},
        "scopes_posted": form.cleaned_data.get("scope", []) if errors else [],
    }
    response = allow_sign_in(
        render(request, "web/connections/new.html", context, status=400 if errors else 200), workspace
    )
    # Should a credential have been typed into a field that is shown again, it comes back masked.
    return masked_page(response) if errors else response


def _detail(request: HttpRequest, workspace: Workspace, connection: str, **extra: Any) -> HttpResponse:
    view = selectors.connection_detail(actor=_me(request), workspace=workspace, connection_id=connection)
    uses = (
        selectors.connection_uses(actor=_me(request), workspace=workspace, connection_id=connection)
        if view.may_edit
        else []
    )
    status = 400 if extra.get("errors") else 200
    budget = view.connection.budget if view.may_edit and hasattr(view.connection, "budget") else None
    context = {"workspace": workspace, "view": view, "uses": uses, "errors": {}, "budget": budget, **extra}
    return allow_sign_in(
        masked_page(render(request, "web/connections/detail.html", context, status=status)), workspace
    )


@page(need=Perm.WORKSPACE_VIEW)
@never_cache
@require_GET
def connection(request: HttpRequest, workspace: Workspace, connection: str) -> HttpResponse:
    return _detail(request, workspace, connection)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def connection_update(request: HttpRequest, workspace: Workspace, connection: str) -> HttpResponse:
    form = ScopesForm(request.POST)
    form.is_valid()
    try:
        services.connection_update(
            actor=_me(request),
            workspace=workspace,
            connection_id=connection,
            scopes=form.cleaned_data.get("scope", []),
            enabled_actions=form.cleaned_data.get("action", []),
        )
    except ValidationError as exc:
        return _detail(request, workspace, connection, errors=_errors(exc))
    messages.success(request, "Scopes and actions saved.")
    return redirect("web:connection", workspace=workspace.slug, connection=connection)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def connection_budget(request: HttpRequest, workspace: Workspace, connection: str) -> HttpResponse:
    form = BudgetForm(request.POST)
    form.is_valid()
    try:
        budgets.connection_budget_set(
            actor=_me(request),
            workspace=workspace,
            connection_id=connection,
            limit=cast(Any, form.limit_value()),
            period_seconds=cast(Any, form.period_value()),
        )
    except ValidationError as exc:
        return _detail(request, workspace, connection, errors=_errors(exc))
    messages.success(request, "Rate budget saved.")
    return redirect("web:connection", workspace=workspace.slug, connection=connection)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def connection_test(request: HttpRequest, workspace: Workspace, connection: str) -> HttpResponse:
    try:
        tested = services.connection_test(actor=_me(request), workspace=workspace, connection_id=connection)
    except ValidationError as exc:
        return _detail(request, workspace, connection, errors=_errors(exc))
    messages.info(request, f"Test: {tested.get_health_display()}. {tested.health_message}")
    return redirect("web:connection", workspace=workspace.slug, connection=connection)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def connection_link(request: HttpRequest, workspace: Workspace, connection: str) -> HttpResponse:
    form = LinkForm(request.POST)
    form.is_valid()
    try:
        if form.cleaned_data.get("link") == "1":
            services.connection_link(actor=_me(request), workspace=workspace, connection_id=connection)
        else:
            services.connection_unlink(actor=_me(request), workspace=workspace, connection_id=connection)
    except ValidationError as exc:
        return _detail(request, workspace, connection, errors=_errors(exc))
    return redirect("web:connection", workspace=workspace.slug, connection=connection)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def connection_revoke(request: HttpRequest, workspace: Workspace, connection: str) -> HttpResponse:
    services.connection_revoke(actor=_me(request), workspace=workspace, connection_id=connection)
    messages.success(request, "Connection revoked: its credentials are destroyed.")
    return redirect("web:connections", workspace=workspace.slug)
