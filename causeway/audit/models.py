"""Audit events, the per-chain head used to append in order, and checkpoints of the heads."""

from __future__ import annotations

import uuid

from django.db import models

PLATFORM_CHAIN = "platform"


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

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain = models.CharField(max_length=80)
    seq = models.PositiveBigIntegerField()
    workspace_id = models.UUIDField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    actor_type = models.CharField(max_length=20, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=320, blank=True)
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=320, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict)
    prev_mac = models.BinaryField()
    mac = models.BinaryField()
    mac_key_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_unique_chain_seq"),
        ]
        indexes = [
            models.Index(fields=["workspace_id", "-occurred_at"], name="audit_event_ws_time"),
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
