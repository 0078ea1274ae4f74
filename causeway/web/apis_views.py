"""Calls to the API collections a workspace publishes (`/apis/<workspace>/<environment>/<collection>/...`),
and the pages that show them to members: the collections, one collection with its usage, and its Swagger
page."""

from __future__ import annotations

import uuid

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from causeway.access.perms import Environment, Perm
from causeway.access.routes import AuthenticatedRequest, page
from causeway.apiplat import calls, openapi, selectors, services
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


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def collections(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    found = services.collection_list(actor=request.user, workspace=workspace)
    return render(request, "web/apis/collections.html", {"workspace": workspace, "collections": found})


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def collection(request: AuthenticatedRequest, workspace: Workspace, collection: uuid.UUID) -> HttpResponse:
    found = services.collection_get(actor=request.user, workspace=workspace, ref=collection)
    form = UsageForm(request.GET)
    days = (form.cleaned_data.get("days") or 7) if form.is_valid() else 7
    context = {
        "workspace": workspace,
        "collection": found,
        "endpoints": found.endpoints.select_related("recipe"),
        "base_urls": [(env.upper(), url) for env, url in services.base_urls(found).items()],
        "usage": selectors.collection_usage(collection=found, days=days),
        "days": days,
        "form": form,
    }
    return render(request, "web/apis/collection.html", context, status=400 if form.errors else 200)


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
