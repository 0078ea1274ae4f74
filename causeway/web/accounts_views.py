"""Signing in and out, the profile and password pages, and personal API tokens.

Failed and successful sign-ins are audited; guessing is throttled by axes. Every rule about
what is valid lives in `accounts`; these views parse the form, call one service and render.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from causeway.access.routes import AuthenticatedRequest, page, proof_is_stale, step_up_asked
from causeway.accounts import mfa, sso
from causeway.accounts import services as accounts
from causeway.accounts.validation import label
from causeway.web import mfa_views
from causeway.web.throttling import sign_in_throttled
from causeway.workspaces import tokens

PASSWORD_FIELDS = ("password", "current_password", "new_password", "new_password_repeat")


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": "Email or password is wrong.",
        "inactive": "This account is disabled.",
    }

    def clean_username(self) -> str:
        # One spelling per account: throttling counts failures per email, so "A@x" and "a@x"
        # must not be two separate allowances of guesses.
        return str(self.cleaned_data.get("username") or "").strip().lower()


def _text(name: str) -> forms.CharField:
    # Not required here: the service reports a missing value with a message naming the field.
    return forms.CharField(label=label(name), required=False, strip=False)


def _secret(name: str, autocomplete: str) -> forms.CharField:
    return forms.CharField(
        label=label(name),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


class ProfileForm(forms.Form):
    first_name = _text("first_name")
    last_name = _text("last_name")
    email = forms.CharField(
        label=label("email"), required=False, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )


class PasswordForm(forms.Form):
    current_password = _secret("current_password", "current-password")
    new_password = _secret("new_password", "new-password")
    new_password_repeat = _secret("new_password_repeat", "new-password")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("new_password") != data.get("new_password_repeat"):
            self.add_error("new_password_repeat", "New password (again) does not match the new password.")
        return data


class TokenForm(forms.Form):
    name = forms.CharField(label="Token name", required=False)
    expires_in_days = forms.CharField(label="Expires in (days)", required=False, initial="30")

    def clean_expires_in_days(self) -> int:
        raw = str(self.cleaned_data.get("expires_in_days") or "").strip()
        try:
            return int(raw)
        except ValueError:
            # The range is the service's to state; this only says the text is not a number of days.
            raise ValidationError("Expiry must be a whole number of days.") from None


def _apply(form: forms.Form, error: ValidationError) -> None:
    """File a service's errors under the form's fields of the same name."""
    for field, problems in error.message_dict.items():
        form.add_error(field if field in form.fields else None, problems)


class NextForm(forms.Form):
    """Where to go after signing in: posted with the form, or in the address of the login page."""

    next = forms.CharField(required=False)


def next_url(request: HttpRequest) -> str:
    """Where to go after signing in: a path on this site, else the home page."""
    posted, asked = NextForm(request.POST), NextForm(request.GET)
    posted.is_valid(), asked.is_valid()
    target = posted.cleaned_data.get("next") or asked.cleaned_data.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=True):
        return target
    return "/"


@page(public=True)
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if (refused := login_throttled(request)) is not None:
            return refused
        form = LoginForm(request, data=request.POST)
        if form.is_valid():
            user = form.get_user()
            if mfa.mfa_enrolled(user=user):
                return mfa_views.second_factor_pending(request, user, next_url(request))
            with transaction.atomic():
                accounts.login_succeeded(user=user)
                login(request, user)
            return redirect(next_url(request))
        # An attempt that axes refused is recorded once, as a lockout, by `locked_out` below.
        if form.data.get("username") and not _refused_by_lockout(request):
            with transaction.atomic():
                accounts.login_failed(
                    email=str(form.data.get("username", "")).strip().lower(),
                    locks_out=bool(getattr(request, "axes_locked_out", False)),
                )
    else:
        form = LoginForm(request)
    context = {"form": form, "next": next_url(request), "providers": sso.enabled_providers()}
    return render(request, "web/login.html", context)


@page(authenticated=True)
@require_POST
def logout_view(request: AuthenticatedRequest) -> HttpResponse:
    with transaction.atomic():
        accounts.logout_recorded(user=request.user)
        logout(request)
    return redirect("web:login")


def _refused_by_lockout(request: HttpRequest) -> bool:
    """Whether axes refused this attempt without checking the password, the pair being locked out.

    axes marks the request locked out both for an attempt it refused and for the failure that just
    reached the limit; it counts each as a failure. Only the latter brings the count to the limit.
    """
    if not getattr(request, "axes_locked_out", False):
        return False
    failures = getattr(request, "axes_failures_since_start", None)
    return failures is None or failures > settings.AXES_FAILURE_LIMIT


def login_throttled(request: HttpRequest) -> HttpResponse | None:
    """The login page, refused (429) once this address has failed to sign in too often lately; None
    while it may still try."""
    return sign_in_throttled(lambda wait: _login_page_throttled(request, wait))


def _login_page_throttled(request: HttpRequest, wait: int) -> HttpResponse:
    context = {
        "form": LoginForm(request),
        "throttled": wait,
        "next": next_url(request),
        "providers": sso.enabled_providers(),
    }
    return render(request, "web/login.html", context)


def locked_out(
    request: AuthenticatedRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """What axes answers once an account and address pair has failed too often.

    The failure that reaches the limit is answered as the failure it is; from the next attempt on, the
    pair is refused with 429, even with the right password.
    """
    if not _refused_by_lockout(request) and original_response is not None:
        return original_response
    email = ""
    if isinstance(credentials, dict):
        email = str(credentials.get("username") or "")
    with transaction.atomic():
        accounts.login_failed(email=email, locked_out=True)
    return render(
        request,
        "web/login.html",
        {"form": LoginForm(request), "locked_out": True, "next": "/"},
        status=429,
    )


def _profile_page(
    request: AuthenticatedRequest,
    *,
    form: ProfileForm | None = None,
    password_form: PasswordForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    if form is None:
        form = ProfileForm(
            initial={"first_name": user.first_name, "last_name": user.last_name, "email": user.email}
        )
    context = {"form": form, "password_form": password_form or PasswordForm()}
    return render(request, "web/accounts/profile.html", context, status=status)


@page(authenticated=True)
@require_http_methods(["GET", "POST"])
def profile_view(request: AuthenticatedRequest) -> HttpResponse:
    if request.method != "POST":
        return _profile_page(request)
    form = ProfileForm(request.POST)
    if form.is_valid():
        changes_email = accounts.email_changes(user=request.user, email=form.cleaned_data["email"] or None)
        if changes_email and proof_is_stale(request):
            return step_up_asked(request)
        try:
            accounts.profile_update(actor=request.user, user=request.user, **form.cleaned_data)
        except ValidationError as error:
            _apply(form, error)
        else:
            messages.success(request, "Profile saved.")
            return redirect("web:profile")
    return _profile_page(request, form=form, status=400)


@page(authenticated=True)
@sensitive_post_parameters(*PASSWORD_FIELDS)
@require_POST
def password_change_view(request: AuthenticatedRequest) -> HttpResponse:
    form = PasswordForm(request.POST)
    if form.is_valid():
        try:
            accounts.password_change(
                actor=request.user,
                user=request.user,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except ValidationError as error:
            _apply(form, error)
        else:
            # The service already deleted this browser's session with all the others;
            # logging out here drops what the request still holds of it.
            logout(request)
            messages.success(
                request, "Password changed. Every session has ended: log in with the new password."
            )
            return redirect("web:login")
    return _profile_page(request, password_form=form, status=400)


def _tokens_page(
    request: AuthenticatedRequest, *, form: TokenForm | None = None, status: int = 200
) -> HttpResponse:
    listed = tokens.token_list(user=request.user)
    context = {"tokens": listed, "form": form or TokenForm()}
    return render(request, "web/accounts/tokens.html", context, status=status)


@page(authenticated=True, step_up=True)
@never_cache
@require_http_methods(["GET", "POST"])
def tokens_view(request: AuthenticatedRequest) -> HttpResponse:
    if request.method != "POST":
        return _tokens_page(request)
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            token, secret = tokens.token_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                expires_in_days=form.cleaned_data["expires_in_days"],
            )
        except ValidationError as error:
            _apply(form, error)
        else:
            # Rendered, not redirected: the secret exists only in this one answer, never cached.
            return render(request, "web/accounts/token_created.html", {"token": token, "secret": secret})
    return _tokens_page(request, form=form, status=400)


@page(authenticated=True)
@require_POST
def token_revoke_view(request: AuthenticatedRequest, token_id: uuid.UUID) -> HttpResponse:
    token = tokens.token_get_own(user=request.user, token_id=token_id)
    if token is None:
        raise Http404
    tokens.token_revoke(actor=request.user, token=token)
    messages.success(request, f"Token {token.name} ({token.prefix}) revoked; it no longer works.")
    return redirect("web:tokens")
