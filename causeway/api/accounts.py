"""API operations on the caller's own account and personal API tokens."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["account"])
