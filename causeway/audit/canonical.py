"""The exact bytes each audit MAC covers, for events and for checkpoints.

Every value is normalised the same way when the MAC is made and when it is checked, so a
database that hands a value back in another form (a timestamp's zone, an IPv6 address's
spelling) cannot break verification; a changed value still does.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

from causeway.audit.models import AuditEvent

EVENT_KIND = "causeway.audit.event/1"
CHECKPOINT_KIND = "causeway.audit.checkpoint/1"


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ip_text(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def _encode(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_content(event: AuditEvent, *, seq: int | None = None) -> bytes:
    """The link to the previous event, the position and the content. `seq` tries another position."""
    return _encode(
        {
            "kind": EVENT_KIND,
            "chain": event.chain,
            "seq": event.seq if seq is None else seq,
            "prev_mac": bytes(event.prev_mac).hex(),
            "id": str(event.id),
            "workspace_id": str(event.workspace_id) if event.workspace_id else None,
            "occurred_at": timestamp(event.occurred_at),
            "actor_type": event.actor_type,
            "actor_id": event.actor_id,
            "actor_label": event.actor_label,
            "action": event.action,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "target_label": event.target_label,
            "outcome": event.outcome,
            "ip_address": ip_text(event.ip_address),
            "user_agent": event.user_agent,
            "request_id": event.request_id,
            "details": event.details,
        }
    )


def checkpoint_content(*, chain: str, seq: int, event_mac: bytes, created_at: datetime) -> bytes:
    return _encode(
        {
            "kind": CHECKPOINT_KIND,
            "chain": chain,
            "seq": seq,
            "event_mac": event_mac.hex(),
            "created_at": timestamp(created_at),
        }
    )
