"""Machine calls take a short way through the middleware: a webhook call (signed) or a call to a published
API collection (with an API client's key) has no session, cookie, CSRF token, signed-in user or flash
message, so the page middleware that reads or writes them is skipped.

What a call needs stays on its way: the security headers (HSTS, nosniff, referrer and opener policy,
X-Frame-Options, Content-Security-Policy), the Host check, the request's id for its audit events, and the
refusal of an undeclared view. The signature, key, replay, throttle, rate-limit and body-size checks are
the views' own.
The two headers the page middleware builds for every answer (the frame and content policies) are the
same for every call, so they are built once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast

from csp.constants import HEADER as CSP_HEADER
from csp.utils import build_policy
from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

# `POST /hooks/<token>` and `POST /hooks/connector/<token>`: a token never holds a slash.
HOOK_PATH = re.compile(r"/hooks/(?:connector/)?[^/]+")
# A call to an API collection, by any method: `/apis/<workspace>/<environment>/<collection>[/<path>]`.
API_PATH = re.compile(r"/apis/[-a-zA-Z0-9_]+/[-a-zA-Z0-9_]+/[-a-zA-Z0-9_]+(?:/.+)?")

CALL_MIDDLEWARE = (
    "django.middleware.common.CommonMiddleware",
    "causeway.audit.middleware.RequestContextMiddleware",
    "causeway.web.calls.FixedHeadersMiddleware",
    "causeway.access.middleware.DefaultDenyMiddleware",
)


class FixedHeadersMiddleware:
    """The frame and content policies every page answer carries, built once rather than per answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.headers = {"X-Frame-Options": settings.X_FRAME_OPTIONS, CSP_HEADER: build_policy()}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        for name, value in self.headers.items():
            response.headers.setdefault(name, value)
        return response


class _Calls(BaseHandler):
    """Django's own request handling (routing, view middleware, error answers) behind `CALL_MIDDLEWARE`."""

    def __init__(self) -> None:
        super().__init__()
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        handler = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]  # not in the stubs
        for path in reversed(CALL_MIDDLEWARE):
            middleware = import_string(path)(handler)
            if hasattr(middleware, "process_view"):
                self._view_middleware.insert(0, middleware.process_view)
            if hasattr(middleware, "process_exception"):
                self._exception_middleware.append(middleware.process_exception)
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = handler


class CallsMiddleware:
    """Sends a machine call down `CALL_MIDDLEWARE`, and every other request down the rest of the list.

    Placed right after SecurityMiddleware, whose headers and HTTPS redirect every answer keeps."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.calls = cast(Callable[[HttpRequest], HttpResponse], _Calls()._middleware_chain)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if (request.method == "POST" and HOOK_PATH.fullmatch(path)) or API_PATH.fullmatch(path):
            return self.calls(request)
        return self.get_response(request)
