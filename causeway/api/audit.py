"""API operations on the audit log."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["audit"])
