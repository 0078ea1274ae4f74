"""The second factor on pages: asked at sign-in after the password, and set up, renewed and turned off
on the profile's two-factor page, an authenticator app or passkeys. Rules live in `accounts.mfa` and
`accounts.passkeys`; these views parse and render. A passkey ceremony runs in the browser
(static/web/passkeys.js): the page carries the options, the form posts the browser's answer."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from causeway.access.routes import AuthenticatedRequest, page
from causeway.accounts import mfa, passkeys, stepup
from causeway.accounts import services as accounts
from causeway.accounts.models import User
from causeway.audit.refusals import Throttled
from causeway.db import is_conflict
from causeway.web.throttling import sign_in_throttled

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


# A browser's answer to a passkey ceremony is JSON of a few hundred bytes to a few kilobytes.
CREDENTIAL_MAX = 20_000


class PasskeyAnswerForm(forms.Form):
    credential = forms.CharField(
        max_length=CREDENTIAL_MAX,
        widget=forms.HiddenInput,
        error_messages={"required": "Passkey: your browser sent no answer; try again."},
    )


class PasskeyAddForm(PasskeyAnswerForm):
    name = forms.CharField(
        label="Name",
        max_length=passkeys.NAME_MAX,
        help_text="Which device or key it is, to tell your passkeys apart.",
        error_messages={"required": "Name: give the passkey a name, such as the device it is on."},
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
    def check(user: User, cleaned: dict[str, Any]) -> mfa.Verdict:
        return mfa.second_factor_check(user=user, code=cleaned["code"], purpose="sign_in")

    return _second_step(request, lambda: CodeForm(request.POST), check, field="code", shown_as="form")


@page(public=True)
@never_cache
@require_POST
def login_mfa_passkey_view(request: HttpRequest) -> HttpResponse:
    """The second step of signing in with a passkey instead of a code."""

    def check(user: User, cleaned: dict[str, Any]) -> mfa.Verdict:
        credential = cleaned["credential"]
        return passkeys.passkey_check(
            user=user, session=request.session, credential=credential, purpose=passkeys.SIGN_IN
        )

    return _second_step(
        request, lambda: PasskeyAnswerForm(request.POST), check, field="credential", shown_as="passkey_form"
    )


def _second_step(
    request: HttpRequest,
    posted: Callable[[], forms.Form],
    check: Callable[[User, dict[str, Any]], mfa.Verdict],
    *,
    field: str,
    shown_as: str,
) -> HttpResponse:
    """The second step of signing in, with a code or a passkey: for whoever gave the right password
    (or came back from an identity provider) in the last minutes, within the address's allowance."""
    found = _pending_user(request)
    if found is None:
        request.session.pop(PENDING, None)
        messages.error(request, "Sign in again: the time to enter your code ran out.")
        return redirect("web:login")
    user, next_url, via = found
    if request.method != "POST":
        return _login_mfa_page(request, user)
    refused = sign_in_throttled(lambda wait: _login_mfa_page(request, user, throttled=wait))
    if refused is not None:
        return refused
    form = posted()
    if form.is_valid():
        verdict = check(user, form.cleaned_data)
        if verdict.method is not None:
            request.session.pop(PENDING, None)
            with transaction.atomic():
                accounts.login_succeeded(user=user, second_factor=verdict.method, via=via or None)
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(next_url)
        form.add_error(field, verdict.message)
    return _login_mfa_page(request, user, status=400, **{shown_as: form})


