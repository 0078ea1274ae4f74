"""Single sign-on on pages: leaving for an identity provider and coming back from it, and the
providers staff add and remove on the Platform page. Rules live in `accounts.sso` (signing in) and
`access.identity_providers` (configuration); these views parse and render."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from causeway.access import group_mappings
from causeway.access import identity_providers as providers
from causeway.access.routes import AuthenticatedRequest, page
from causeway.accounts import mfa, saml, sso
from causeway.accounts import services as accounts
from causeway.accounts.models import IdentityProvider
from causeway.web import mfa_views
from causeway.web.accounts_views import login_throttled, next_url
from causeway.web.forms import PageForm, text
from causeway.web.workspaces_views import platform_page

# What a sign-in keeps in the browser's server-side session while the person is at the provider.
PENDING = "causeway_sso_pending"


class CallbackForm(forms.Form):
    """What a provider sends back in the callback's address (OAuth 2.0 section 4.1.2)."""

    state = forms.CharField(required=False, max_length=500)
    code = forms.CharField(required=False, max_length=4000)
    error = forms.CharField(required=False, max_length=200)


def _refused(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    context = {"sso_refused": message, "providers": sso.enabled_providers(), "next": "/"}
    return render(request, "web/login.html", context, status=status)


def _base_url() -> str:
    """Causeway's public address (CAUSEWAY_BASE_URL), never the request's Host header: the addresses a
    provider is given and checks answers against must not be chosen by whoever sends the request."""
    return str(settings.BASE_URL).rstrip("/")


@page(public=True)
@never_cache
@require_GET
def sso_login_view(request: HttpRequest, provider: str) -> HttpResponse:
    found = sso.provider_for_sign_in(provider)
    if found is None:
        raise Http404
    if (throttled := login_throttled(request)) is not None:
        return throttled
    callback = _base_url() + reverse("web:sso_callback", kwargs={"provider": found.slug})
    try:
        url, pending = sso.sign_in_begin(provider=found, redirect_uri=callback, next_url=next_url(request))
    except sso.SsoRefused as refused:
        sso.refusal_recorded(found, refused, protocol="oidc")
        return _refused(request, str(refused), status=502)
    request.session[PENDING] = pending.as_session()
    return redirect(url)


@page(public=True)
@never_cache
@require_GET
def sso_callback_view(request: HttpRequest, provider: str) -> HttpResponse:
    if (throttled := login_throttled(request)) is not None:
        return throttled
    form = CallbackForm(request.GET)
    query = {k: str(v) for k, v in form.cleaned_data.items()} if form.is_valid() else {}
    # Single use: whatever comes of it, this browser's started sign-in is spent.
    pending = sso.Pending.from_session(request.session.pop(PENDING, None))
    found = sso.provider_for_sign_in(provider)
    try:
        signed = sso.sign_in_complete(pending=pending, provider=found, query=query)
    except sso.SsoRefused as refused:
        return _refused(request, str(refused))
    assert found is not None  # nosec B101  # a sign-in without its provider is refused above
    return _signed_in(request, signed, found)


# SAML: the request this browser made, in a cookie of its own. The provider's answer arrives by a POST
# from the provider's page, on which browsers send no SameSite=Lax cookie (the session's): this one is
# SameSite=None, signed (so only Causeway makes one), HttpOnly and short-lived, and binds the answer to
# the browser that asked for it.
SAML_COOKIE = "__Host-causeway-saml"
SAML_SALT = "causeway.saml.pending"


class SamlAnswerForm(forms.Form):
    """What a SAML provider posts to the assertion consumer service (HTTP-POST binding)."""

    SAMLResponse = forms.CharField(required=False, max_length=500_000)  # the binding's name
    RelayState = forms.CharField(required=False, max_length=2000)


@page(public=True)
@never_cache
@require_GET
def saml_login_view(request: HttpRequest, provider: str) -> HttpResponse:
    found = sso.provider_for_sign_in(provider, protocol="saml")
    if found is None:
        raise Http404
    if (throttled := login_throttled(request)) is not None:
        return throttled
    try:
        url, pending = saml.sign_in_begin(provider=found, base_url=_base_url(), next_url=next_url(request))
    except sso.SsoRefused as refused:
        sso.refusal_recorded(found, refused, protocol="saml")
        return _refused(request, str(refused), status=409)
    response = redirect(url)
    response.set_signed_cookie(
        SAML_COOKIE,
        json.dumps(pending),
        salt=SAML_SALT,
        max_age=int(saml.PENDING_SECONDS),
        secure=True,
        httponly=True,
        samesite="None",
    )
    return response


def _saml_pending(request: HttpRequest) -> dict[str, Any] | None:
    try:
        raw = request.get_signed_cookie(SAML_COOKIE, salt=SAML_SALT, max_age=saml.PENDING_SECONDS)
        found = json.loads(raw or "")
    except (KeyError, signing.BadSignature, ValueError):
        return None
    return found if isinstance(found, dict) else None


@page(public=True)
@csrf_exempt  # posted by the provider's page; bound to this browser by the signed cookie instead
@never_cache
@require_POST
def saml_acs_view(request: HttpRequest, provider: str) -> HttpResponse:
    if (throttled := login_throttled(request)) is not None:
        return throttled
    form = SamlAnswerForm(request.POST)
    answer = str(form.cleaned_data.get("SAMLResponse") or "") if form.is_valid() else ""
    found = sso.provider_for_sign_in(provider, protocol="saml")
    try:
        signed = saml.sign_in_complete(
            provider=found, base_url=_base_url(), pending=_saml_pending(request), saml_response=answer
        )
    except sso.SsoRefused as refused:
        response = _refused(request, str(refused))
    else:
        assert found is not None  # nosec B101  # a sign-in without its provider is refused above
        response = _signed_in(request, signed, found)
    # Single use: whatever came of it, this browser's request is spent.
    response.delete_cookie(SAML_COOKIE, samesite="None")
    return response


@page(public=True)
@require_GET
def saml_metadata_view(request: HttpRequest, provider: str) -> HttpResponse:
    found = sso.provider_for_sign_in(provider, protocol="saml")
    if found is None:
        raise Http404
    try:
        metadata = saml.sp_metadata(found, _base_url())
    except sso.SsoRefused as refused:
        sso.refusal_recorded(found, refused, protocol="saml")
        return _refused(request, str(refused), status=409)
    return HttpResponse(metadata, content_type="application/samlmetadata+xml")


def _signed_in(request: HttpRequest, signed: sso.SignedIn, provider: IdentityProvider) -> HttpResponse:
    user, next_url, via = signed.user, signed.next_url, provider.slug
    # What the provider says of the person's groups holds from this sign-in on, whether or not this
    # browser goes on to pass the second factor: it is the provider's word, not this browser's.
    group_mappings.group_mappings_apply(provider=provider, user=user, claims=signed.claims)
    # The provider's sign-in is the first factor: a second one the user set up is still asked for.
    if mfa.mfa_enrolled(user=user):
        return mfa_views.second_factor_pending(request, user, next_url, via=via)
    with transaction.atomic():
        accounts.login_succeeded(user=user, via=via)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect(next_url)


class _ProviderFields(PageForm):
    """What every provider is added with, whatever it signs in with."""

    slug = text()
    name = text()
    trusted_domains = text()
    email_claim = text()

    def clean_trusted_domains(self) -> list[str]:
        return _split(self.cleaned_data["trusted_domains"])

    def common(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "slug": data["slug"],
            "name": data["name"],
            "trusted_domains": data["trusted_domains"],
            "email_claim": data["email_claim"] or "email",
        }


class ProviderForm(_ProviderFields):
    issuer = text()
    client_id = text()
    client_secret = text()
    scopes = text()
    ids = "provider-%s"

    def clean_scopes(self) -> list[str]:
        return _split(self.cleaned_data["scopes"])


class SamlProviderForm(_ProviderFields):
    metadata = text()
    ids = "saml-%s"


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.replace(",", " ").split() if part.strip()]


