"""Projects, folders, recipes and their immutable versions, lookup tables, and a user's bookmarks.

A recipe's definition and every lookup-table row are sealed under the workspace's keyset (rule 10).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from causeway.access.perms import Environment
from causeway.vault.fields import SealedJSONField

ENVIRONMENT_CHOICES = [(e.value, e.name) for e in Environment]


class Project(models.Model):
    """A container for recipes, folders, connections and lookup tables, in one environment."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="projects")
    environment = models.CharField(max_length=8, choices=ENVIRONMENT_CHOICES, default=Environment.DEV.value)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "environment", "name"], name="project_unique_name"),
        ]
        indexes = [models.Index(fields=["workspace", "environment"])]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("project", str(self.id), self.name)


class Folder(models.Model):
    """A folder inside a project; folders nest."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="folders")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "parent", "name"],
                condition=models.Q(parent__isnull=False),
                name="folder_unique_name",
            ),
            models.UniqueConstraint(
                fields=["project", "name"],
                condition=models.Q(parent__isnull=True),
                name="folder_unique_top_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("folder", str(self.id), self.name)


class Recipe(models.Model):
    """A trigger plus steps; what it does is in its versions, the newest being `current_version`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="recipes")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="recipes")
    folder = models.ForeignKey(
        Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="recipes"
    )
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True, default="")
    # The trigger type of the current version, kept plain so schedules and lists need not open definitions.
    trigger_type = models.CharField(max_length=16, default="manual")
    current_version = models.ForeignKey(
        "RecipeVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Started: its trigger fires and runs `active_version`. Stopped: only test runs.
    active = models.BooleanField(default=False)
    active_version = models.ForeignKey(
        "RecipeVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="recipe_unique_name"),
        ]
        indexes = [models.Index(fields=["workspace", "project"]), models.Index(fields=["workspace", "name"])]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("recipe", str(self.id), self.name)


class RecipeVersion(models.Model):
    """One saved state of a recipe. Never changed after it is written."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = SealedJSONField(workspace_field="workspace")
    message = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recipe", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["recipe", "number"], name="recipe_version_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.recipe_id} v{self.number}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("recipe_version", str(self.id), f"v{self.number}")


class LookupTable(models.Model):
    """A small keyed table that recipes read and write. Column names and types are its schema:
    `columns` is a list of {"name": ..., "type": "text" | "integer" | "number" | "boolean" | "date"};
    `key_column` names the column that keys each row."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="lookup_tables"
    )
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="lookup_tables")
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=100)
    columns = models.JSONField(default=list)
    key_column = models.CharField(max_length=60)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="lookup_table_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("lookup_table", str(self.id), self.name)


class LookupRow(models.Model):
    """One row: its values sealed; `key_index`, a blind index of its key, is how it is found."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    table = models.ForeignKey(LookupTable, on_delete=models.CASCADE, related_name="rows")
    key_index = models.CharField(max_length=80)  # a Tink HMAC tag in hex: 74 characters
    values = SealedJSONField(workspace_field="workspace")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["table", "key_index"], name="lookup_row_unique_key")]

    def __str__(self) -> str:
        return f"row of {self.table_id}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("lookup_row", str(self.id), str(self.table_id))


class Bookmark(models.Model):
    """A recipe a user pinned."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bookmarks")
    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="bookmarks")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "recipe"], name="bookmark_unique")]

    def __str__(self) -> str:
        return f"bookmark of {self.recipe_id}"
