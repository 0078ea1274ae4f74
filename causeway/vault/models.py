"""Keysets stored in the database, each wrapped by the root key so a database reader cannot use them."""

from __future__ import annotations

import uuid

from django.db import models


class WrappedKeyset(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=64)
    workspace_id = models.UUIDField(null=True, blank=True)
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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
