"""Roles: the three system roles and, per workspace, the custom roles an Admin composes."""

from __future__ import annotations

import uuid

from django.db import models

from causeway.access.perms import Perm


class Role(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="roles"
    )
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=100)
    is_system = models.BooleanField(default=False)
    permissions = models.JSONField(default=list)
    all_projects = models.BooleanField(default=True)

    class Meta:
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
    def perms(self) -> frozenset[Perm]:
        known = {p.value for p in Perm}
        return frozenset(Perm(p) for p in self.permissions if p in known)

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("role", str(self.id), self.name)
