"""Jobs and their step-by-step history, and the state of each recipe's triggers.

The Job row is the source of truth for a job's state (rule 15): a worker claims it by taking a lease,
heartbeats while it runs, and the reaper recovers a job whose lease ran out. Everything a job carried
(trigger payload, each step's input, output and error, the failure reason) is masked, then sealed twice
(rule 11): under the workspace's keyset, then the platform's.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from causeway.access.perms import Perm
from causeway.access.policy import NOTHING, Actor, Standing, restrict
from causeway.accounts.models import INDEX_LENGTH
from causeway.recipes.models import Recipe, recipe_filter
from causeway.vault.fields import SealedJSONField, SealedTextField
from causeway.workspaces.models import Workspace


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
# Queued or running: a job whose state can still change, which a live page keeps polling for.
ACTIVE = frozenset(JobStatus) - frozenset(FINISHED)


class TriggerType(models.TextChoices):
    MANUAL = "manual", "Manual"
    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "Webhook"
    POLL = "poll", "Polling"
    API_ENDPOINT = "api_endpoint", "API endpoint"


def job_filter(st: Standing) -> Q:
    """Rule 8: every job of a recipe the actor may debug; otherwise only the jobs it ran itself, of
    recipes whose history it may view. A service account sees only the jobs it started."""
    if st.service_account:
        return Q(run_by_service_account=st.actor)
    if not st.human:
        return NOTHING
    recipes = Recipe.objects.filter(workspace=st.workspace)
    debuggable = recipes.filter(recipe_filter(st, Perm.RECIPE_DEBUG)).values("pk")
    viewable = recipes.filter(recipe_filter(st, Perm.JOB_VIEW)).values("pk")
    return Q(recipe_id__in=debuggable) | (Q(run_by_user=st.actor) & Q(recipe_id__in=viewable))


class JobQuerySet(models.QuerySet["Job"]):
    def visible_to(self, actor: Actor | None, workspace: Workspace | None = None) -> JobQuerySet:
        return restrict(self, actor, workspace, job_filter)


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="jobs")
    recipe = models.ForeignKey("recipes.Recipe", on_delete=models.CASCADE, related_name="jobs")
    version = models.ForeignKey("recipes.RecipeVersion", on_delete=models.PROTECT, related_name="jobs")
    environment = models.CharField(max_length=8)
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED)
    trigger_type = models.CharField(max_length=16, choices=TriggerType.choices)
    # A test run of a draft, started by hand, as opposed to a run of the started recipe.
    is_test = models.BooleanField(default=False)
    # Who or what ran it: a user, a service account, or neither (a schedule, webhook or poll).
    run_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    run_by_service_account = models.ForeignKey(
        "workspaces.ServiceAccount", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    # A retry (the recipe's retry policy): the failed attempt it follows, and its number (0: the first
    # attempt). Every attempt sends the first attempt's idempotency keys (`key_id`).
    retry_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retry"
    )
    retry_number = models.PositiveIntegerField(default=0)
    first_attempt = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trigger_payload = SealedJSONField(workspace_field="workspace", job_history=True, null=True)
    # Why it failed, masked (rule 13) and sealed like the rest of its history.
    error = SealedTextField(workspace_field="workspace", job_history=True, null=True)
    # Lease: which worker holds the job, until when; attempts counts claims, so a job that keeps
    # killing its worker is failed after a bounded number of them.
    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=200, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When a message for it was last handed to the broker; the reaper sends another for a queued job
    # whose message a broker lost.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # A transient failure is retried with back-off; the job is not dispatched before this.
    not_before = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    # What a running job is waiting for, such as a connection's rate budget; empty when it is not waiting.
    # Phrased by Causeway (a connection's name, a limit, a time), never from the job's data.
    waiting_for = models.CharField(max_length=300, blank=True, default="")
    # Cancelling: a queued job ends at once; a running one is asked to stop, and its worker ends it at
    # the next step boundary (or within a heartbeat of a long wait). Who asked, in words.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(max_length=320, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"]),
            models.Index(fields=["recipe", "-created_at"]),
            models.Index(fields=["status", "lease_expires_at"]),
        ]

    def __str__(self) -> str:
        return f"job {self.id}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("job", str(self.id), str(self.id)[:8])

    @property
    def key_id(self) -> str:
        """The job named by the idempotency keys its steps send: its first attempt's, so a retry of a
        failed job is one effect per key with it (rule 15)."""
        return str(self.first_attempt_id or self.id)


class StepStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class JobStep(models.Model):
    """One step of one job: `path` names it in the recipe ("s1", or "s3[2].s4" inside a for-each)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="steps")
    path = models.CharField(max_length=200)
    position = models.PositiveIntegerField()
    step_type = models.CharField(max_length=20)
    status = models.CharField(max_length=12, choices=StepStatus.choices)
    input = SealedJSONField(workspace_field="workspace", job_history=True, null=True)
    output = SealedJSONField(workspace_field="workspace", job_history=True, null=True)
    error = SealedTextField(workspace_field="workspace", job_history=True, null=True)
    attempts = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "path"], name="job_step_unique_path")]

    def __str__(self) -> str:
        return f"{self.path} of {self.job_id}"


