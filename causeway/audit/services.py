"""Appending to the audit chains. Every append happens inside the caller's transaction."""

from __future__ import annotations

import json
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone

from causeway.audit import context
from causeway.audit.models import (
    PLATFORM_CHAIN,
    ActorType,
    AuditChainHead,
    AuditEvent,
    Outcome,
    workspace_chain,
)
from causeway.vault import mac

MAC_PURPOSE = mac.AUDIT_PURPOSE


class AuditWriteError(Exception):
    """The event could not be written; the change it records must not happen."""


@dataclass(frozen=True)
class Actor:
    type: str
    id: str = ""
    label: str = ""


SYSTEM = Actor(type=ActorType.SYSTEM, label="system")
ANONYMOUS = Actor(type=ActorType.ANONYMOUS, label="anonymous")


class HasAuditActor(Protocol):
    @property
    def audit_actor(self) -> Actor: ...


class HasAuditTarget(Protocol):
    @property
    def audit_target(self) -> tuple[str, str, str]: ...


def neutralize(text: str) -> str:
    """Escape control, format and line-separator characters so user text cannot forge log lines."""
    out = []
    for char in text:
        category = unicodedata.category(char)
        if category in {"Cc", "Cf", "Zl", "Zp"}:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def _neutralize_tree(value: Any) -> Any:
    if isinstance(value, str):
        return neutralize(value)
    if isinstance(value, dict):
        return {neutralize(str(k)): _neutralize_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_neutralize_tree(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return neutralize(str(value))


def canonical_content(event: AuditEvent) -> bytes:
    """The exact bytes the MAC covers: the link to the previous event, the position and the content."""
    content = {
        "chain": event.chain,
        "seq": event.seq,
        "prev_mac": bytes(event.prev_mac).hex(),
        "id": str(event.id),
        "workspace_id": str(event.workspace_id) if event.workspace_id else None,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_label": event.target_label,
        "outcome": event.outcome,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "details": event.details,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _lock_head(chain: str) -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is not None:
        return head
    with transaction.atomic():
        AuditChainHead.objects.get_or_create(chain=chain)
    return AuditChainHead.objects.select_for_update().get(chain=chain)


def _resolve_actor(actor: Actor | HasAuditActor | None) -> Actor:
    if actor is None:
        return SYSTEM
    if isinstance(actor, Actor):
        return actor
    return actor.audit_actor


def audit_record(
    *,
    actor: Actor | HasAuditActor | None,
    action: str,
    target: HasAuditTarget | tuple[str, str, str] | None = None,
    workspace_id: uuid.UUID | None = None,
    outcome: str = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the workspace's chain (or the platform's) in the current transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise AuditWriteError("audit events are written inside the transaction of the change they record")
    who = _resolve_actor(actor)
    if target is None:
        target_type, target_id, target_label = "", "", ""
    elif isinstance(target, tuple):
        target_type, target_id, target_label = target
    else:
        target_type, target_id, target_label = target.audit_target
    request = context.current()
    chain = workspace_chain(workspace_id) if workspace_id else PLATFORM_CHAIN
    try:
        head = _lock_head(chain)
        event = AuditEvent(
            chain=chain,
            seq=head.seq + 1,
            workspace_id=workspace_id,
            occurred_at=timezone.now(),
            actor_type=who.type,
            actor_id=neutralize(who.id),
            actor_label=neutralize(who.label)[:320],
            action=action,
            target_type=target_type,
            target_id=neutralize(str(target_id)),
            target_label=neutralize(target_label)[:320],
            outcome=outcome,
            ip_address=request.ip_address,
            user_agent=neutralize(request.user_agent)[:512],
            request_id=request.request_id,
            details=_neutralize_tree(details or {}),
            prev_mac=bytes(head.mac),
            mac=b"",
            mac_key_id=0,
        )
        tag = mac.compute(MAC_PURPOSE, canonical_content(event))
        event.mac = tag.value
        event.mac_key_id = tag.key_id
        event.save(force_insert=True)
        head.seq = event.seq
        head.mac = event.mac
        head.save(update_fields=["seq", "mac"])
    except AuditWriteError:
        raise
    except Exception as exc:
        raise AuditWriteError(f"could not write audit event {action!r}: {exc}") from exc
    return event
