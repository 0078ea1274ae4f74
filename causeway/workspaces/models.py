"""Workspaces, the members in them and the invitations that bring people in.

An invitation's email is sealed (rule 10) under its workspace's keyset (the platform's for a platform
invitation); `email_index`, a keyed blind index of the normalised address, is what the one pending
invitation per address check looks it up by.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from causeway.accounts.models import INDEX_LENGTH, normalize_email
from causeway.vault.fields import SealedTextField, blind_index

SESSION_TIMEOUT_DEFAULT = timedelta(days=7)
SESSION_TIMEOUT_MIN = timedelta(minutes=15)
SESSION_TIMEOUT_MAX = timedelta(days=14)
INVITATION_EMAIL_INDEX_PURPOSE = "workspaces.invitation.email"


def invitation_email_index(email: str) -> str:
    """The blind index of an invited address. Its own purpose: a database reader cannot match an
    invitation's index to a user's."""
    return blind_index(INVITATION_EMAIL_INDEX_PURPOSE, normalize_email(email))


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    session_timeout = models.DurationField(default=SESSION_TIMEOUT_DEFAULT)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(session_timeout__gte=SESSION_TIMEOUT_MIN)
                & models.Q(session_timeout__lte=SESSION_TIMEOUT_MAX),
                name="workspace_session_timeout_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("workspace", str(self.id), self.name)


class Membership(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.ForeignKey("access.Role", on_delete=models.PROTECT, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.workspace_id}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("membership", str(self.id), str(self.user))


class Invitation(models.Model):
    """A single-use invitation, stored as a digest of its secret; without a workspace, a platform one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="invitations"
    )
    email = SealedTextField(workspace_field="workspace")
    # Kept in step with `email` by save().
    email_index = models.CharField(max_length=INDEX_LENGTH, db_index=True, editable=False)
    user_type = models.CharField(max_length=10, default="standard")
    role = models.ForeignKey("access.Role", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation for {self.email}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "email" in update_fields:
            self.email_index = invitation_email_index(self.email)
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "email_index"}
        super().save(*args, **kwargs)

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("invitation", str(self.id), self.email)
