"""Calls to the API collections a workspace publishes (`/apis/<workspace>/<environment>/<collection>/...`),
and the pages that show and build them: the collections (and a new one), one collection with its
endpoints and usage (changing, adding and removing them), its Swagger page, and the API clients with their
keys."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from causeway.access import policy
from causeway.access.errors import NotFound
from causeway.access.perms import Environment, Perm
from causeway.access.routes import AuthenticatedRequest, page
from causeway.apiplat import calls, openapi, selectors, services
from causeway.apiplat.models import ApiCollection, ApiEndpoint, HttpMethod
from causeway.db import is_conflict
from causeway.web.apis_forms import ClientForm, CollectionForm, EndpointForm, KeyForm
from causeway.web.forms import messages_of
from causeway.workspaces.models import Workspace


# Public: a machine calls it, with an API client's key and no session (so no CSRF token either); the
# key, the client's collections and its allow-list decide, in `calls.api_call`.
@page(public=True)
@csrf_exempt
@never_cache
def call(request: HttpRequest, owner: str, environment: str, api: str, rest: str = "") -> HttpResponse:
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > calls.MAX_BODY_BYTES:
        return JsonResponse({"detail": f"the body is larger than {calls.MAX_BODY_BYTES} bytes"}, status=413)
    body = request.read(calls.MAX_BODY_BYTES + 1)
    if len(body) > calls.MAX_BODY_BYTES:
        return JsonResponse({"detail": f"the body is larger than {calls.MAX_BODY_BYTES} bytes"}, status=413)
    reply = calls.api_call(
        workspace_slug=owner,
        environment=environment,
        collection_slug=api,
        path="/" + rest,
        method=request.method or "GET",
        query={key: request.GET.getlist(key) for key in request.GET},
        headers={name.lower(): value for name, value in request.headers.items()},
        body=body,
    )
    response = JsonResponse(reply.body, status=reply.status, safe=False)
    for name, value in reply.headers.items():
        response[name] = value
    return response


class EnvironmentForm(forms.Form):
    environment = forms.ChoiceField(required=False, choices=[(e.value, e.value.upper()) for e in Environment])

    def chosen(self) -> str:
        return (
            str(self.cleaned_data.get("environment") or Environment.DEV.value) if self.is_valid() else "dev"
        )


class UsageForm(forms.Form):
    days = forms.IntegerField(required=False, min_value=1, max_value=selectors.MAX_DAYS)


def _collections_page(
    request: AuthenticatedRequest, workspace: Workspace, *, status: int = 200, form: Any = None
) -> HttpResponse:
    context = {
        "workspace": workspace,
        "collections": services.collection_list(actor=request.user, workspace=workspace),
        "projects": services.projects_for_collections(actor=request.user, workspace=workspace),
        "form": form or CollectionForm(),
        "can_manage_clients": policy.may(request.user, Perm.MEMBER_VIEW, workspace),
    }
    return render(request, "web/apis/collections.html", context, status=status)


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def collections(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    return _collections_page(request, workspace)


def _refused(exc: ValidationError) -> int:
    return 409 if is_conflict(exc) else 400


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def collection_create(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    form = CollectionForm(request.POST)
    form.is_valid()
    try:
        try:
            made = services.collection_create(
                actor=request.user,
                workspace=workspace,
                project=form.cleaned_data["project_id"],
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                description=form.cleaned_data["description"],
            )
        except NotFound:
            raise ValidationError({"project_id": "choose a project you may change"}) from None
    except ValidationError as exc:
        return _collections_page(request, workspace, status=_refused(exc), form=form.refuse(exc))
    messages.success(request, f"API collection {made.name} created.")
    return redirect("web:api_collection", workspace=workspace.slug, collection=made.id)


def _collection_page(
    request: AuthenticatedRequest,
    workspace: Workspace,
    found: ApiCollection,
    *,
    status: int = 200,
    days: int = 7,
    usage_form: Any = None,
    **forms_given: Any,
) -> HttpResponse:
    endpoints = list(found.endpoints.select_related("recipe"))
    edit_forms = forms_given.pop("edit_forms", {})
    context = {
        "workspace": workspace,
        "collection": found,
        "endpoints": [
            (endpoint, edit_forms.get(endpoint.pk) or _endpoint_form(endpoint)) for endpoint in endpoints
        ],
        "base_urls": [(env.upper(), url) for env, url in services.base_urls(found).items()],
        "usage": selectors.collection_usage(collection=found, days=days),
        "days": days,
        "form": usage_form or UsageForm(),
        "recipes": services.recipes_for_endpoints(actor=request.user, collection=found),
        "methods": HttpMethod.values,
        "can_edit": policy.may(request.user, Perm.PROJECT_EDIT, found.project),
        "collection_form": forms_given.get("collection_form")
        or CollectionForm(initial={"name": found.name, "description": found.description}),
        "endpoint_form": forms_given.get("endpoint_form") or EndpointForm(initial={"timeout_seconds": 30}),
    }
    return render(request, "web/apis/collection.html", context, status=status)


def _endpoint_form(endpoint: ApiEndpoint) -> EndpointForm:
    """The endpoint's fields, as its edit form shows them."""

    def schema(value: Any) -> str:
        return "" if value is None else json.dumps(value, indent=2)

    return EndpointForm(
        initial={
            "method": endpoint.method,
            "path": endpoint.path,
            "recipe_id": str(endpoint.recipe_id),
            "summary": endpoint.summary,
            "request_schema": schema(endpoint.request_schema),
            "response_schema": schema(endpoint.response_schema),
            "query_parameters": ", ".join(endpoint.query_parameters),
            "headers": ", ".join(endpoint.headers),
            "timeout_seconds": endpoint.timeout_seconds,
            "rate_per_second": endpoint.rate_per_second or "",
            "quota_per_day": endpoint.quota_per_day or "",
        },
        prefix=f"e{endpoint.pk.hex[:8]}",
    )


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def collection(request: AuthenticatedRequest, workspace: Workspace, collection: uuid.UUID) -> HttpResponse:
    found = services.collection_get(actor=request.user, workspace=workspace, ref=collection)
    form = UsageForm(request.GET)
    days = (form.cleaned_data.get("days") or 7) if form.is_valid() else 7
    return _collection_page(
        request, workspace, found, status=400 if form.errors else 200, days=days, usage_form=form
    )


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def collection_edit(
    request: AuthenticatedRequest, workspace: Workspace, collection: uuid.UUID
) -> HttpResponse:
    found = services.collection_get(actor=request.user, workspace=workspace, ref=collection)
    form = CollectionForm(request.POST)
    form.is_valid()
    try:
        changed = services.collection_update(
            actor=request.user,
            collection=found,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
        )
    except ValidationError as exc:
        return _collection_page(
            request, workspace, found, status=_refused(exc), collection_form=form.refuse(exc)
        )
    messages.success(request, f"API collection {changed.name} saved.")
    return redirect("web:api_collection", workspace=workspace.slug, collection=found.id)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def collection_delete(
    request: AuthenticatedRequest, workspace: Workspace, collection: uuid.UUID
) -> HttpResponse:
    found = services.collection_get(actor=request.user, workspace=workspace, ref=collection)
    services.collection_delete(actor=request.user, collection=found)
    messages.success(request, f"API collection {found.name} deleted.")
    return redirect("web:apis", workspace=workspace.slug)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def endpoint_create(
    request: AuthenticatedRequest, workspace: Workspace, collection: uuid.UUID
) -> HttpResponse:
    found = services.collection_get(actor=request.user, workspace=workspace, ref=collection)
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _collection_page(request, workspace, found, status=400, endpoint_form=form)
    try:
        made = services.endpoint_create(actor=request.user, collection=found, **form.values())
    except ValidationError as exc:
        return _collection_page(
            request, workspace, found, status=_refused(exc), endpoint_form=form.refuse(exc)
        )
    messages.success(request, f"Endpoint {made.method} {made.path} added.")
    return redirect("web:api_collection", workspace=workspace.slug, collection=found.id)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def endpoint_edit(
    request: AuthenticatedRequest, workspace: Workspace, collection: uuid.UUID, endpoint: uuid.UUID
) -> HttpResponse:
    found = services.collection_get(actor=request.user, workspace=workspace, ref=collection)
    current = services.endpoint_get(actor=request.user, collection=found, ref=endpoint)
    form = EndpointForm(request.POST, prefix=f"e{current.pk.hex[:8]}")
    if form.is_valid():
        try:
            changed = services.endpoint_update(actor=request.user, endpoint=current, **form.values())
        except ValidationError as exc:
            form.refuse(exc)
            status = _refused(exc)
        else:
            messages.success(request, f"Endpoint {changed.method} {changed.path} saved.")
            return redirect("web:api_collection", workspace=workspace.slug, collection=found.id)
    else:
        status = 400
    return _collection_page(request, workspace, found, status=status, edit_forms={current.pk: form})


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def endpoint_delete(
    request: AuthenticatedRequest, workspace: Workspace, collection: uuid.UUID, endpoint: uuid.UUID
) -> HttpResponse:
    found = services.collection_get(actor=request.user, workspace=workspace, ref=collection)
    gone = services.endpoint_get(actor=request.user, collection=found, ref=endpoint)
    services.endpoint_delete(actor=request.user, endpoint=gone)
    messages.success(request, f"Endpoint {gone.method} {gone.path} removed.")
    return redirect("web:api_collection", workspace=workspace.slug, collection=found.id)


