"""Routes for webhook calls and each recipe's Webhook page."""

from __future__ import annotations

from django.urls import path

from causeway.web import hooks_views

urlpatterns = [
    path("hooks/<str:token>", hooks_views.receive, name="hook"),
    path("hooks/connector/<str:token>", hooks_views.receive_connector, name="connector_hook"),
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
