from __future__ import annotations

from django.apps import AppConfig


class ApiPlatformConfig(AppConfig):
    name = "causeway.apiplat"
    label = "apiplat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from causeway.apiplat.selectors import calls_purge
        from causeway.runs import runtime

        runtime.DAILY_PURGES["api_calls"] = calls_purge
