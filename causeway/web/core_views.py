"""The home page and the health probe."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from causeway.access import policy
from causeway.access.routes import AuthenticatedRequest, page


@page(public=True)
def health(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@page(authenticated=True)
def home(request: AuthenticatedRequest) -> HttpResponse:
    workspaces = policy.workspaces_visible(request.user)
    return render(request, "web/home.html", {"workspaces": workspaces})
