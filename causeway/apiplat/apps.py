from __future__ import annotations

from django.apps import AppConfig


class ApiPlatformConfig(AppConfig):
    name = "causeway.apiplat"
    label = "apiplat"
    default_auto_field = "django.db.models.BigAutoField"
