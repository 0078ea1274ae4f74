"""Page routes. Each area keeps its own list; every view is built with `access.routes.page`."""

from __future__ import annotations

from django.urls import include, path

from causeway.web import (
    access_urls,
    accounts_urls,
    apis_views,
    audit_urls,
    connections_urls,
    core_views,
    hooks_urls,
    recipes_urls,
    runs_urls,
    vault_urls,
    workspaces_urls,
)

app_name = "web"

urlpatterns = [
    path("", include(hooks_urls.calls)),
    # Calls to the API collections workspaces publish.
    path("apis/<slug:owner>/<slug:environment>/<slug:api>", apis_views.call, name="api_call_root"),
    path("apis/<slug:owner>/<slug:environment>/<slug:api>/<path:rest>", apis_views.call, name="api_call"),
    path("", core_views.home, name="home"),
    path("health", core_views.health, name="health"),
    path("", include(accounts_urls)),
    path("", include(workspaces_urls)),
    path("", include(audit_urls)),
    path("", include(vault_urls)),
    path("", include(connections_urls)),
    path("", include(recipes_urls)),
    path("", include(access_urls)),
    path("", include(hooks_urls)),
    path("", include(runs_urls)),
    path("w/<slug:workspace>/apis", apis_views.collections, name="apis"),
    path("w/<slug:workspace>/apis/<uuid:collection>", apis_views.collection, name="api_collection"),
    path("w/<slug:workspace>/apis/<uuid:collection>/swagger", apis_views.swagger, name="api_swagger"),
    path("w/<slug:workspace>/apis/<uuid:collection>/openapi.json", apis_views.document, name="api_openapi"),
    path("w/<slug:workspace>/apis/new", apis_views.collection_create, name="api_collection_create"),
    path(
        "w/<slug:workspace>/apis/<uuid:collection>/edit",
        apis_views.collection_edit,
        name="api_collection_edit",
    ),
    path(
        "w/<slug:workspace>/apis/<uuid:collection>/delete",
        apis_views.collection_delete,
        name="api_collection_delete",
    ),
    path(
        "w/<slug:workspace>/apis/<uuid:collection>/endpoints",
        apis_views.endpoint_create,
        name="api_endpoint_create",
    ),
    path(
        "w/<slug:workspace>/apis/<uuid:collection>/endpoints/<uuid:endpoint>/edit",
        apis_views.endpoint_edit,
        name="api_endpoint_edit",
    ),
    path(
        "w/<slug:workspace>/apis/<uuid:collection>/endpoints/<uuid:endpoint>/delete",
        apis_views.endpoint_delete,
        name="api_endpoint_delete",
    ),
    path("w/<slug:workspace>/api-clients", apis_views.clients, name="api_clients"),
    path("w/<slug:workspace>/api-clients/new", apis_views.client_create, name="api_client_create"),
    path("w/<slug:workspace>/api-clients/<uuid:client>/edit", apis_views.client_edit, name="api_client_edit"),
    path(
        "w/<slug:workspace>/api-clients/<uuid:client>/keys",
        apis_views.client_key_create,
        name="api_client_key_create",
    ),
    path(
        "w/<slug:workspace>/api-clients/<uuid:client>/keys/<uuid:api_key>/revoke",
        apis_views.client_key_revoke,
        name="api_client_key_revoke",
    ),
]
