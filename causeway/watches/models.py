"""Who watches which recipe, how each watcher is told of its failures, and the messages sent to them.

A watch remembers up to which failure its watcher was told (`told_until`) and when the last message went
(`last_message_at`): a message goes at most once per the workspace's interval and counts the failures
since the last one. Each message is one `Notice` per channel, sent and retried by the worker on its own,
so a channel that fails is retried without sending the others twice.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

INTERVAL_DEFAULT_MINUTES = 15
INTERVAL_MIN_MINUTES = 1
INTERVAL_MAX_MINUTES = 7 * 24 * 60
# Tries of one message on one channel before it is given up (with back-off between them).
NOTICE_MAX_ATTEMPTS = 6
# The connectors a watcher may be told through, and the action each is told with.
CONNECTOR_ACTIONS = {"slack": "post_message", "http": "post"}


class NotificationSettings(models.Model):
    """A workspace's notification settings (Admin-only, rule 3); without a row, the defaults."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    interval_minutes = models.PositiveIntegerField(default=INTERVAL_DEFAULT_MINUTES)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(interval_minutes__gte=INTERVAL_MIN_MINUTES)
                & models.Q(interval_minutes__lte=INTERVAL_MAX_MINUTES),
                name="notification_interval_in_range",
            )
        ]

    def __str__(self) -> str:
        return f"notification settings of {self.workspace_id}"


class Watch(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    recipe = models.ForeignKey("recipes.Recipe", on_delete=models.CASCADE, related_name="watches")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    by_email = models.BooleanField(default=True)
    # A Slack or HTTP/REST connection the watcher may use (their own personal one, or a company one they
    # linked), checked again before every message (rule 6); gone with the connection.
    connection = models.ForeignKey(
        "connections.Connection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Slack: the channel's id; HTTP/REST: the path under the connection's base URL (empty: the base URL).
    channel = models.CharField(max_length=200, blank=True, default="")
    include_tests = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Failures that finished up to this time have been told of (or came before the watch).
    told_until = models.DateTimeField()
    last_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "recipe"], name="watch_unique")]

    def __str__(self) -> str:
        return f"watch of {self.recipe_id}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("recipe", str(self.recipe_id), self.recipe.name)

    @property
    def latest_notice(self) -> Notice | None:
        """The last message made for this watch, and how sending it went (fetched with the list when the
        list asked for it: `watches_list`)."""
        fetched = getattr(self, "last_notices", None)
        if fetched is not None:
            return fetched[0] if fetched else None
        return self.notices.order_by("-created_at").first()


class NoticeState(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Could not be sent"
    DROPPED = "dropped", "Not sent: the watcher may no longer see it"


class Notice(models.Model):
    """One message of one watch on one channel: what it tells (a count and the latest failed job, whose
    reason is read, masked, when it is sent) and how sending it went."""

    EMAIL = "email"
    CONNECTION = "connection"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    watch = models.ForeignKey(Watch, on_delete=models.CASCADE, related_name="notices")
    channel = models.CharField(max_length=12)
    failures = models.PositiveIntegerField()
    job = models.ForeignKey("runs.Job", null=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=10, choices=NoticeState.choices, default=NoticeState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Why the last try failed, phrased by Causeway (an exception's kind, a provider's error code).
    last_error = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(db_index=True)
    # A worker sending it holds it until then; another one takes it only after.
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"notice {self.id}"
