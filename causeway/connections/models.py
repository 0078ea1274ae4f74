"""Connections to external accounts, their links to users, connector enablement and the record of use.

A connection's credentials are one sealed JSON value (AES-256-GCM under the workspace's keyset), bound
by its associated data to the workspace, this table, the connection's row and the `credentials` field
(rule 10): copied into another connection or workspace, it does not open. Nothing reads them but the
worker resolving the connection for one step, and the connection test its owner starts; no page, API
answer, log line or audit event carries them (rule 13).
"""

from __future__ import annotations

import uuid

from django.conf import settings as django_settings
from django.db import models

from causeway.vault.fields import SealedJSONField, SealedTextField


class Kind(models.TextChoices):
    PERSONAL = "personal", "Personal"
    COMPANY = "company", "Company"


class Health(models.TextChoices):
    UNKNOWN = "unknown", "Not tested"
    HEALTHY = "healthy", "Healthy"
    FAILING = "failing", "Failing"
    # An OAuth connection whose tokens the provider no longer honours: its owner signs in again.
    REAUTH = "reauth", "Needs re-authorisation"


class Connection(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # A personal connection's owner: the one person whose jobs may use it (rule 6). None for company.
    owner = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=100)
    connector_key = models.CharField(max_length=40)
    auth_method = models.CharField(max_length=20)
    # The connector's settings (a base URL): not secret, shown on the connection's page.
    settings = models.JSONField(default=dict)
    credentials = SealedJSONField(workspace_field="workspace", null=True)
    granted_scopes = models.JSONField(default=list)
    # The workspace's OAuth client this connection signed in through, in place of the connector's own.
    # A profile in use is not removed on its own (RESTRICT); removing the whole workspace takes both.
    oauth_profile = models.ForeignKey(
        "connections.OAuthProfile", null=True, blank=True, on_delete=models.RESTRICT, related_name="+"
    )
    enabled_actions = models.JSONField(default=list)
    health = models.CharField(max_length=10, choices=Health.choices, default=Health.UNKNOWN)
    health_message = models.CharField(max_length=300, blank=True, default="")
    health_checked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The provider answered 429 with Retry-After: no request goes out through it before this time.
    paused_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="personal", owner__isnull=False) | models.Q(kind="company", owner=None)
                ),
                name="connection_owner_matches_kind",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "kind"])]

    def __str__(self) -> str:
        return f"connection {self.name}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("connection", str(self.id), self.name)

    @property
    def personal(self) -> bool:
        return self.kind == Kind.PERSONAL


class ConnectionLink(models.Model):
    """A user's consent that jobs run on their behalf may use a company connection."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="links")
    user = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "user"], name="connection_link_unique")]

    def __str__(self) -> str:
        return f"link of {self.user_id} to {self.connection_id}"


class ConnectorEnablement(models.Model):
    """A connector an Admin enabled for a workspace; without a row the connector is disabled there."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    connector_key = models.CharField(max_length=40)
    enabled_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enabled_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "connector_key"], name="connector_enabled_once")
        ]

    def __str__(self) -> str:
        return f"{self.connector_key} enabled"


class Outcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REFUSED = "refused", "Refused"


class ConnectionUse(models.Model):
    """One use of a connection (or one refused attempt): which job and step, which action, where, how."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="uses")
    action = models.CharField(max_length=40)
    # Jobs live in a higher layer: referred to by id.
    job_id = models.UUIDField(null=True, blank=True, db_index=True)
    step_path = models.CharField(max_length=200, blank=True, default="")
    on_behalf_of = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    host = models.CharField(max_length=255, blank=True, default="")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    # Why it was refused or failed: phrased by Causeway, masked; never the provider's data.
    detail = models.CharField(max_length=300, blank=True, default="")
    used_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-used_at", "-id"]
        indexes = [models.Index(fields=["connection", "-used_at"])]

    def __str__(self) -> str:
        return f"{self.action} of {self.connection_id}"


class CustomConnector(models.Model):
    """A declarative connector of one workspace: a document checked by `declarative.Document`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=40)
    # The normalised document (every default filled in): not secret, since it holds no credential.
    document = models.JSONField()
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="custom_connector_unique_key")
        ]

    def __str__(self) -> str:
        return f"custom connector {self.key}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("connector", self.key, str(self.document.get("name", self.key)))


class RateBudget(models.Model):
    """At most `limit` requests per `period_seconds` through one connection, or through all of one
    connector's connections in a workspace; counted in fixed periods shared by every worker process."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    connector_key = models.CharField(max_length=40)
    # None: the budget of the connector in the workspace; else that connection's own.
    connection = models.OneToOneField(
        Connection, null=True, blank=True, on_delete=models.CASCADE, related_name="budget"
    )
    limit = models.PositiveIntegerField()
    period_seconds = models.PositiveIntegerField()
    updated_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "connector_key"],
                condition=models.Q(connection=None),
                name="rate_budget_one_per_connector",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.limit} per {self.period_seconds} s"

    def describe(self) -> str:
        return f"{self.limit} request{'s' if self.limit != 1 else ''} per {self.period_seconds} s"


class OAuthProfile(models.Model):
    """A workspace's own OAuth 2.0 client for a connector, used in place of the connector's built-in one.

    The client secret is sealed like a connection's credentials (bound to this row and field, rule 10) and
    never shown again; the rest is what the connect flow and the pages show.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    connector_key = models.CharField(max_length=40)
    display_name = models.CharField(max_length=100)
    # An SVG document, shown as an image (never inline) beside the display name.
    logo = models.TextField(blank=True, default="")
    client_id = models.CharField(max_length=300)
    client_secret = SealedTextField(workspace_field="workspace", null=True)
    authorize_url = models.CharField(max_length=500)
    token_url = models.CharField(max_length=500)
    revoke_url = models.CharField(max_length=500, blank=True, default="")
    default_scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "display_name"], name="oauth_profile_unique_display_name"
            )
        ]

    def __str__(self) -> str:
        return f"OAuth profile {self.display_name}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("oauth_profile", str(self.id), self.display_name)
