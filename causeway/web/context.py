"""Navigation shows only what the viewer may use, and marks the section the current page is in."""

from __future__ import annotations

from typing import Any

from causeway.access import policy
from causeway.access.errors import Forbidden, NotFound
from causeway.access.perms import Perm
from causeway.access.routes import AuthenticatedRequest
from causeway.audit import context

# The sidebar section each page belongs to, by its route's name: exact names first, then prefixes.
SECTION_OF = {
    "workspace": "dashboard",
    "runs_recipe_jobs": "recipes",
    "recipe_access": "recipes",
    "recipe_rollback": "environments",
    "project_migrate": "environments",
    "project_changes": "environments",
    "workspace_settings": "settings",
    "workspace_signing_key_rotate": "settings",
    "home": "workspaces",
    "platform": "platform",
    "profile": "profile",
    "password_change": "profile",
    "tokens": "tokens",
    "sessions": "sessions",
}
SECTION_PREFIXES = (
    ("api", "apis"),
    ("runs", "runs"),
    ("schedule", "schedule"),
    ("bookmarks", "bookmarks"),
    ("watching", "watching"),
    ("break_glass", "break_glass"),
    ("connection", "connections"),
    ("connector", "connections"),
    ("custom_connector", "connections"),
    ("oauth_", "connections"),
    ("vault", "vault"),
    ("lookup_", "lookup_tables"),
    ("recipe", "recipes"),
    ("project", "recipes"),
    ("folder", "recipes"),
    ("hook", "recipes"),
    ("workspace_member", "members"),
    ("workspace_invitation", "members"),
    ("access_role", "roles"),
    ("access_group", "groups"),
    ("access_service_account", "service_accounts"),
    ("access_environment", "environments"),
    ("promotion", "environments"),
    ("access_review", "access_review"),
    ("audit", "audit"),
    ("platform", "platform"),
    ("mfa", "profile"),
)


def section_of(url_name: str | None) -> str:
    """The navigation section of a route, or "" for a page outside every section."""
    if not url_name:
        return ""
    if url_name in SECTION_OF:
        return SECTION_OF[url_name]
    for prefix, section in SECTION_PREFIXES:
        if url_name.startswith(prefix):
            return section
    return ""


def navigation(request: AuthenticatedRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    match = getattr(request, "resolver_match", None)
    current = section_of(match.url_name if match is not None else None)
    # An error page shows the request's id (as sent in X-Request-ID, and on its log lines and audit
    # events), so that an operator can find what happened from what a person reports.
    found: dict[str, Any] = {
        "nav_staff": False,
        "nav_current": current,
        "request_id": context.current().request_id,
    }
    if user is None or not user.is_authenticated:
        return found
    found["nav_staff"] = policy.is_staff(user)
    slug = match.kwargs.get("workspace") if match is not None else None
    if isinstance(slug, str):
        try:
            workspace = policy.workspace_get(user, slug, need=Perm.WORKSPACE_VIEW)
        except (NotFound, Forbidden):
            return found
        perms = policy.workspace_perms(user, workspace)
        found["nav_workspace"] = workspace
        found["nav_can"] = {
            # Each link is shown to those whose permissions its page asks for.
            "members": Perm.MEMBER_VIEW in perms,
            "access": Perm.MEMBER_VIEW in perms,
            "audit": Perm.AUDIT_VIEW in perms,
            "settings": Perm.WORKSPACE_SETTINGS in perms,
        }
    return found
