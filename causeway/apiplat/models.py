"""The API platform: collections of endpoints that run recipes, the clients that call them, and the calls."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class HttpMethod(models.TextChoices):
    GET = "GET", "GET"
    POST = "POST", "POST"
    PUT = "PUT", "PUT"
    PATCH = "PATCH", "PATCH"
    DELETE = "DELETE", "DELETE"


class ApiCollection(models.Model):
    """A set of endpoints a project publishes. It belongs to the project, not to one environment's copy:
    it answers in DEV, TEST and PROD, each under its own base path, each endpoint running that
    environment's copy of its recipe. `project` is the project's DEV copy, where it is built."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey("recipes.Project", on_delete=models.PROTECT, related_name="api_collections")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60)
    description = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API collection"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="api_collection_unique_slug"),
            models.UniqueConstraint(fields=["workspace", "name"], name="api_collection_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("api_collection", str(self.id), self.name)


class ApiEndpoint(models.Model):
    """A method and path of a collection, bound to a recipe whose trigger is `api_endpoint`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    collection = models.ForeignKey(ApiCollection, on_delete=models.CASCADE, related_name="endpoints")
    method = models.CharField(max_length=8, choices=HttpMethod.choices)
    # Segments of letters, digits and `._~-`, or `{name}` path parameters: "/orders/{order_id}".
    path = models.CharField(max_length=200)
    # The recipe's DEV copy; TEST and PROD run their copy of it (the same family).
    recipe = models.ForeignKey("recipes.Recipe", on_delete=models.PROTECT, related_name="+")
    summary = models.CharField(max_length=200, blank=True, default="")
    # JSON Schema (draft 2020-12) of the request body; null: the endpoint takes no body.
    request_schema = models.JSONField(null=True, blank=True)
    # JSON Schema of the answer's body, for the collection's OpenAPI document.
    response_schema = models.JSONField(null=True, blank=True)
    query_parameters = models.JSONField(default=list)
    headers = models.JSONField(default=list)
    timeout_seconds = models.PositiveIntegerField(default=30)
    # Limits on every call to the endpoint, whichever client makes it; null: none.
    rate_per_second = models.PositiveIntegerField(null=True, blank=True)
    quota_per_day = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API endpoint"
        ordering = ["path", "method"]
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "method", "path"], name="api_endpoint_unique_method_path"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("api_endpoint", str(self.id), f"{self.method} {self.path}")


class ApiClient(models.Model):
    """A caller of collections: a service account whose keys (`api_key` tokens) call the collections
    chosen here, and only from the source addresses listed (any, when none is)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    service_account = models.OneToOneField(
        "workspaces.ServiceAccount", on_delete=models.CASCADE, related_name="api_client"
    )
    collections = models.ManyToManyField(ApiCollection, blank=True, related_name="clients")
    allowed_sources = models.JSONField(default=list)
    # Limits on every call the client makes, to any endpoint; null: none.
    rate_per_second = models.PositiveIntegerField(null=True, blank=True)
    quota_per_day = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return str(self.service_account.name)

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("api_client", str(self.id), str(self.service_account.name))


class ApiCall(models.Model):
    """One answered call: what usage is counted from, and how a client finds the job it started."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(ApiEndpoint, on_delete=models.CASCADE, related_name="calls")
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="calls")
    environment = models.CharField(max_length=8)
    job = models.ForeignKey("runs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.PositiveSmallIntegerField()
    latency_ms = models.FloatField()
    at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["endpoint", "client", "at"])]

    def __str__(self) -> str:
        return f"{self.status} in {self.latency_ms:.0f} ms"


class ApiRefusals(models.Model):
    """Calls refused for a rate limit or quota: one count per endpoint, client, environment and UTC day,
    not a row per refusal (a client hammering past its limit costs an update, and fills no table)."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(ApiEndpoint, on_delete=models.CASCADE, related_name="refusals")
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="refusals")
    environment = models.CharField(max_length=8)
    day = models.DateField(db_index=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "client", "environment", "day"], name="api_refusals_one_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.count} refused on {self.day}"
