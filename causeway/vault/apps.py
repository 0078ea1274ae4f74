from __future__ import annotations

from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "causeway.vault"
    label = "vault"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import request_started

        from causeway.vault.masking import feed_on_request

        # Every process that answers requests masks the secrets any other process set (rule 13).
        request_started.connect(feed_on_request, dispatch_uid="causeway.vault.masking.feed")
