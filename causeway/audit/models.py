"""Audit events, the per-chain head used to append in order, and checkpoints of the heads.

An event's free text (actor and target labels, user agent, details) is sealed (rule 10) under its
workspace's keyset, the platform's for the platform chain; the MAC still covers the plaintext. Events
are never rewritten, so re-encryption leaves them under the key that sealed them (`sealed_append_only`).
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models

from causeway.vault.fields import SealedJSONField, SealedTextField, blind_index

PLATFORM_CHAIN = "platform"
ACTOR_INDEX_PURPOSE = "audit.event.actor_label"


def actor_index(chain: str, label: str) -> str:
    """The blind index of an actor label within one chain: equal for labels equal but for case.

    The chain is part of the indexed value, so the same person's index differs between workspaces and
    a database reader cannot link their (sealed) labels across tenants.
    """
    return blind_index(ACTOR_INDEX_PURPOSE, f"{chain}\n{label.casefold()}")


def workspace_chain(workspace_id: uuid.UUID | str) -> str:
    return f"workspace:{workspace_id}"


class ActorType(models.TextChoices):
    USER = "user"
    SERVICE_ACCOUNT = "service_account"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


class Outcome(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class AuditEvent(models.Model):
    """One fact. Rows are never updated or deleted: the database refuses both."""

    # Read by the vault's rotation: re-encryption never rewrites these rows, and a key that still seals
    # any of them cannot be retired (docs/vault.md, "Audit events keep their keys").
    sealed_append_only: ClassVar[bool] = True

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain = models.CharField(max_length=80)
    seq = models.PositiveBigIntegerField()
    workspace_id = models.UUIDField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    actor_type = models.CharField(max_length=20, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = SealedTextField(workspace_field="workspace_id")
    # A keyed blind index of the chain and the case-folded actor label: how the log is searched by actor.
    actor_index = models.CharField(max_length=80, blank=True, default="")
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = SealedTextField(workspace_field="workspace_id")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = SealedTextField(workspace_field="workspace_id")
    request_id = models.CharField(max_length=64, blank=True)
    details = SealedJSONField(workspace_field="workspace_id", default=dict)
    prev_mac = models.BinaryField()
    mac = models.BinaryField()
    mac_key_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_unique_chain_seq"),
        ]
        indexes = [
            models.Index(fields=["workspace_id", "-occurred_at"], name="audit_event_ws_time"),
            models.Index(fields=["chain", "actor_index"], name="audit_event_chain_actor"),
        ]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action}"


class AuditChainHead(models.Model):
    """The last link of a chain; appenders lock this row so sequence numbers stay gap-free."""

    chain = models.CharField(max_length=80, primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)
    mac = models.BinaryField(default=b"")

    def __str__(self) -> str:
        return f"{self.chain} at #{self.seq}"


class AuditCheckpoint(models.Model):
    """A MAC-signed record of a chain's head at one moment, also appended to a file outside the database."""

    id = models.BigAutoField(primary_key=True)
    chain = models.CharField(max_length=80)
    seq = models.PositiveBigIntegerField()
    event_mac = models.BinaryField()
    created_at = models.DateTimeField()
    tag = models.BinaryField()

    class Meta:
        indexes = [models.Index(fields=["chain", "-seq"], name="audit_checkpoint_chain_seq")]

    def __str__(self) -> str:
        return f"checkpoint {self.chain}#{self.seq}"


class RefusalCount(models.Model):
    """A count of refused calls shared by every process, when the counts are kept in the database.

    Keys name the kind of count, the source and the interval; a row outlives its interval only until
    the interval's aggregate event is written, and the periodic flush deletes it after `expires_at`.
    """

    key = models.CharField(max_length=200, primary_key=True)
    count = models.PositiveBigIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"


class RefusalTally(models.Model):
    """An interval in which one source had calls of one kind refused: the first refusal is on the chain at
    once (`first_event`); the others are counted and written as one event when the interval closes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The key of the interval's count (a RefusalCount row, or a Redis key at scale): one tally per key.
    key = models.CharField(max_length=200, unique=True)
    source = models.CharField(max_length=64)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # What the interval's events record, as the first event recorded it.
    action = models.CharField(max_length=100)
    workspace_id = models.UUIDField(null=True, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = SealedTextField(workspace_field="workspace_id")
    opened_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    first_event = models.ForeignKey(AuditEvent, on_delete=models.CASCADE, related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["closes_at"], name="audit_refusal_closes"),
            models.Index(fields=["source", "closes_at"], name="audit_refusal_source_closes"),
        ]

    def __str__(self) -> str:
        return f"refusals {self.key}"
