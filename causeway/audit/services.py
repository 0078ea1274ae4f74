"""Appending to the audit chains, checkpointing their heads and rotating their MAC key.

Every append happens inside the caller's transaction, so the change and its record commit
or roll back together; an append that fails raises, and the change with it (fail closed).
The event's free text is sealed as it is saved (see `models`); its MAC covers the plaintext.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from causeway.audit import canonical, context
from causeway.audit.models import (
    PLATFORM_CHAIN,
    ActorType,
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    Outcome,
    actor_index,
    workspace_chain,
)
from causeway.vault import mac
from causeway.vault.masking import mask

MAC_PURPOSE = mac.AUDIT_PURPOSE
logger = logging.getLogger(__name__)


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


# Control characters (CR, LF, ESC...), format characters (bidi overrides, zero-width joiners),
# line and paragraph separators, and lone surrogates (which no database encoding accepts).
_ESCAPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def neutralize(text: str) -> str:
    """Escape what could forge or hide log lines, so user text reads back exactly as typed.

    The backslash is escaped too, so a typed "\\u000a" cannot pass for an escaped newline.
    """
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif unicodedata.category(char) in _ESCAPED_CATEGORIES:
            code = ord(char)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def _clip(value: Any, limit: int) -> str:
    # Known secret values are masked before anything typed by a person is kept (rule 13).
    return neutralize(mask(str(value)))[:limit]


def _neutralize_tree(value: Any) -> Any:
    """Details as JSON that reads back from any database exactly as written (the MAC depends on it)."""
    if isinstance(value, str):
        return neutralize(mask(value))
    if isinstance(value, dict):
        return {neutralize(str(k)): _neutralize_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_neutralize_tree(v) for v in value]
    if value is None or isinstance(value, bool | int):
        return value
    # Floats become text: PostgreSQL's jsonb may hand 1e100 back as an integer.
    return neutralize(repr(value) if isinstance(value, float) else str(value))


def _resolve_actor(actor: Actor | HasAuditActor | None) -> Actor:
    if actor is None:
        return SYSTEM
    if isinstance(actor, Actor):
        return actor
    return actor.audit_actor


def _ip_address(raw: str | None) -> str | None:
    if not raw:
        return None
    # A zone index ("fe80::1%eth0") is local to the server and not storable as an address; anything
    # that is no address at all is dropped rather than let it stop the act being recorded.
    try:
        return str(ipaddress.ip_address(raw.split("%", 1)[0]))
    except ValueError:
        return None


def _lock_head(chain: str) -> AuditChainHead:
    """The chain's head row, locked until the transaction ends, so appenders take turns."""
    head = AuditChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is not None:
        return head
    if AuditEvent.objects.filter(chain=chain).exists():
        # Recreating the head would restart the chain at seq 1 over events that exist.
        raise AuditWriteError(f"the head of audit chain {chain} is missing while the chain has events")
    with transaction.atomic():
        AuditChainHead.objects.get_or_create(chain=chain)
    return AuditChainHead.objects.select_for_update().get(chain=chain)


