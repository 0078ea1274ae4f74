"""Navigation shows only what the viewer may use."""

from __future__ import annotations

from typing import Any

from causeway.access import policy
from causeway.access.errors import Forbidden, NotFound
from causeway.access.perms import Perm
from causeway.access.routes import AuthenticatedRequest


def navigation(request: AuthenticatedRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_staff": False}
    found: dict[str, Any] = {"nav_staff": policy.is_staff(user)}
    match = getattr(request, "resolver_match", None)
    slug = match.kwargs.get("workspace") if match is not None else None
    if isinstance(slug, str):
        try:
            workspace = policy.workspace_get(user, slug, need=Perm.WORKSPACE_VIEW)
        except (NotFound, Forbidden):
            return found
        perms = policy.workspace_perms(user, workspace)
        found["nav_workspace"] = workspace
        found["nav_can"] = {
            "members": Perm.MEMBER_VIEW in perms,
            "access": Perm.ROLE_MANAGE in perms,
            "audit": Perm.AUDIT_VIEW in perms,
            "settings": Perm.WORKSPACE_SETTINGS in perms,
        }
    return found
