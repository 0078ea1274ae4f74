"""Workspaces, the roles and members in them and the invitations that bring people in.

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
from causeway.audit.models import ActorType
from causeway.audit.services import Actor
from causeway.vault.fields import SealedTextField, blind_index

SESSION_TIMEOUT_DEFAULT = timedelta(days=7)
SESSION_TIMEOUT_MIN = timedelta(minutes=15)
SESSION_TIMEOUT_MAX = timedelta(days=14)
INVITATION_EMAIL_INDEX_PURPOSE = "workspaces.invitation.email"
JOB_RETENTION_DEFAULT_DAYS = 30
JOB_RETENTION_MIN_DAYS = 1
JOB_RETENTION_MAX_DAYS = 3650


def invitation_email_index(email: str) -> str:
    """The blind index of an invited address. Its own purpose: a database reader cannot match an
    invitation's index to a user's."""
    return blind_index(INVITATION_EMAIL_INDEX_PURPOSE, normalize_email(email))


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    session_timeout = models.DurationField(default=SESSION_TIMEOUT_DEFAULT)
    # How long job history is kept before beat purges it (rule 14).
    job_retention_days = models.PositiveIntegerField(default=JOB_RETENTION_DEFAULT_DAYS)
    # Hosts an Admin allowed recipes to call even though they resolve to a loopback, private,
    # link-local or metadata address (rule 20). Exact names, or "*.example.com".
    outbound_allowed_hosts = models.JSONField(default=list, blank=True)
    # Members must have a second factor (an authenticator app) to act in this workspace.
    mfa_required = models.BooleanField(default=False)
    # A promotion into PROD waits for a second person's approval (never the requester's own).
    prod_second_approval = models.BooleanField(default=False)
    # A break-glass request approves itself (and is flagged) instead of waiting for another Admin.
    break_glass_self_approval = models.BooleanField(default=False)
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
            models.CheckConstraint(
                condition=models.Q(job_retention_days__gte=JOB_RETENTION_MIN_DAYS)
                & models.Q(job_retention_days__lte=JOB_RETENTION_MAX_DAYS),
                name="workspace_job_retention_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("workspace", str(self.id), self.name)


class Role(models.Model):
    """A named set of permissions a member holds (through the membership) or a group carries, over all
    projects or chosen ones. What the permission names mean is the policy's (`access.perms`); which
    projects a role scoped to chosen ones covers is recorded beside the projects
    (`recipes.RoleProject`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="roles"
    )
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=100)
    is_system = models.BooleanField(default=False)
    permissions = models.JSONField(default=list)
    all_projects = models.BooleanField(default=True)

    class Meta:
        # The table it was created with, when roles were kept with the policy.
        db_table = "access_role"
        ordering = ["is_system", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"],
                condition=models.Q(workspace__isnull=True),
                name="role_unique_system_key",
            ),
            models.UniqueConstraint(fields=["workspace", "key"], name="role_unique_workspace_key"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("role", str(self.id), self.name)


class Membership(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="memberships")
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
    role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
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


class ServiceAccount(models.Model):
    """A non-human identity of one workspace: API tokens only, never a page (rule 8)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="service_accounts")
    name = models.CharField(max_length=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="service_account_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    @property
    def audit_actor(self) -> Actor:
        return Actor(type=ActorType.SERVICE_ACCOUNT, id=str(self.id), label=f"service account {self.name}")

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("service_account", str(self.id), self.name)


class TokenKind(models.TextChoices):
    PERSONAL = "personal", "personal"
    SERVICE_ACCOUNT = "service_account", "service account"
    # An API client's key: a service account's, good only for calling the API collections its client
    # may call, never for the management API.
    API_KEY = "api_key", "API key"


class ApiToken(models.Model):
    """An API token: a person's own (personal) or a service account's. Shown once; only a SHA-256
    digest of the secret is kept, found by the token's public prefix and compared in constant time.

    The name its maker gave it is sealed under the platform's keyset, bound to the row (rule 10).
    Exactly one owner is set, the one its kind names.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=TokenKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens"
    )
    service_account = models.ForeignKey(
        ServiceAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="tokens"
    )
    name = SealedTextField()
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind=TokenKind.PERSONAL, user__isnull=False, service_account__isnull=True)
                    | models.Q(
                        kind__in=[TokenKind.SERVICE_ACCOUNT, TokenKind.API_KEY],
                        user__isnull=True,
                        service_account__isnull=False,
                    )
                ),
                name="api_token_one_owner_of_its_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def audit_target(self) -> tuple[str, str, str]:
        kind = {TokenKind.PERSONAL: "api_token", TokenKind.API_KEY: "api_key"}.get(
            TokenKind(self.kind), "service_account_token"
        )
        return (kind, str(self.id), f"{self.name} ({self.prefix})")
