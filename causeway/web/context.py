"""Navigation shows only what the viewer may use."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from causeway.access import policy


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_staff": False}
    return {"nav_staff": policy.is_staff(user)}
