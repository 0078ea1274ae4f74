"""Error pages that say what went wrong without echoing anything from the request."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "web/forbidden.html", {"permission": None}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "web/not_found.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "web/server_error.html", status=500)
