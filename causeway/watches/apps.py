from __future__ import annotations

from django.apps import AppConfig


class WatchesConfig(AppConfig):
    name = "causeway.watches"
    label = "watches"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from causeway.runs import runtime
        from causeway.watches.tasks import job_failed_queue

        runtime.FAILURE_LISTENERS["watches"] = job_failed_queue
