"""Reads about workspaces and members."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Min

from causeway.workspaces.models import SESSION_TIMEOUT_DEFAULT, Membership


def session_timeout_for(user: Any) -> timedelta:
    """The strictest inactivity timeout among the user's workspaces (rule 17)."""
    strictest = Membership.objects.filter(user=user).aggregate(t=Min("workspace__session_timeout"))["t"]
    return strictest if isinstance(strictest, timedelta) else SESSION_TIMEOUT_DEFAULT
