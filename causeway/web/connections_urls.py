"""Routes for the connector catalogue and the connections pages."""

from __future__ import annotations

from django.urls import path

from causeway.web import connections_oauth as oauth_views
from causeway.web import connections_views as views

urlpatterns = [
    path("w/<slug:workspace>/oauth/start", oauth_views.oauth_start, name="oauth_start"),
    path("w/<slug:workspace>/oauth/callback", oauth_views.oauth_callback, name="oauth_callback"),
    path("w/<slug:workspace>/oauth-profiles", oauth_views.profiles, name="oauth_profiles"),
    path("w/<slug:workspace>/oauth-profiles/<str:profile>", oauth_views.profile, name="oauth_profile"),
    path(
        "w/<slug:workspace>/oauth-profiles/<str:profile>/delete",
        oauth_views.profile_delete,
        name="oauth_profile_delete",
    ),
    path("w/<slug:workspace>/connectors", views.connectors, name="connectors"),
    path("w/<slug:workspace>/custom-connectors", views.custom_connector_save, name="custom_connector_save"),
    path(
        "w/<slug:workspace>/custom-connectors/<slug:custom_key>/delete",
        views.custom_connector_delete,
        name="custom_connector_delete",
    ),
    path(
        "w/<slug:workspace>/connectors/<slug:connector_key>", views.connector_toggle, name="connector_toggle"
    ),
    path(
        "w/<slug:workspace>/connectors/<slug:connector_key>/budget",
        views.connector_budget,
        name="connector_budget",
    ),
    path("w/<slug:workspace>/connections", views.connections, name="connections"),
    path("w/<slug:workspace>/connections/new", views.connection_new, name="connection_new"),
    path("w/<slug:workspace>/connections/<str:connection>", views.connection, name="connection"),
    path(
        "w/<slug:workspace>/connections/<str:connection>/scopes",
        views.connection_update,
        name="connection_update",
    ),
    path(
        "w/<slug:workspace>/connections/<str:connection>/test", views.connection_test, name="connection_test"
    ),
    path(
        "w/<slug:workspace>/connections/<str:connection>/budget",
        views.connection_budget,
        name="connection_budget",
    ),
    path(
        "w/<slug:workspace>/connections/<str:connection>/link", views.connection_link, name="connection_link"
    ),
    path(
        "w/<slug:workspace>/connections/<str:connection>/revoke",
        views.connection_revoke,
        name="connection_revoke",
    ),
]
