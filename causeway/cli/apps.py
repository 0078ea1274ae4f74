from __future__ import annotations

from django.apps import AppConfig


class CliConfig(AppConfig):
    name = "causeway.cli"
    label = "causeway_cli"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from causeway.cli import checks  # noqa: F401