class SecretUse(models.Model):
    """Where a credential went: one row each time a step resolved a secret (or was refused it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    secret_name = models.CharField(max_length=100)
    job = models.ForeignKey(Job, null=True, on_delete=models.SET_NULL, related_name="secret_uses")
    step_path = models.CharField(max_length=200)
    host = models.CharField(max_length=255)
    allowed = models.BooleanField()
    used_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-used_at"]
        indexes = [models.Index(fields=["workspace", "secret_name", "-used_at"])]

    def __str__(self) -> str:
        return f"{self.secret_name} to {self.host}"


class WebhookEndpoint(models.Model):
    """A recipe's webhook: a unique URL token, and a signing secret every call is checked against."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    recipe = models.OneToOneField("recipes.Recipe", on_delete=models.CASCADE, related_name="webhook")
    token = models.CharField(max_length=64, unique=True)
    signing_secret = SealedTextField(workspace_field="workspace")
    created_at = models.DateTimeField(auto_now_add=True)
    # When the signing secret was last replaced (it is shown once, then never again).
    secret_set_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"webhook of {self.recipe_id}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("webhook", str(self.id), str(self.recipe_id))


class WebhookDelivery(models.Model):
    """A call a webhook accepted, kept as long as it could come back: its signature is never accepted
    twice, and the sender's Idempotency-Key names the job the first call started."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+")
    # SHA-256 of the signature's matching v1 digest (which binds the time and the body).
    signature_digest = models.CharField(max_length=64)
    # A blind index of the sender's Idempotency-Key; empty when it sent none.
    idempotency_index = models.CharField(max_length=INDEX_LENGTH, blank=True, default="")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+")
    received_at = models.DateTimeField()
    # The later of: the signature's time plus the tolerance; the idempotency window, with a key.
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "signature_digest"], name="webhook_delivery_signature"
            ),
            models.UniqueConstraint(
                fields=["endpoint", "idempotency_index"],
                condition=~models.Q(idempotency_index=""),
                name="webhook_delivery_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"delivery to {self.endpoint_id}"


class TriggerState(models.Model):
    """What a schedule or poll trigger remembers between firings."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    recipe = models.OneToOneField("recipes.Recipe", on_delete=models.CASCADE, related_name="trigger_state")
    # Schedule: the last time it fired for, and the next time it is due.
    last_fired_for = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Poll: the cursor (the newest item seen), sealed since it comes from the source's data.
    cursor = SealedTextField(workspace_field="workspace", null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    # Why the last poll failed (masked, and phrased without the source's data), shown to the
    # recipe's readers; cleared by the next poll that succeeds.
    last_error = SealedTextField(workspace_field="workspace", null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"trigger state of {self.recipe_id}"


class PolledItem(models.Model):
    """An item a poll trigger already started a job for, by a blind index of its key: never twice."""

    id = models.BigAutoField(primary_key=True)
    recipe = models.ForeignKey("recipes.Recipe", on_delete=models.CASCADE, related_name="+")
    # A blind index is a Tink tag in hex (key id and MAC): longer than 64 characters.
    key_index = models.CharField(max_length=INDEX_LENGTH)
    job = models.ForeignKey(Job, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["recipe", "key_index"], name="polled_item_unique")]

    def __str__(self) -> str:
        return f"item of {self.recipe_id}"


class BreakGlass(models.Model):
    """A person's time-limited access to PROD job data: asked for with a reason, approved by an Admin
    (or by themselves where the workspace allows it, flagged), in force until `expires_at` unless it is
    ended sooner. A request still waiting may be withdrawn by its requester or refused by an Admin.
    The reason names incidents and customers, so it is sealed like job data (rule 10)."""

    REQUESTED, APPROVED = "requested", "approved"
    WITHDRAWN, REFUSED, ENDED = "withdrawn", "refused", "ended"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = SealedTextField(workspace_field="workspace")
    minutes = models.PositiveIntegerField()
    status = models.CharField(max_length=12, default=REQUESTED)
    self_approved = models.BooleanField(default=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Who withdrew, refused or ended it, and when: a person, or the command line's system actor.
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_label = models.CharField(max_length=320, blank=True, default="")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "user", "expires_at"])]

    def __str__(self) -> str:
        return f"break-glass {self.id}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("break_glass", str(self.id), self.user.email if self.user else str(self.id)[:8])
