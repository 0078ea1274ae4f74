from __future__ import annotations

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "causeway.web"
    label = "causeway_web"
    default_auto_field = "django.db.models.BigAutoField"
