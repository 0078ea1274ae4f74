"""Routes for the workspace audit log."""

from __future__ import annotations

from django.urls import path

from causeway.web import audit_views

urlpatterns = [
    path("w/<slug:workspace>/audit", audit_views.audit_log, name="audit_log"),
    path("w/<slug:workspace>/audit/verify", audit_views.audit_verify, name="audit_verify"),
]
