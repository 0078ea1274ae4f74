"""The two refusals: NotFound where existence would leak (rule 9), Forbidden naming what is missing."""

from __future__ import annotations

from causeway.access.actors import Actor
from causeway.workspaces.models import Workspace


class NotFound(Exception):
    def __init__(self, what: str = "object") -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Forbidden(Exception):
    def __init__(
        self, perm: str, *, workspace: Workspace | None = None, actor: Actor | None = None, detail: str = ""
    ) -> None:
        super().__init__(detail or f"you do not have the permission {perm}")
        self.perm = perm
        self.workspace = workspace
        self.actor = actor


MFA_REQUIRED = "mfa:required"


class MfaRequired(Forbidden):
    """A second factor is required (by the workspace, or of staff by the platform) and the person has
    none: they may set one up, then act."""

    def __init__(self, workspace: Workspace | None, actor: Actor) -> None:
        who = (
            f"workspace {workspace.name} requires two-factor authentication"
            if workspace is not None
            else "this platform requires two-factor authentication of its staff"
        )
        super().__init__(
            MFA_REQUIRED,
            workspace=workspace,
            actor=actor,
            detail=f"{who}: set it up on your profile's two-factor page (or POST /api/v1/me/mfa/totp) first",
        )


RECENT_AUTHENTICATION = "auth:recent"


class StepUpRequired(Forbidden):
    """A sensitive act from a session whose last proof of identity is older than the step-up window."""

    def __init__(self, actor: Actor | None) -> None:
        super().__init__(
            RECENT_AUTHENTICATION,
            actor=actor,
            detail="this act needs you to confirm who you are again: POST /api/v1/me/reauthenticate "
            "with your password or a code, then retry",
        )
