"""The vault's tables: keysets wrapped by the root key, and each workspace's write-only secrets."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from causeway.vault.fields import SealedTextField


class WrappedKeyset(models.Model):
    """A Tink keyset encrypted by the root key, so a database reader cannot use it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=64)
    workspace_id = models.UUIDField(null=True, blank=True)
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When the primary key last changed: a demoted key may still be in use by a process whose cache
    # has not expired, so retiring waits for a grace period after this.
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["purpose"],
                condition=models.Q(workspace_id__isnull=True),
                name="vault_one_platform_keyset_per_purpose",
            ),
            models.UniqueConstraint(
                fields=["purpose", "workspace_id"],
                name="vault_one_workspace_keyset_per_purpose",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} keyset"


class Secret(models.Model):
    """A named value of one workspace: used by recipes at step time, never shown again once set."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace_id = models.UUIDField(db_index=True)
    name = models.CharField(max_length=100)
    value = SealedTextField(workspace_field="workspace_id")
    # Where the worker may send the value: exact host names, or "*.example.com" for any subdomain.
    # Empty: anywhere the workspace's outbound policy allows.
    allowed_hosts = models.JSONField(default=list, blank=True)
    created_by = models.UUIDField(null=True, blank=True)
    updated_by = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace_id", "name"], name="vault_secret_unique_name"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"secret {self.name}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("secret", str(self.id), self.name)
