"""Routes for signing in and out, the profile, passwords and personal API tokens."""

from __future__ import annotations

from django.urls import path

from causeway.web import accounts_views

urlpatterns = [
    path("login", accounts_views.login_view, name="login"),
    path("logout", accounts_views.logout_view, name="logout"),
    path("profile", accounts_views.profile_view, name="profile"),
    path("profile/password", accounts_views.password_change_view, name="password_change"),
    path("tokens", accounts_views.tokens_view, name="tokens"),
    path("tokens/<uuid:token_id>/revoke", accounts_views.token_revoke_view, name="token_revoke"),
]
