"""Pages that follow running jobs: how often a page asks again, and the fragment it asks for.

A live page asks its own address again with htmx's `HX-Request` header and gets back only the part
that changes. The polling is bounded so that many open pages cost the server little: a page polls
only while something it shows can still change, slows down as a job grows old, and a page in a
hidden tab does not poll at all (web/live.js).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers

ACTIVE = frozenset({"queued", "running"})
# A page that shows no running job still looks for new ones, rarely.
IDLE_SECONDS = 30


def is_fragment(request: HttpRequest) -> bool:
    """Whether the page was asked by its own polling, which wants only the part that changes."""
    return request.headers.get("HX-Request") == "true"


def varies(response: HttpResponse) -> HttpResponse:
    """The page and its fragment share an address: no cache may answer one with the other."""
    patch_vary_headers(response, ["HX-Request"])
    return response


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
