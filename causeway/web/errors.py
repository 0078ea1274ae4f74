"""Error pages that say what went wrong without echoing anything from the request.

Each page is masked before it is sent all the same (rule 13): should a template ever show a piece of
the request, a known secret or token value in it still comes out as `[masked:NAME]`.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from causeway.access.routes import AuthenticatedRequest
from causeway.audit import context
from causeway.vault.masking import mask_text
from causeway.web.params import BadParameter


def masked_page(response: HttpResponse) -> HttpResponse:
    """The rendered page with every known secret value in it masked."""
    charset = response.charset or "utf-8"
    text = response.content.decode(charset, errors="replace")
    cleaned = mask_text(text)
    if cleaned != text:
        response.content = cleaned.encode(charset)
    return response


def bad_request(request: AuthenticatedRequest, exception: Exception | None = None) -> HttpResponse:
    # Only a page parameter's own message is shown: it names the parameter, never what was sent.
    message = str(exception) if isinstance(exception, BadParameter) else ""
    return masked_page(render(request, "web/bad_request.html", {"message": message}, status=400))


def forbidden(request: AuthenticatedRequest, exception: Exception | None = None) -> HttpResponse:
    return masked_page(render(request, "web/forbidden.html", {"permission": None}, status=403))


def not_found(request: AuthenticatedRequest, exception: Exception | None = None) -> HttpResponse:
    return masked_page(render(request, "web/not_found.html", status=404))


def server_error(request: AuthenticatedRequest) -> HttpResponse:
    # No request context: after a failure anything about the request (the user, the session) may be
    # what failed, and the page must still render.
    # The request's id still shows, as every error page shows it (`web.context.navigation`).
    page = render_to_string("web/server_error.html", {"request_id": context.current().request_id})
    return masked_page(HttpResponse(page, status=500))
