from __future__ import annotations

from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "causeway.runs"
    label = "runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Jobs answer the policy's `may` and `explain`.
        from causeway.runs import policy  # noqa: F401
