"""Pages for OAuth 2.0: the connect flow (scopes chosen → the provider → back) and the workspace's OAuth
profiles. Every read and write goes through `connections.oauth` and `connections.oauth_profiles`."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from causeway.access import policy
from causeway.access.perms import Perm
from causeway.access.routes import page
from causeway.accounts.models import User
from causeway.connections import oauth, oauth_profiles, registry
from causeway.web.errors import masked_page
from causeway.web.forms import ListField, PageForm, messages_of, text
from causeway.workspaces.models import Workspace


def _me(request: HttpRequest) -> User:
    return cast(User, request.user)


def allow_sign_in(response: HttpResponse, workspace: Workspace) -> HttpResponse:
    """A page whose form starts a sign-in may send the browser on to the provider's authorization
    endpoint: its CSP `form-action` (otherwise 'self' only) names those origins."""
    origins = oauth.authorize_origins(workspace)
    if origins:
        response._csp_update = {"form-action": origins}  # type: ignore[attr-defined]
    return response


class StartForm(PageForm):
    """The connect form's OAuth variant, or a connection's "Sign in again" (`connection` set)."""

    connector = text(strip=True)
    connection = text(strip=True)
    kind = text(strip=True)
    name = text(strip=True)
    profile = text(strip=True)
    scope = ListField()
    action = ListField()

    def settings(self) -> dict[str, str]:
        return {k[8:]: str(v) for k, v in self.data.items() if k.startswith("setting:") and v != ""}


def _refused(request: HttpRequest, workspace: Workspace, exc: ValidationError, back: str) -> HttpResponse:
    context = {"workspace": workspace, "errors": messages_of(exc), "back": back}
    return masked_page(render(request, "web/oauth/refused.html", context, status=400))


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def oauth_start(request: HttpRequest, workspace: Workspace) -> HttpResponse:
    form = StartForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    again = data.get("connection") or None
    try:
        url = oauth.oauth_start(
            actor=_me(request),
            workspace=workspace,
            session=request.session,
            connector_key=data.get("connector", ""),
            kind=data.get("kind") or "personal",
            name=data.get("name", ""),
            settings=form.settings(),
            scopes=data.get("scope", []),
            enabled_actions=form.posted("action", None),
            profile_id=data.get("profile") or None,
            connection_id=again,
        )
    except ValidationError as exc:
        return _refused(request, workspace, exc, request.META.get("HTTP_REFERER", ""))
    return redirect(url)


@page(need=Perm.WORKSPACE_VIEW)
@never_cache
@require_GET
def oauth_callback(request: HttpRequest, workspace: Workspace) -> HttpResponse:
    try:
        connection = oauth.oauth_finish(
            actor=_me(request), workspace=workspace, session=request.session, params=request.GET.dict()
        )
    except ValidationError as exc:
        return _refused(request, workspace, exc, "")
    messages.success(request, f"Connection {connection.name} signed in.")
    return redirect("web:connection", workspace=workspace.slug, connection=connection.id)


class ProfileForm(PageForm):
    connector = text(strip=True)
    display_name = text(strip=True)
    client_id = text(strip=True)
    client_secret = text()
    authorize_url = text(strip=True)
    token_url = text(strip=True)
    revoke_url = text(strip=True)
    default_scopes = ListField()
    # Posted by a page that showed the scope boxes: unticked boxes are not posted at all.
    scopes_shown = text()
    logo = text(strip=True)


def _profiles_page(
    request: HttpRequest, workspace: Workspace, status: int = 200, **extra: Any
) -> HttpResponse:
    connectors = [c for c in registry.for_workspace(workspace.id).values() if c.auth_method("oauth2_code")]
    context = {
        "workspace": workspace,
        "profiles": oauth_profiles.oauth_profiles(actor=_me(request), workspace=workspace),
        "connectors": connectors,
        "is_admin": policy.may(_me(request), Perm.CONNECTOR_MANAGE, workspace),
        "redirect_uri": oauth.redirect_uri(workspace),
        "errors": {},
        "posted": {},
        **extra,
    }
    return masked_page(render(request, "web/oauth/profiles.html", context, status=status))


@page(need=Perm.WORKSPACE_VIEW)
@never_cache
@require_http_methods(["GET", "POST"])
def profiles(request: HttpRequest, workspace: Workspace) -> HttpResponse:
    if request.method == "GET":
        return _profiles_page(request, workspace)
    form = ProfileForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    try:
        created = oauth_profiles.oauth_profile_create(
            actor=_me(request),
            workspace=workspace,
            connector_key=data.get("connector", ""),
            display_name=data.get("display_name", ""),
            client_id=data.get("client_id", ""),
            client_secret=data.get("client_secret", ""),
            authorize_url=data.get("authorize_url", ""),
            token_url=data.get("token_url", ""),
            revoke_url=data.get("revoke_url", ""),
            default_scopes=data.get("default_scopes", []),
            logo=data.get("logo", ""),
        )
    except ValidationError as exc:
        posted = {k: v for k, v in data.items() if k != "client_secret"}
        return _profiles_page(request, workspace, 400, errors=messages_of(exc), posted=posted)
    messages.success(request, f"OAuth profile {created.display_name} saved.")
    return redirect("web:oauth_profile", workspace=workspace.slug, profile=created.id)


def _profile_page(
    request: HttpRequest, workspace: Workspace, profile: str, status: int = 200, **extra: Any
) -> HttpResponse:
    found = oauth_profiles.oauth_profile_get(actor=_me(request), workspace=workspace, profile_id=profile)
    connector = registry.for_workspace(workspace.id).get(found.connector_key)
    context = {
        "workspace": workspace,
        "profile": found,
        "scopes": list(connector.scopes) if connector else [],
        "is_admin": policy.may(_me(request), Perm.CONNECTOR_MANAGE, workspace),
        "redirect_uri": oauth.redirect_uri(workspace),
        "errors": {},
        **extra,
    }
    return masked_page(render(request, "web/oauth/profile.html", context, status=status))


@page(need=Perm.WORKSPACE_VIEW)
@never_cache
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest, workspace: Workspace, profile: str) -> HttpResponse:
    if request.method == "GET":
        return _profile_page(request, workspace, profile)
    form = ProfileForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    try:
        oauth_profiles.oauth_profile_update(
            actor=_me(request),
            workspace=workspace,
            profile_id=profile,
            display_name=form.posted("display_name", None),
            client_id=form.posted("client_id", None),
            client_secret=data.get("client_secret") or None,
            authorize_url=form.posted("authorize_url", None),
            token_url=form.posted("token_url", None),
            revoke_url=form.posted("revoke_url", None),
            # Unticked boxes are not posted: the form says it showed them.
            default_scopes=data.get("default_scopes", []) if data.get("scopes_shown") else None,
            logo=form.posted("logo", None),
        )
    except ValidationError as exc:
        return _profile_page(request, workspace, profile, 400, errors=messages_of(exc))
    messages.success(request, "OAuth profile saved.")
    return redirect("web:oauth_profile", workspace=workspace.slug, profile=profile)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def profile_delete(request: HttpRequest, workspace: Workspace, profile: str) -> HttpResponse:
    try:
        oauth_profiles.oauth_profile_delete(actor=_me(request), workspace=workspace, profile_id=profile)
    except ValidationError as exc:
        return _profile_page(request, workspace, profile, 400, errors=messages_of(exc))
    messages.success(request, "OAuth profile removed: its client secret is destroyed.")
    return redirect("web:oauth_profiles", workspace=workspace.slug)
