"""How the pages show a job's state: status badges with a colour and an icon, durations in words."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cron_descriptor import Options, get_description
from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from causeway.runs.models import JobStatus, StepStatus

register = template.Library()

# One icon per state, so that a badge reads without its colour (the colour is never the only signal).
ICONS = {
    "queued": "\u25f7",  # a clock face
    "running": "\u21bb",  # a turning arrow
    "succeeded": "\u2713",  # a tick
    "failed": "\u2715",  # a cross
    "skipped": "\u21b7",  # an arrow stepping over
    "cancelled": "\u2298",  # a circled slash
}
# A job's or a step's status in words, as the models name them.
LABELS = {**dict(JobStatus.choices), **dict(StepStatus.choices)}


@register.simple_tag
def status_badge(status: str, element_id: str = "") -> SafeString:
    """A job's or a step's status: its word, an icon beside it, its colour from the stylesheet."""
    label = LABELS.get(status, status.capitalize())
    icon = ICONS.get(status, "\u2022")
    named = format_html(' id="{}"', element_id) if element_id else ""
    return format_html(
        '<span class="badge status-{}"{} data-status="{}"><span aria-hidden="true">{}</span> {}</span>',
        status,
        named,
        status,
        icon,
        label,
    )


def _words(ms: int) -> str:
    if ms < 1000:
        return f"{ms} ms"
    if ms < 10_000:
        return f"{ms / 1000:.1f} s"
    seconds = round(ms / 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def duration_ms(value: Any) -> str:
    """A duration in milliseconds, in words: "840 ms", "3.2 s", "41 s", "2 min 5 s", "1 h 3 min"."""
    if value is None or value == "":
        return ""
    return _words(max(0, int(value)))


@register.simple_tag
def took(started: dt.datetime | None, finished: dt.datetime | None) -> str:
    """How long a job took, from its start to its end; nothing before both are known."""
    if started is None or finished is None:
        return ""
    return _words(max(0, round((finished - started).total_seconds() * 1000)))


@register.filter
def short_id(value: Any) -> str:
    """The first eight characters of an id: how a job is named next to its recipe."""
    return str(value)[:8]


@register.simple_tag
def cron_words(cron: str, zone: str = "") -> str:
    """A cron expression in words ("At 09:00, Monday through Friday, Europe/Paris"); "" when the
    expression has no reading (the schedule's own check names what is wrong with it)."""
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    options.throw_exception_on_parse_error = True
    try:
        words = str(get_description(cron, options))
    except Exception:  # any expression it cannot read has no words; the cron itself is still shown
        return ""
    return f"{words}, {zone}" if zone else words
