"""Routes for the workspace audit log."""

from __future__ import annotations

urlpatterns: list[object] = []
