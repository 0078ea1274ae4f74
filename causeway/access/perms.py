"""The permission vocabulary, shared by roles, grants, pages, the API and the audit log."""

from __future__ import annotations

from collections.abc import Iterable
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
    # Every job of a recipe, not only one's own (rule 8).
    RECIPE_DEBUG = "recipe:debug"
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

# Rule 4: full access to the content of every project, job history (`recipe:debug`, every job of a
# recipe) included.
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
            Perm.RECIPE_DEBUG,
            Perm.JOB_VIEW,
        }
    ),
}

SYSTEM_ROLE_NAMES = {"admin": "Admin", "analyst": "Analyst", "operator": "Operator"}


_CONTENT = ("project", "folder", "connection", "recipe", "lookup_table")

# The named capabilities: sets of permissions, by the names an environment's ceiling and a per-recipe
# grant are written with (rule 5, DESIGN's "grant").
CAPABILITIES: dict[str, frozenset[Perm]] = {
    "read": frozenset(Perm(f"{kind}:view") for kind in _CONTENT) | {Perm.JOB_VIEW},
    # Trying out what one builds goes with building it: test runs and starting or stopping a recipe's
    # tests (`recipe:test`) are write, not execute (rule 5), so they stay where recipes may be changed.
    "write": frozenset(Perm(f"{kind}:{verb}") for kind in _CONTENT for verb in ("edit", "create", "delete"))
    | {Perm.RECIPE_TEST},
    # Running a recipe for real: what service accounts, schedules and triggers do.
    "execute": frozenset({Perm.RECIPE_RUN}),
    "debug": frozenset({Perm.RECIPE_DEBUG}),
}
CAPABILITY_NAMES: tuple[str, ...] = tuple(CAPABILITIES)

# What can be held on one recipe: a grant gives of its capabilities only these.
ON_ONE_RECIPE: frozenset[Perm] = frozenset(
    {
        Perm.RECIPE_VIEW,
        Perm.RECIPE_EDIT,
        Perm.RECIPE_DELETE,
        Perm.RECIPE_RUN,
        Perm.RECIPE_TEST,
        Perm.RECIPE_DEBUG,
        Perm.JOB_VIEW,
    }
)


# What a role gives on one recipe: its recipe and job permissions.
RECIPE_SCOPED: frozenset[Perm] = frozenset(p for p in Perm if p.value.split(":")[0] in {"recipe", "job"})


def perms_named(names: Iterable[str]) -> frozenset[Perm]:
    """The permissions the named capabilities stand for; an unknown name stands for none."""
    found: set[Perm] = set()
    for name in names:
        found |= CAPABILITIES.get(name, frozenset())
    return frozenset(found)


def perms_of(values: Iterable[str]) -> frozenset[Perm]:
    """The permissions a role's stored list names; a value that names none (one since retired) gives none."""
    known = {p.value: p for p in Perm}
    return frozenset(known[v] for v in values if v in known)


def granted(names: Iterable[str]) -> frozenset[Perm]:
    """What a per-recipe grant of these capabilities gives on its recipe."""
    return perms_named(names) & ON_ONE_RECIPE


# Permissions no environment ceiling limits: they are not about a project's content.
UNCEILED: frozenset[Perm] = ADMIN_ONLY | {Perm.WORKSPACE_VIEW}


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PROD = "prod"


# Rule 5: DEV lets people read, debug and write (test runs included); TEST and PROD only read and
# debug. No environment lets a person execute by default: execution belongs to service accounts,
# schedules and triggers, and recipes reach TEST and PROD only by promotion.
DEFAULT_CEILINGS: dict[Environment, frozenset[str]] = {
    Environment.DEV: frozenset({"read", "debug", "write"}),
    Environment.TEST: frozenset({"read", "debug"}),
    Environment.PROD: frozenset({"read", "debug"}),
}
