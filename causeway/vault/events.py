"""What the vault reports for the audit log: key operations and secret changes, never a value.

The vault sits below the audit app, so it cannot record events itself. Its services take an
`on_change` callback that they call inside the transaction of the change, with a `VaultEvent`; the
caller turns it into an audit event (`audit_record(actor=..., **event.audit_fields())`). If the
callback raises, the change is rolled back: a change whose audit event cannot be written does not
happen.

Callers with no actor of their own (the `causeway keys` command, the beat task) pass `publish`, which
sends the event on the `vault_event` signal for the audit app to record as the system actor, and
refuses when no receiver is connected rather than change keys unaudited.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.dispatch import Signal

vault_event = Signal()


class UnauditedError(Exception):
    """No receiver records vault events, so the operation is refused."""


@dataclass(frozen=True)
class VaultEvent:
    action: str
    target: tuple[str, str, str]
    workspace_id: uuid.UUID | None
    details: dict[str, Any] = field(default_factory=dict)
    outcome: str = "success"

    def audit_fields(self) -> dict[str, Any]:
        """The keyword arguments of `causeway.audit.services.audit_record`, less the actor."""
        return {
            "action": self.action,
            "target": self.target,
            "workspace_id": self.workspace_id,
            "outcome": self.outcome,
            "details": self.details,
        }


OnChange = Callable[[VaultEvent], None]


def require_receiver() -> None:
    """Refuse up front, before anything changes, when nothing would record the events."""
    if not vault_event.has_listeners():
        raise UnauditedError(
            "refusing a key operation: no audit receiver is connected to causeway.vault.events.vault_event"
        )


def publish(event: VaultEvent) -> None:
    """Hand an event to the audit app's receiver, inside the caller's transaction."""
    require_receiver()
    vault_event.send(sender=VaultEvent, event=event)
