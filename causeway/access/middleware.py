"""Fail closed: a page view that declares no access is answered 404, whatever it would have done."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse

from causeway.access.routes import declaration_of

logger = logging.getLogger(__name__)


class DefaultDenyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if declaration_of(view_func) is None:
            logger.error("refused %s: its view declares no access", request.path)
            raise Http404
        return None
