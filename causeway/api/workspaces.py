"""API operations on workspaces, members, invitations and workspace settings."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["workspaces"])