def _login_mfa_page(request: HttpRequest, user: User, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = {
        "form": CodeForm(),
        "passkey_form": PasskeyAnswerForm(),
        "totp": mfa.totp_enrolled(user=user),
        # A fresh challenge with every showing of the page: each is good for one answer.
        "passkey_options": passkeys.authentication_options(
            session=request.session, user=user, purpose=passkeys.SIGN_IN
        ),
        **extra,
    }
    return render(request, "web/login_mfa.html", context, status=status)


def _mfa_page(request: AuthenticatedRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    user = request.user
    # Adding a passkey needs a recent proof of identity: the options (and their challenge) are only
    # drawn then; otherwise the page links to the step-up first.
    fresh = accounts.recently_authenticated(request.session)
    context = {
        "enrolled": mfa.totp_enrolled(user=user),
        "any_factor": mfa.mfa_enrolled(user=user),
        "passkeys": passkeys.passkeys_of(user=user),
        "passkey_form": PasskeyAddForm(),
        "registration_options": passkeys.registration_options(session=request.session, user=user)
        if fresh
        else None,
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
            if mfa.mfa_enrolled(user=request.user):
                messages.success(request, "The authenticator app is off; your passkeys remain.")
            else:
                messages.success(request, "Two-factor authentication is off.")
            return redirect("web:mfa")
    return _mfa_page(request, status=400, disable_form=form)


@page(authenticated=True, step_up=True)
@never_cache
@require_POST
def mfa_passkey_add_view(request: AuthenticatedRequest) -> HttpResponse:
    form = PasskeyAddForm(request.POST)
    if form.is_valid():
        try:
            key = passkeys.passkey_register(
                actor=request.user,
                session=request.session,
                credential=form.cleaned_data["credential"],
                name=form.cleaned_data["name"],
            )
        except ValidationError as error:
            _apply(form, error)
            return _mfa_page(request, status=409 if is_conflict(error) else 400, passkey_form=form)
        messages.success(request, f"Passkey {key.name} added: signing in can use it instead of a code.")
        return redirect("web:mfa")
    return _mfa_page(request, status=400, passkey_form=form)


class PasskeyNameForm(forms.Form):
    name = PasskeyAddForm.base_fields["name"]


@page(authenticated=True)
@never_cache
@require_POST
def mfa_passkey_rename_view(request: AuthenticatedRequest, passkey_id: uuid.UUID) -> HttpResponse:
    key = passkeys.passkey_of(user=request.user, passkey_id=passkey_id)
    if key is None:
        raise Http404("passkey")
    form = PasskeyNameForm(request.POST)
    if form.is_valid():
        try:
            passkeys.passkey_rename(actor=request.user, passkey=key, name=form.cleaned_data["name"])
        except ValidationError as error:
            _apply(form, error)
        else:
            messages.success(request, f"Passkey renamed {key.name}.")
            return redirect("web:mfa")
    return _mfa_page(
        request, status=400, refused=" ".join(str(problem) for problem in form.errors.get("name", []))
    )


@page(authenticated=True, step_up=True)
@never_cache
@require_POST
def mfa_passkey_remove_view(request: AuthenticatedRequest, passkey_id: uuid.UUID) -> HttpResponse:
    key = passkeys.passkey_of(user=request.user, passkey_id=passkey_id)
    if key is None:
        raise Http404("passkey")
    try:
        passkeys.passkey_remove(actor=request.user, passkey=key)
    except ValidationError as error:
        return _mfa_page(request, status=409, refused=error.messages[0])
    messages.success(request, f"Passkey {key.name} removed.")
    return redirect("web:mfa")


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
    credential = forms.CharField(required=False, max_length=CREDENTIAL_MAX, widget=forms.HiddenInput)


def _reauthenticate_page(
    request: AuthenticatedRequest, form: ReauthenticateForm, next_url: str, *, status: int = 200
) -> HttpResponse:
    user = request.user
    context = {
        "form": form,
        "next": next_url,
        "enrolled": mfa.totp_enrolled(user=user),
        "passkey_options": passkeys.authentication_options(
            session=request.session, user=user, purpose=passkeys.STEP_UP
        ),
    }
    return render(request, "web/accounts/reauthenticate.html", context, status=status)


@page(authenticated=True)
@never_cache
@sensitive_post_parameters("password", "code")
@require_http_methods(["GET", "POST"])
def reauthenticate_view(request: AuthenticatedRequest) -> HttpResponse:
    next_url = _next_of(request)
    if request.method != "POST":
        return _reauthenticate_page(request, ReauthenticateForm(), next_url)
    form = ReauthenticateForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            stepup.reauthenticate(user=request.user, session=request.session, **form.cleaned_data)
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
    return _reauthenticate_page(request, form, next_url, status=status)


class NextForm(forms.Form):
    next = forms.CharField(required=False)


def _next_of(request: HttpRequest) -> str:
    posted, asked = NextForm(request.POST), NextForm(request.GET)
    posted.is_valid(), asked.is_valid()
    target = posted.cleaned_data.get("next") or asked.cleaned_data.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=True):
        return str(target)
    return "/"