# Clients: service accounts of their own, so the Admin's (member:manage).


def _clients_page(
    request: AuthenticatedRequest,
    workspace: Workspace,
    *,
    status: int = 200,
    issued: Any = None,
    form: Any = None,
    row_forms: dict[Any, Any] | None = None,
) -> HttpResponse:
    clients = services.client_list(actor=request.user, workspace=workspace).prefetch_related(
        Prefetch("service_account__tokens", queryset=services.keys_of_clients(), to_attr="keys")
    )
    row_forms = row_forms or {}
    context = {
        "workspace": workspace,
        "clients": [(client, row_forms.get(client.pk)) for client in clients],
        "collections": services.collection_list(actor=request.user, workspace=workspace),
        "form": form or ClientForm(initial={"key_name": "default", "expires_in_days": 90}),
        "issued": issued,
        "can_manage": policy.may(request.user, Perm.MEMBER_MANAGE, workspace),
    }
    return render(request, "web/apis/clients.html", context, status=status)


@page(need=Perm.MEMBER_VIEW)
@require_GET
def clients(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    return _clients_page(request, workspace)


@page(need=Perm.MEMBER_MANAGE)
@never_cache
@require_POST
def client_create(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    form = ClientForm(request.POST)
    form.is_valid()
    values = form.cleaned_data
    try:
        with transaction.atomic():
            made = services.client_create(
                actor=request.user,
                workspace=workspace,
                name=values["name"],
                collection_ids=values["collection_ids"],
                allowed_sources=values["allowed_sources"],
                rate_per_second=values["rate_per_second"],
                quota_per_day=values["quota_per_day"],
            )
            try:
                key, secret = services.client_key_issue(
                    actor=request.user,
                    client=made,
                    name=values["key_name"],
                    expires_in_days=values["expires_in_days"],
                )
            except ValidationError as exc:
                raise ValidationError(
                    {
                        ("key_name" if field == "name" else field): problems
                        for field, problems in messages_of(exc).items()
                    }
                ) from None
    except ValidationError as exc:
        return _clients_page(request, workspace, status=_refused(exc), form=form.refuse(exc))
    # Rendered, not redirected: the key is shown this once and never travels in a message cookie.
    return _clients_page(request, workspace, issued={"client": made, "key": key, "secret": secret})


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def client_edit(request: AuthenticatedRequest, workspace: Workspace, client: uuid.UUID) -> HttpResponse:
    found = services.client_get(actor=request.user, workspace=workspace, ref=client)
    form = ClientForm(request.POST, prefix=f"c{found.pk.hex[:8]}")
    form.is_valid()
    values = form.cleaned_data
    try:
        services.client_update(
            actor=request.user,
            client=found,
            collection_ids=values["collection_ids"],
            allowed_sources=values["allowed_sources"],
            rate_per_second=values["rate_per_second"],
            quota_per_day=values["quota_per_day"],
        )
    except ValidationError as exc:
        return _clients_page(request, workspace, status=_refused(exc), row_forms={found.pk: form.refuse(exc)})
    messages.success(request, f"API client {found.service_account.name} saved.")
    return redirect("web:api_clients", workspace=workspace.slug)


@page(need=Perm.MEMBER_MANAGE)
@never_cache
@require_POST
def client_key_create(request: AuthenticatedRequest, workspace: Workspace, client: uuid.UUID) -> HttpResponse:
    found = services.client_get(actor=request.user, workspace=workspace, ref=client)
    form = KeyForm(request.POST, prefix=f"k{found.pk.hex[:8]}")
    form.is_valid()
    try:
        key, secret = services.client_key_issue(
            actor=request.user,
            client=found,
            name=form.cleaned_data["name"],
            expires_in_days=form.cleaned_data["expires_in_days"],
        )
    except ValidationError as exc:
        return _clients_page(request, workspace, status=_refused(exc), row_forms={found.pk: form.refuse(exc)})
    return _clients_page(request, workspace, issued={"client": found, "key": key, "secret": secret})


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def client_key_revoke(
    request: AuthenticatedRequest, workspace: Workspace, client: uuid.UUID, api_key: uuid.UUID
) -> HttpResponse:
    found = services.client_get(actor=request.user, workspace=workspace, ref=client)
    key = services.client_key_get(actor=request.user, client=found, ref=api_key)
    services.client_key_revoke(actor=request.user, client=found, key=key)
    messages.success(request, f"Key {key.name} of {found.service_account.name} revoked.")
    return redirect("web:api_clients", workspace=workspace.slug)


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def swagger(request: AuthenticatedRequest, workspace: Workspace, collection: uuid.UUID) -> HttpResponse:
    found = services.collection_get(actor=request.user, workspace=workspace, ref=collection)
    form = EnvironmentForm(request.GET)
    environment = form.chosen()
    document = reverse("web:api_openapi", kwargs={"workspace": workspace.slug, "collection": found.id})
    # Read by the local Swagger UI's own start-up script (no inline script: the CSP allows none).
    config = {"url": f"{document}?environment={environment}", "layout": "BaseLayout", "deepLinking": True}
    context = {"workspace": workspace, "collection": found, "environment": environment, "config": config}
    return render(request, "web/apis/swagger.html", context, status=400 if form.errors else 200)


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def document(request: AuthenticatedRequest, workspace: Workspace, collection: uuid.UUID) -> HttpResponse:
    found = services.collection_get(actor=request.user, workspace=workspace, ref=collection)
    form = EnvironmentForm(request.GET)
    if not form.is_valid():
        return JsonResponse({"detail": "environment: one of dev, test, prod"}, status=400)
    return JsonResponse(openapi.collection_document(found, form.chosen()))