def audit_record(
    *,
    actor: Actor | HasAuditActor | None,
    action: str,
    target: HasAuditTarget | tuple[str, str, str] | None = None,
    workspace_id: uuid.UUID | str | None = None,
    outcome: str = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the workspace's chain (or the platform's) in the current transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise AuditWriteError("audit events are written inside the transaction of the change they record")
    try:
        who = _resolve_actor(actor)
        if who.type not in ActorType.values:
            raise ValueError(f"unknown actor type {who.type!r}")
        if outcome not in Outcome.values:
            raise ValueError(f"unknown outcome {outcome!r}")
        if target is None:
            target_type, target_id, target_label = "", "", ""
        elif isinstance(target, tuple):
            target_type, target_id, target_label = target
        else:
            target_type, target_id, target_label = target.audit_target
        # One spelling of the id, so the chain name and the MAC'd content match what reads back.
        ws_id = uuid.UUID(str(workspace_id)) if workspace_id else None
        chain = workspace_chain(ws_id) if ws_id else PLATFORM_CHAIN
        request = context.current()
        head = _lock_head(chain)
        actor_label = _clip(who.label, 320)
        event = AuditEvent(
            chain=chain,
            seq=head.seq + 1,
            workspace_id=ws_id,
            occurred_at=timezone.now(),
            actor_type=who.type,
            actor_id=_clip(who.id, 64),
            actor_label=actor_label,
            actor_index=actor_index(chain, actor_label),
            action=_clip(action, 100),
            target_type=_clip(target_type, 64),
            target_id=_clip(target_id, 64),
            target_label=_clip(target_label, 320),
            outcome=outcome,
            ip_address=_ip_address(request.ip_address),
            user_agent=_clip(request.user_agent, 512),
            request_id=_clip(request.request_id, 64),
            details=_neutralize_tree(details or {}),
            prev_mac=bytes(head.mac),
            mac=b"",
            mac_key_id=0,
        )
        tag = mac.compute(MAC_PURPOSE, canonical.event_content(event))
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


def _append_line(path: Path, line: str) -> None:
    """Append one line durably; the file is created readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def checkpoint_line(checkpoint: AuditCheckpoint) -> str:
    """The checkpoint as one JSON line of the checkpoint file."""
    return json.dumps(
        {
            "chain": checkpoint.chain,
            "seq": checkpoint.seq,
            "event_mac": bytes(checkpoint.event_mac).hex(),
            "created_at": canonical.timestamp(checkpoint.created_at),
            "tag": bytes(checkpoint.tag).hex(),
        },
        sort_keys=True,
        ensure_ascii=True,
    )


@transaction.atomic
def audit_checkpoint() -> list[AuditCheckpoint]:
    """Record each chain's last event (seq and MAC) under a MAC, in the database and in the file.

    The file (settings.AUDIT_CHECKPOINT_FILE) lives outside the database, so someone who cuts a
    chain's tail and deletes the database checkpoints with it is still caught. Chains whose head
    has not moved since their last checkpoint are skipped. Checkpointing is not itself audited:
    an event about it would move the head it just recorded.
    """
    made = []
    lines = []
    for chain in AuditChainHead.objects.order_by("chain").values_list("chain", flat=True):
        last = AuditEvent.objects.filter(chain=chain).order_by("-seq").only("seq", "mac").first()
        if last is None:
            continue
        event_mac = bytes(last.mac)
        previous = AuditCheckpoint.objects.filter(chain=chain).order_by("-seq", "-id").first()
        if previous is not None and previous.seq == last.seq and bytes(previous.event_mac) == event_mac:
            continue
        created_at = timezone.now()
        tag = mac.compute(
            MAC_PURPOSE,
            canonical.checkpoint_content(
                chain=chain, seq=last.seq, event_mac=event_mac, created_at=created_at
            ),
        )
        checkpoint = AuditCheckpoint.objects.create(
            chain=chain, seq=last.seq, event_mac=event_mac, created_at=created_at, tag=tag.value
        )
        made.append(checkpoint)
        lines.append(checkpoint_line(checkpoint))
    # Written last and inside the transaction: if the file cannot be written, the database
    # checkpoints roll back too, and the caller sees the error.
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    for line in lines:
        _append_line(path, line)
    return made


@transaction.atomic
def audit_mac_key_rotate(*, actor: Actor | HasAuditActor | None) -> int:
    """Make a new audit MAC key primary; the event recording it is the first made with it."""
    try:
        key_id = mac.rotate(MAC_PURPOSE)
    except (mac.MacError, OSError) as exc:
        raise AuditWriteError(f"could not rotate the audit MAC key: {exc}") from exc
    audit_record(actor=actor, action="audit.mac_key_rotated", details={"key_id": key_id})
    logger.info("audit MAC key rotated; new key %s", key_id)
    return key_id
