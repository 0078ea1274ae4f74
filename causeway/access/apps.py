from __future__ import annotations

from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "causeway.access"
    label = "access"
    default_auto_field = "django.db.models.BigAutoField"
