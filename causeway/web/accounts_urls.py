"""Routes for signing in and out, the profile, passwords and personal API tokens."""

from __future__ import annotations

from django.urls import path

from causeway.web import accounts_views

urlpatterns = [
    path("login", accounts_views.login_view, name="login"),
    path("logout", accounts_views.logout_view, name="logout"),
]
