from __future__ import annotations

from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "causeway.connections"
    label = "connections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connections answer the policy's `may` and `explain`.
        from causeway.connections import policy  # noqa: F401
