"""Signing in and out. Failed and successful sign-ins are audited; guessing is throttled by axes."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from causeway.access.routes import page
from causeway.accounts import services as accounts


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": "Email or password is wrong.",
        "inactive": "This account is disabled.",
    }


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=True):
        return target
    return "/"


@page(public=True)
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = LoginForm(request, data=request.POST)
        if form.is_valid():
            user = form.get_user()
            with transaction.atomic():
                accounts.login_succeeded(user=user)
                login(request, user)
            return redirect(_next_url(request))
        if form.data.get("username"):
            with transaction.atomic():
                accounts.login_failed(email=str(form.data.get("username", "")))
    else:
        form = LoginForm(request)
    return render(request, "web/login.html", {"form": form, "next": _next_url(request)})


@page(authenticated=True)
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        accounts.logout_recorded(user=request.user)  # type: ignore[arg-type]
        logout(request)
    return redirect("web:login")


def locked_out(request: HttpRequest, credentials: Any = None, *args: Any, **kwargs: Any) -> HttpResponse:
    """What axes answers once an account and address pair has failed too often."""
    email = ""
    if isinstance(credentials, dict):
        email = str(credentials.get("username", ""))
    with transaction.atomic():
        accounts.login_failed(email=email, locked_out=True)
    form = LoginForm(request)
    return render(
        request,
        "web/login.html",
        {"form": form, "locked_out": True, "next": "/"},
        status=429,
    )