def platform_providers_context(request: AuthenticatedRequest) -> dict[str, Any]:
    return {"identity_providers": providers.identity_providers_visible(request.user)}


def _provider_added(
    request: AuthenticatedRequest,
    form: _ProviderFields,
    form_name: str,
    add: Callable[[dict[str, Any]], IdentityProvider],
    said: Callable[[IdentityProvider], str],
) -> HttpResponse:
    """Add a provider from the Platform page's form: back to the page with the form's errors, or on to
    it with what staff do next."""
    try:
        form.is_valid()
        created = add(form.cleaned_data)
    except ValidationError as exc:
        return platform_page(request, status=400, **{form_name: form.refuse(exc)})
    messages.success(request, said(created))
    return redirect("web:platform")


@page(staff=True, step_up=True)
@sensitive_post_parameters("client_secret")
@require_POST
def platform_provider_create(request: AuthenticatedRequest) -> HttpResponse:
    form = ProviderForm(request.POST)
    return _provider_added(
        request,
        form,
        "provider_form",
        lambda data: providers.identity_provider_create(
            actor=request.user,
            **form.common(),
            issuer=data["issuer"],
            client_id=data["client_id"],
            client_secret=data["client_secret"],
            scopes=data["scopes"] or None,
        ),
        lambda created: (
            f"Identity provider {created.name} added: people sign in at /login/sso/{created.slug}."
        ),
    )


@page(staff=True, step_up=True)
@require_POST
def platform_provider_create_saml(request: AuthenticatedRequest) -> HttpResponse:
    form = SamlProviderForm(request.POST)
    return _provider_added(
        request,
        form,
        "saml_form",
        lambda data: providers.identity_provider_create_saml(
            actor=request.user, **form.common(), metadata=data["metadata"]
        ),
        lambda created: (
            f"SAML identity provider {created.name} added: its metadata is at "
            f"{created.sign_in_path}/metadata."
        ),
    )


@page(staff=True, step_up=True)
@require_POST
def platform_provider_delete(request: AuthenticatedRequest, provider: uuid.UUID) -> HttpResponse:
    found = providers.identity_provider_get(request.user, provider)
    providers.identity_provider_delete(actor=request.user, provider=found)
    messages.success(request, f"Identity provider {found.name} removed: nobody signs in through it any more.")
    return redirect("web:platform")
