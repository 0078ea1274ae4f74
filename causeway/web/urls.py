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
]
