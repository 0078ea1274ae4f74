"""Page parameters parsed in one place: a malformed or out-of-range value is answered 400 with a message
naming the parameter (never the value), not a server error."""

from __future__ import annotations

from django.core.exceptions import BadRequest, ValidationError

from causeway.access.routes import AuthenticatedRequest


class BadParameter(BadRequest):
    """A query parameter a page cannot use; its message names the parameter and what it takes."""


def refused(exc: ValidationError) -> BadParameter:
    """The first problem of a service's refusal of a parameter, as a 400."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"parameter": exc.messages}
    field, messages = next(iter(errors.items()))
    return BadParameter(f"{field}: {'; '.join(messages)}")


def query_text(request: AuthenticatedRequest, name: str, *, max_length: int = 100) -> str:
    """A free-text query parameter, stripped; empty if absent."""
    value = request.GET.get(name, "").strip()
    if "\x00" in value or len(value) > max_length:
        raise BadParameter(f"{name}: at most {max_length} characters, without NUL")
    return value


def query_choice(request: AuthenticatedRequest, name: str, choices: list[str]) -> str:
    """A query parameter that is one of `choices`, or empty if absent."""
    value = request.GET.get(name, "")
    if value and value not in choices:
        raise BadParameter(f"{name}: one of {', '.join(choices)}")
    return value
