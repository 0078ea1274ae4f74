"""Roles, groups, per-recipe grants and environment ceilings: what the policy reasons over.

Recipes and projects live in a higher layer; they are referred to here by Django's string references.
"""

from __future__ import annotations

import uuid

from django.db import models

from causeway.access.perms import CAPABILITY_NAMES, Environment, Perm, granted


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
    # The project scope when `all_projects` is off.
    projects = models.ManyToManyField("recipes.Project", blank=True, related_name="+")

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


class Group(models.Model):
    """Users and service accounts that together carry roles and recipe grants; permissions only add."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=100)
    roles = models.ManyToManyField(Role, blank=True, related_name="groups")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="group_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("group", str(self.id), self.name)


class GroupMember(models.Model):
    """One user or one service account in a group."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.CASCADE, related_name="group_memberships"
    )
    service_account = models.ForeignKey(
        "workspaces.ServiceAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="group_memberships",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(user__isnull=False) & models.Q(service_account__isnull=True))
                | (models.Q(user__isnull=True) & models.Q(service_account__isnull=False)),
                name="group_member_one_identity",
            ),
            models.UniqueConstraint(
                fields=["group", "user"],
                condition=models.Q(user__isnull=False),
                name="group_member_unique_user",
            ),
            models.UniqueConstraint(
                fields=["group", "service_account"],
                condition=models.Q(service_account__isnull=False),
                name="group_member_unique_service_account",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id or self.service_account_id} in {self.group_id}"


class RecipeGrant(models.Model):
    """Per-recipe capabilities (read, write, execute, debug) given to a user, a service account or a group."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    recipe = models.ForeignKey("recipes.Recipe", on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.CASCADE, related_name="recipe_grants"
    )
    service_account = models.ForeignKey(
        "workspaces.ServiceAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="recipe_grants",
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="recipe_grants"
    )
    read = models.BooleanField(default=False)
    write = models.BooleanField(default=False)
    execute = models.BooleanField(default=False)
    debug = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, service_account__isnull=True, group__isnull=True)
                    | models.Q(user__isnull=True, service_account__isnull=False, group__isnull=True)
                    | models.Q(user__isnull=True, service_account__isnull=True, group__isnull=False)
                ),
                name="recipe_grant_one_grantee",
            ),
            models.UniqueConstraint(
                fields=["recipe", "user"],
                condition=models.Q(user__isnull=False),
                name="recipe_grant_unique_user",
            ),
            models.UniqueConstraint(
                fields=["recipe", "service_account"],
                condition=models.Q(service_account__isnull=False),
                name="recipe_grant_unique_service_account",
            ),
            models.UniqueConstraint(
                fields=["recipe", "group"],
                condition=models.Q(group__isnull=False),
                name="recipe_grant_unique_group",
            ),
        ]

    def __str__(self) -> str:
        return f"grant on {self.recipe_id}"

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(c for c in CAPABILITY_NAMES if getattr(self, c))

    @property
    def perms(self) -> frozenset[Perm]:
        return granted(self.capabilities)

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("recipe_grant", str(self.id), str(self.recipe_id))


class EnvironmentPolicy(models.Model):
    """An environment's ceiling: the most a human may hold there (rule 5). Missing: the defaults."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="environment_policies"
    )
    environment = models.CharField(max_length=8, choices=[(e.value, e.name) for e in Environment])
    capabilities = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "environment"], name="environment_policy_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.environment} policy"

    @property
    def ceiling(self) -> frozenset[str]:
        return frozenset(c for c in self.capabilities if c in CAPABILITY_NAMES)

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("environment_policy", str(self.id), self.environment.upper())
