"""The system roles as rule 4 defines them, written to the database (idempotent)."""

from __future__ import annotations

from typing import Any

from causeway.access.perms import SYSTEM_ROLE_NAMES, SYSTEM_ROLES


def ensure_system_roles(role_model: Any = None) -> None:
    """Create or correct the three system roles; the migration passes its historical model."""
    if role_model is None:
        from causeway.workspaces.models import Role

        role_model = Role
    for key, perms in SYSTEM_ROLES.items():
        role_model.objects.update_or_create(
            workspace=None,
            key=key,
            defaults={
                "name": SYSTEM_ROLE_NAMES[key],
                "is_system": True,
                "permissions": sorted(str(p) for p in perms),
                "all_projects": True,
            },
        )
