"""The second factor on pages: asked at sign-in after the password, and set up, renewed and turned off
on the profile's two-factor page. Rules live in `accounts.mfa`; these views parse and render."""

from __future__ import annotations

import time
import uuid
from typing import Any

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from causeway.access.routes import AuthenticatedRequest, page
from causeway.accounts import mfa, stepup
from causeway.accounts import services as accounts
from causeway.accounts.models import User
from causeway.audit.refusals import Throttled

# Who typed the right password and still owes a second factor: kept in the (not yet signed-in)
# session, never in the cookie, and only for a few minutes.
PENDING = "causeway_mfa_pending"
PENDING_SECONDS = mfa.SIGN_IN_PENDING.total_seconds()


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text"}),
        error_messages={"required": "Code: enter the 6 digits your app shows, or a recovery code."},
    )


def _apply(form: forms.Form, error: ValidationError) -> None:
    for field, problems in error.message_dict.items():
        form.add_error(field if field in form.fields else None, problems)


def second_factor_pending(request: HttpRequest, user: User, next_url: str, *, via: str = "") -> HttpResponse:
    """After the right password (or an identity provider's sign-in, `via`) of a user with a second
    factor: ask for it before signing in."""
    request.session[PENDING] = {"user": str(user.pk), "at": time.time(), "next": next_url, "via": via}
    return redirect("web:login_mfa")


def _pending_user(request: HttpRequest) -> tuple[User, str, str] | None:
    pending = request.session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=uuid.UUID(str(pending["user"])), is_active=True).first()
    return None if user is None else (user, str(pending.get("next") or "/"), str(pending.get("via") or ""))


@page(public=True)
@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def login_mfa_view(request: HttpRequest) -> HttpResponse:
    found = _pending_user(request)
    if found is None:
        request.session.pop(PENDING, None)
        messages.error(request, "Sign in again: the time to enter your code ran out.")
        return redirect("web:login")
    user, next_url, via = found
    if request.method != "POST":
        return render(request, "web/login_mfa.html", {"form": CodeForm()})
    try:
        accounts.login_throttle_check()
    except Throttled as throttled:
        response = render(request, "web/login_mfa.html", {"form": CodeForm()}, status=429)
        response["Retry-After"] = str(throttled.retry_after)
        return response
    form = CodeForm(request.POST)
    if form.is_valid():
        verdict = mfa.second_factor_check(user=user, code=form.cleaned_data["code"], purpose="sign_in")
        if verdict.method is not None:
            request.session.pop(PENDING, None)
            with transaction.atomic():
                accounts.login_succeeded(user=user, second_factor=verdict.method, via=via or None)
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(next_url)
        form.add_error("code", verdict.message)
    return render(request, "web/login_mfa.html", {"form": form}, status=400)


def _mfa_page(request: AuthenticatedRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    user = request.user
    context = {
        "enrolled": mfa.mfa_enrolled(user=user),
        "codes_left": mfa.recovery_codes_left(user=user),
        "pending": mfa.totp_enrolment_pending(user=user) is not None,
        "form": CodeForm(),
        **extra,
    }
    return render(request, "web/accounts/mfa.html", context, status=status)


@page(authenticated=True)
@never_cache
@require_http_methods(["GET"])
def mfa_view(request: AuthenticatedRequest) -> HttpResponse:
    return _mfa_page(request)


@page(authenticated=True)
@never_cache
@require_POST
def mfa_start_view(request: AuthenticatedRequest) -> HttpResponse:
    try:
        enrolment = mfa.totp_enrol_begin(actor=request.user)
    except ValidationError as error:
        return _mfa_page(request, status=400, refused=error.message_dict["code"][0])
    qr = segno.make(enrolment.uri, error="m").svg_data_uri(scale=5, border=2)
    # Rendered, not redirected: the secret is shown in this one answer, never cached.
    return _mfa_page(request, enrolment=enrolment, qr=qr)


@page(authenticated=True)
@never_cache
@sensitive_post_parameters("code")
@require_POST
def mfa_confirm_view(request: AuthenticatedRequest) -> HttpResponse:
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            codes = mfa.totp_enrol_confirm(actor=request.user, code=form.cleaned_data["code"])
        except ValidationError as error:
            _apply(form, error)
        else:
            accounts.reauthenticated(request.session)
            return render(request, "web/accounts/recovery_codes.html", {"codes": codes})
    return _mfa_page(request, status=400, confirm_form=form)


@page(authenticated=True)
@never_cache
@sensitive_post_parameters("code")
@require_POST
def mfa_recovery_codes_view(request: AuthenticatedRequest) -> HttpResponse:
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            codes = mfa.recovery_codes_regenerate(actor=request.user, code=form.cleaned_data["code"])
        except ValidationError as error:
            _apply(form, error)
        else:
            return render(request, "web/accounts/recovery_codes.html", {"codes": codes})
    return _mfa_page(request, status=400, codes_form=form)


@page(authenticated=True)
@sensitive_post_parameters("code")
@require_POST
def mfa_disable_view(request: AuthenticatedRequest) -> HttpResponse:
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            mfa.mfa_disable(actor=request.user, code=form.cleaned_data["code"])
        except ValidationError as error:
            _apply(form, error)
        else:
            messages.success(request, "Two-factor authentication is off.")
            return redirect("web:mfa")
    return _mfa_page(request, status=400, disable_form=form)


class ReauthenticateForm(forms.Form):
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = forms.CharField(
        label="Or a code from your app",
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )


@page(authenticated=True)
@never_cache
@sensitive_post_parameters("password", "code")
@require_http_methods(["GET", "POST"])
def reauthenticate_view(request: AuthenticatedRequest) -> HttpResponse:
    next_url = _next_of(request)
    enrolled = mfa.mfa_enrolled(user=request.user)
    if request.method != "POST":
        context = {"form": ReauthenticateForm(), "next": next_url, "enrolled": enrolled}
        return render(request, "web/accounts/reauthenticate.html", context)
    form = ReauthenticateForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            stepup.reauthenticate(user=request.user, **form.cleaned_data)
        except Throttled as throttled:
            form.add_error(
                None, f"Too many failed attempts from this address; try again in {throttled.retry_after} s."
            )
            status = 429
        except ValidationError as error:
            _apply(form, error)
        else:
            accounts.reauthenticated(request.session)
            return redirect(next_url)
    context = {"form": form, "next": next_url, "enrolled": enrolled}
    return render(request, "web/accounts/reauthenticate.html", context, status=status)


class NextForm(forms.Form):
    next = forms.CharField(required=False)


def _next_of(request: HttpRequest) -> str:
    posted, asked = NextForm(request.POST), NextForm(request.GET)
    posted.is_valid(), asked.is_valid()
    target = posted.cleaned_data.get("next") or asked.cleaned_data.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=True):
        return str(target)
    return "/"
