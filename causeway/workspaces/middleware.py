"""Server-side inactivity timeout: a session idle longer than the strictest of its user's
workspaces allows is ended, however often its cookie is replayed."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from causeway.workspaces.selectors import session_timeout_for

LAST_SEEN = "causeway_last_seen"
# Refreshing the stamp at most once a minute keeps reads from turning into writes.
REFRESH_SECONDS = 60


class IdleSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            timeout = session_timeout_for(user).total_seconds()
            last_seen = request.session.get(LAST_SEEN)
            if isinstance(last_seen, int | float) and now - last_seen > timeout:
                logout(request)
                if request.path.startswith("/api/"):
                    return JsonResponse({"detail": "Session expired"}, status=401)
                return redirect(f"/login?next={request.path}")
            if not isinstance(last_seen, int | float) or now - last_seen > REFRESH_SECONDS:
                request.session[LAST_SEEN] = now
                request.session.set_expiry(int(timeout))
        return self.get_response(request)
