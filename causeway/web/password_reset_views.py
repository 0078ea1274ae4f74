"""The forgotten-password pages: ask for a link by email, then choose a new password through it.
Rules live in `accounts.passwords`; these views parse and render."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from causeway.access.routes import page
from causeway.accounts import passwords
from causeway.accounts.validation import label
from causeway.audit.refusals import Throttled

SENT = (
    "If an account has this address, a link to reset its password is on its way. "
    "It works once, within an hour."
)


class ResetRequestForm(forms.Form):
    email = forms.CharField(
        label="Email",
        max_length=320,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={"required": "Email is required."},
    )


class NewPasswordForm(forms.Form):
    new_password = forms.CharField(
        label=label("new_password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password_repeat = forms.CharField(
        label=label("new_password_repeat"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, str]:
        data = super().clean() or {}
        if data.get("new_password") != data.get("new_password_repeat"):
            self.add_error("new_password_repeat", "New password (again) does not match the new password.")
        return data


@page(public=True)
@never_cache
@require_http_methods(["GET", "POST"])
def password_reset_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "web/accounts/password_reset.html", {"form": ResetRequestForm()})
    form = ResetRequestForm(request.POST)
    if not form.is_valid():
        return render(request, "web/accounts/password_reset.html", {"form": form}, status=400)
    try:
        passwords.password_reset_request(email=form.cleaned_data["email"])
    except Throttled as throttled:
        form.add_error(None, f"Too many attempts from this address; try again in {throttled.retry_after} s.")
        response = render(request, "web/accounts/password_reset.html", {"form": form}, status=429)
        response["Retry-After"] = str(throttled.retry_after)
        return response
    # The same answer whether the address has an account or not.
    return render(request, "web/accounts/password_reset.html", {"form": ResetRequestForm(), "sent": SENT})


@page(public=True)
@never_cache
@sensitive_post_parameters("new_password", "new_password_repeat")
@require_http_methods(["GET", "POST"])
def password_reset_confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    if passwords.password_reset_user(token=token) is None:
        return render(request, "web/accounts/password_reset_confirm.html", {"expired": True}, status=404)
    if request.method != "POST":
        return render(request, "web/accounts/password_reset_confirm.html", {"form": NewPasswordForm()})
    form = NewPasswordForm(request.POST)
    if form.is_valid():
        try:
            passwords.password_reset_complete(token=token, new_password=form.cleaned_data["new_password"])
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(
                request, "Password changed. Every session has ended: log in with the new password."
            )
            return redirect("web:login")
    return render(request, "web/accounts/password_reset_confirm.html", {"form": form}, status=400)
