from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "causeway.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from causeway.accounts import signals  # noqa: F401
