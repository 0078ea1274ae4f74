"""Pages that follow running jobs: how often a page asks again, and the fragment it asks for.

A live page asks its own address again with the `X-Causeway-Poll` header (`workspaces.middleware`,
which also keeps such a request from counting as the person's activity) and gets back only the part
that changes, rendered alone: no navigation, nothing else the whole page adds. The polling is bounded
so that many open pages cost the server little: a page polls only while something it shows can still
change, slows down as a job grows old, and a page in a hidden tab does not poll at all (web/live.js).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import get_template
from django.utils import timezone
from django.utils.cache import patch_vary_headers

from causeway.runs.models import ACTIVE
from causeway.workspaces.middleware import POLL_HEADER, is_page_poll

# A page that shows no running job still looks for new ones, rarely.
IDLE_SECONDS = 30


def is_fragment(request: HttpRequest) -> bool:
    """Whether the page was asked by its own polling, which wants only the part that changes. Other
    requests htmx makes (a history restore, say) carry `HX-Request` too, and get the whole page."""
    return is_page_poll(request)


def varies(response: HttpResponse) -> HttpResponse:
    """The page and its fragment share an address: no cache may answer one with the other."""
    patch_vary_headers(response, [POLL_HEADER])
    return response


def page_or_fragment(
    request: HttpRequest, page: str, fragment: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """The whole page, or, for its own polling, the live part alone: rendered without the context
    processors (the navigation and the rest of the page's frame), which a fragment never shows."""
    if not is_fragment(request):
        return varies(render(request, page, context, status=status))
    body = get_template(fragment).render({**context, "request": request, "csrf_token": get_token(request)})
    return varies(HttpResponse(body, status=status))


def job_seconds(job: Any, now: dt.datetime | None = None) -> int | None:
    """How often a job's page polls: every second at first, less often as the job grows old, never
    once it has finished."""
    if job.status not in ACTIVE:
        return None
    age = ((now or timezone.now()) - job.created_at).total_seconds()
    if age < 60:
        return 1
    if age < 600:
        return 3
    return 15


def list_seconds(jobs: Iterable[Any], *, first_page: bool) -> int | None:
    """How often a list of jobs polls: often while one of its jobs is queued or running; rarely on
    its first page (where new jobs appear); never on later pages of finished jobs."""
    if any(job.status in ACTIVE for job in jobs):
        return 3
    return IDLE_SECONDS if first_page else None


def dashboard_seconds(counts: dict[str, int]) -> int:
    """How often the Dashboard polls: often while a job it counts is queued or running, else rarely."""
    return 3 if any(counts.get(status, 0) for status in ACTIVE) else IDLE_SECONDS
