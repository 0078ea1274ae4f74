"""Routes for webhook calls and each recipe's Webhook page."""

from __future__ import annotations

from django.urls import path

from causeway.web import hooks_views

# The calls senders make: by far the most frequent requests, so the page routes put them first (Django
# tries every pattern before the one that matches, and records each it tried).
calls = [
    path("hooks/<str:token>", hooks_views.receive, name="hook"),
    path("hooks/connector/<str:token>", hooks_views.receive_connector, name="connector_hook"),
]

urlpatterns = [
    path("w/<slug:workspace>/recipes/<uuid:recipe>/webhook", hooks_views.webhook, name="recipe_webhook"),
    path(
        "w/<slug:workspace>/recipes/<uuid:recipe>/webhook/rotate",
        hooks_views.webhook_rotate,
        name="recipe_webhook_rotate",
    ),
    path(
        "w/<slug:workspace>/recipes/<uuid:recipe>/webhook/secret",
        hooks_views.webhook_secret,
        name="recipe_webhook_secret",
    ),
]
