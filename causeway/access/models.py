"""Groups and environment ceilings: what the policy reasons over besides a member's role.

A role lives with the memberships that hold it (`workspaces.Role`); a role's project scope and the
per-recipe grants live with the projects and recipes they name (`recipes.RoleProject`,
`recipes.RecipeGrant`). Every relation here points down the layers.
"""

from __future__ import annotations

import uuid

from django.db import models

from causeway.access.perms import CAPABILITY_NAMES, Environment
from causeway.workspaces.models import Role


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


class GroupClaimMapping(models.Model):
    """One value of a group claim (an OpenID Connect claim such as `groups`, a SAML attribute) that puts
    the members it names into one group of this workspace, at each sign-in through `provider`; a member
    whom the claim no longer names leaves the group at their next such sign-in."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="group_claim_mappings"
    )
    provider = models.ForeignKey(
        "accounts.IdentityProvider", on_delete=models.CASCADE, related_name="group_claim_mappings"
    )
    claim = models.CharField(max_length=100, default="groups")
    value = models.CharField(max_length=200)
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="claim_mappings")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["claim", "value", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "provider", "claim", "value"], name="group_claim_mapping_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.claim}={self.value} -> {self.group_id}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("group_claim_mapping", str(self.id), f"{self.claim}={self.value}")
