from __future__ import annotations

from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "causeway.workspaces"
    label = "workspaces"
    default_auto_field = "django.db.models.BigAutoField"
