"""Routes for workspaces, members, invitations and platform administration."""

from __future__ import annotations

from django.urls import path

from causeway.web import sessions_views, sso_views
from causeway.web import workspaces_views as views

urlpatterns = [
    path("w/<slug:workspace>/", views.overview, name="workspace"),
    path("w/<slug:workspace>/members", views.members, name="workspace_members"),
    path("w/<slug:workspace>/members/invite", views.member_invite, name="workspace_member_invite"),
    path("w/<slug:workspace>/members/<uuid:member>/role", views.member_role, name="workspace_member_role"),
    path(
        "w/<slug:workspace>/members/<uuid:member>/sessions/end",
        sessions_views.member_sessions_end_view,
        name="workspace_member_sessions_end",
    ),
    path(
        "w/<slug:workspace>/members/<uuid:member>/remove", views.member_remove, name="workspace_member_remove"
    ),
    path(
        "w/<slug:workspace>/invitations/<uuid:invitation>/revoke",
        views.workspace_invitation_revoke,
        name="workspace_invitation_revoke",
    ),
    path("w/<slug:workspace>/settings", views.settings_page, name="workspace_settings"),
    path(
        "w/<slug:workspace>/settings/signing-key/rotate",
        views.signing_key_rotate,
        name="workspace_signing_key_rotate",
    ),
    path("platform", views.platform, name="platform"),
    path("platform/invite", views.platform_invite, name="platform_invite"),
    path("platform/workspaces", views.platform_workspace_create, name="platform_workspace_create"),
    path(
        "platform/invitations/<uuid:invitation>/revoke",
        views.platform_invitation_revoke,
        name="platform_invitation_revoke",
    ),
    path("platform/identity-providers", sso_views.platform_provider_create, name="platform_provider_create"),
    path(
        "platform/identity-providers/saml",
        sso_views.platform_provider_create_saml,
        name="platform_provider_create_saml",
    ),
    path(
        "platform/identity-providers/<uuid:provider>/delete",
        sso_views.platform_provider_delete,
        name="platform_provider_delete",
    ),
    path("invitations/<str:token>", views.invitation, name="invitation"),
]
