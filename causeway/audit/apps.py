from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "causeway.audit"
    label = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from causeway.audit.services import SYSTEM, audit_record
        from causeway.vault.events import VaultEvent, vault_event

        def record_vault_event(sender: Any, event: VaultEvent, **kwargs: Any) -> None:
            # Key operations run by commands and beat have no person behind them.
            audit_record(actor=SYSTEM, **event.audit_fields())

        vault_event.connect(record_vault_event, weak=False, dispatch_uid="causeway.audit.vault_event")
