"""The permission vocabulary, shared by roles, grants, pages, the API and the audit log."""

from __future__ import annotations

from enum import StrEnum


class Perm(StrEnum):
    PROJECT_VIEW = "project:view"
    PROJECT_EDIT = "project:edit"
    PROJECT_CREATE = "project:create"
    PROJECT_DELETE = "project:delete"
    FOLDER_VIEW = "folder:view"
    FOLDER_EDIT = "folder:edit"
    FOLDER_CREATE = "folder:create"
    FOLDER_DELETE = "folder:delete"
    CONNECTION_VIEW = "connection:view"
    CONNECTION_EDIT = "connection:edit"
    CONNECTION_CREATE = "connection:create"
    CONNECTION_DELETE = "connection:delete"
    RECIPE_VIEW = "recipe:view"
    RECIPE_EDIT = "recipe:edit"
    RECIPE_CREATE = "recipe:create"
    RECIPE_DELETE = "recipe:delete"
    RECIPE_RUN = "recipe:run"
    RECIPE_TEST = "recipe:test"
    LOOKUP_TABLE_VIEW = "lookup_table:view"
    LOOKUP_TABLE_EDIT = "lookup_table:edit"
    LOOKUP_TABLE_CREATE = "lookup_table:create"
    LOOKUP_TABLE_DELETE = "lookup_table:delete"
    JOB_VIEW = "job:view"
    WORKSPACE_VIEW = "workspace:view"

    # Admin-only powers (rule 3): never part of a custom role.
    VAULT_KEY_MANAGE = "vault:key:manage"
    VAULT_SECRET_MANAGE = "vault:secret:manage"  # noqa: S105
    DEBUG_MANAGE = "debug:manage"
    NOTIFICATION_MANAGE = "notification:manage"
    MEMBER_VIEW = "member:view"
    MEMBER_MANAGE = "member:manage"
    ROLE_MANAGE = "role:manage"
    CONNECTOR_MANAGE = "connector:manage"
    WORKSPACE_SETTINGS = "workspace:settings"
    AUDIT_VIEW = "audit:view"


ADMIN_ONLY: frozenset[Perm] = frozenset(
    {
        Perm.VAULT_KEY_MANAGE,
        Perm.VAULT_SECRET_MANAGE,
        Perm.DEBUG_MANAGE,
        Perm.NOTIFICATION_MANAGE,
        Perm.MEMBER_VIEW,
        Perm.MEMBER_MANAGE,
        Perm.ROLE_MANAGE,
        Perm.CONNECTOR_MANAGE,
        Perm.WORKSPACE_SETTINGS,
        Perm.AUDIT_VIEW,
    }
)

_FULL_BUILDER = frozenset(
    p
    for p in Perm
    if p.value.split(":")[0] in {"project", "folder", "connection", "recipe", "lookup_table", "job"}
)

SYSTEM_ROLES: dict[str, frozenset[Perm]] = {
    "admin": frozenset(Perm),
    "analyst": _FULL_BUILDER | {Perm.WORKSPACE_VIEW},
    "operator": frozenset(
        {
            Perm.WORKSPACE_VIEW,
            Perm.PROJECT_VIEW,
            Perm.FOLDER_VIEW,
            Perm.RECIPE_VIEW,
            Perm.RECIPE_RUN,
            Perm.RECIPE_TEST,
            Perm.JOB_VIEW,
        }
    ),
}

SYSTEM_ROLE_NAMES = {"admin": "Admin", "analyst": "Analyst", "operator": "Operator"}
