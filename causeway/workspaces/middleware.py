"""Server-side inactivity timeout (rule 17): a session idle longer than the strictest of its user's
workspaces allows is ended, however often its cookie is replayed; and a session signed in longer ago
than the platform's absolute lifetime (CAUSEWAY_SESSION_LIFETIME_HOURS) is ended however busy it is."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse

from causeway.accounts.sessions import SIGNED_IN, session_seen
from causeway.workspaces.selectors import session_timeout_for

# The last-seen stamp lives in the session's server-side data, never in the cookie, so replaying
# an old cookie replays nothing the server trusts.
LAST_SEEN = "causeway_last_seen"
# Refreshing the stamp at most once a minute keeps reads from turning into writes; a session
# may therefore end up to a minute before its exact idle limit, never after it.
REFRESH_SECONDS = 60
# A live page (a job's page, Run History, the Dashboard) asks for what changed by itself, with this
# header. Such a request is not the person's activity: it never refreshes the stamp, so a tab left
# open and unwatched still ends its session on time.
POLL_HEADER = "X-Causeway-Poll"


def is_poll(request: HttpRequest) -> bool:
    return request.method == "GET" and request.headers.get(POLL_HEADER) == "true"


def is_page_poll(request: HttpRequest) -> bool:
    """A live page's own poll: htmx's request (HX-Request) for a page, never an API call. Only such a
    poll is answered with the login page's address in HX-Redirect rather than the usual answer."""
    return (
        is_poll(request)
        and request.headers.get("HX-Request") == "true"
        and not request.path.startswith("/api/")
    )


def _poll_to_login(request: HttpRequest) -> HttpResponse:
    """The whole page goes to the login page (htmx follows HX-Redirect), rather than its live part
    being replaced by the login form."""
    expired = HttpResponse(status=200)
    expired["HX-Redirect"] = redirect_to_login(request.get_full_path()).url
    return expired


def _stamp(request: HttpRequest, user: Any, now: float) -> None:
    timeout = int(session_timeout_for(user).total_seconds())
    request.session[LAST_SEEN] = now
    # The stored session row expires with the idle limit too, so even a code path that skipped
    # this middleware could not load it later.
    request.session.set_expiry(timeout)
    if request.session.session_key:
        session_seen(session_key=request.session.session_key)


class IdleSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if is_page_poll(request) and (user is None or not user.is_authenticated):
            # A live page whose session has ended (its stored row lapsed with the idle limit).
            return _poll_to_login(request)
        if user is not None and user.is_authenticated:
            now = time.time()
            timeout = session_timeout_for(user).total_seconds()
            last_seen = request.session.get(LAST_SEEN)
            signed_in = request.session.get(SIGNED_IN)
            if not isinstance(signed_in, int | float):
                # A session from before lifetimes were kept: its lifetime counts from now.
                request.session[SIGNED_IN] = now
            elif now - signed_in > settings.SESSION_LIFETIME.total_seconds():
                return self._expire(request, "Session ended: it was signed in too long ago; log in again")
            if isinstance(last_seen, int | float):
                if now - last_seen > timeout:
                    return self._expire(request, "Session expired after inactivity; log in again")
                if now - last_seen > REFRESH_SECONDS and not is_poll(request):
                    _stamp(request, user, now)
            else:
                _stamp(request, user, now)
        response = self.get_response(request)
        # A session signed in by this very request is stamped now rather than on its next
        # request, so a cookie that is never used again still ends on time.
        after = getattr(request, "user", None)
        if (
            after is not None
            and after.is_authenticated
            and request.session.session_key
            and LAST_SEEN not in request.session
        ):
            _stamp(request, after, time.time())
        return response

    def _expire(self, request: HttpRequest, detail: str) -> HttpResponse:
        # Not audited: most idle sessions simply lapse with their stored row, unseen, so an
        # event here would record only the few that happened to be caught by this check.
        logout(request)
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": detail}, status=401)
        if is_page_poll(request):
            return _poll_to_login(request)
        return redirect_to_login(request.get_full_path())
