"""Routes for workspaces, members, invitations and platform administration."""

from __future__ import annotations

urlpatterns: list[object] = []
