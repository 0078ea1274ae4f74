"""Who is asking and from where, for the length of one request or task."""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip_address: str | None = None
    user_agent: str = ""


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "causeway_request_context", default=None
)


def current() -> RequestContext:
    context = _current.get()
    if context is None:
        return RequestContext(request_id=f"internal-{uuid.uuid4().hex}")
    return context


def activate(context: RequestContext) -> contextvars.Token[RequestContext | None]:
    return _current.set(context)


def deactivate(token: contextvars.Token[RequestContext | None]) -> None:
    _current.reset(token)
