"""The URL map: pages at the root, the REST API under /api/v1/."""

from __future__ import annotations

from django.urls import include, path

from causeway.api.api import api_urls

urlpatterns = [
    path("api/v1/", api_urls()),
    path("", include("causeway.web.urls")),
]

handler400 = "causeway.web.errors.bad_request"
handler403 = "causeway.web.errors.forbidden"
handler404 = "causeway.web.errors.not_found"
handler500 = "causeway.web.errors.server_error"
