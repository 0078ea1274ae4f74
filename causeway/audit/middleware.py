"""Gives every request an id and records where it came from, for audit events written during it."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from causeway.audit import context


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = uuid.uuid4().hex
        token = context.activate(
            context.RequestContext(
                request_id=request_id,
                ip_address=request.META.get("REMOTE_ADDR") or None,
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
            )
        )
        try:
            response = self.get_response(request)
        finally:
            context.deactivate(token)
        response["X-Request-ID"] = request_id
        return response
