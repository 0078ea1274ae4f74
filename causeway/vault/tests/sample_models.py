"""A model that exists only in the tests, with one sealed field of each kind, on a real table."""

from __future__ import annotations

import uuid

from django.db import models

from causeway.vault.fields import SealedBinaryField, SealedJSONField, SealedTextField


class SampleRecord(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace_id = models.UUIDField(null=True, blank=True)
    label = models.CharField(max_length=100, default="")
    first = SealedTextField(workspace_field="workspace_id", null=True)
    second = SealedTextField(workspace_field="workspace_id", null=True)
    profile = SealedTextField(null=True)  # platform-scoped, like a user's name
    details = SealedJSONField(workspace_field="workspace_id", default=dict)
    blob = SealedBinaryField(workspace_field="workspace_id", null=True)
    history = SealedJSONField(workspace_field="workspace_id", job_history=True, null=True)

    class Meta:
        app_label = "vault"
        db_table = "vault_test_sample_record"

    def __str__(self) -> str:
        return self.label
