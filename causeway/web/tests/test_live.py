"""How live pages poll, and how a job's state reads: badges, durations, short ids."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from causeway.web import live
from causeway.web.templatetags.runs_tags import duration_ms, short_id, status_badge, took

NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def _job(status: str, age: float = 0) -> SimpleNamespace:
    return SimpleNamespace(status=status, created_at=NOW - dt.timedelta(seconds=age))


@pytest.mark.parametrize(
    ("ms", "words"),
    [
        (0, "0 ms"),
        (840, "840 ms"),
        (999, "999 ms"),
        (1000, "1.0 s"),
        (3240, "3.2 s"),
        (41_400, "41 s"),
        (60_000, "1 min"),
        (125_000, "2 min 5 s"),
        (3_600_000, "1 h"),
        (3_780_000, "1 h 3 min"),
    ],
)
def test_a_duration_reads_in_ms_s_min_or_h(ms: int, words: str) -> None:
    assert duration_ms(ms) == words


def test_no_duration_reads_as_nothing() -> None:
    assert duration_ms(None) == "" and took(None, NOW) == "" and took(NOW, None) == ""
    assert took(NOW, NOW + dt.timedelta(milliseconds=1530)) == "1.5 s"


def test_a_badge_has_its_word_an_icon_hidden_from_readers_and_an_id_when_asked() -> None:
    badge = status_badge("failed", "job-status")
    assert badge.startswith('<span class="badge status-failed" id="job-status" data-status="failed">')
    assert '<span aria-hidden="true">\u2715</span> Failed</span>' in badge
    assert status_badge("running") == (
        '<span class="badge status-running" data-status="running">'
        '<span aria-hidden="true">\u21bb</span> Running</span>'
    )
    assert "&lt;b&gt;" in status_badge("<b>")


def test_a_short_id_is_eight_characters() -> None:
    assert short_id("0f4c1d2e-aaaa-bbbb-cccc-123456789abc") == "0f4c1d2e"


def test_a_job_page_polls_fast_at_first_then_slower_and_never_once_finished() -> None:
    assert live.job_seconds(_job("queued", 5), NOW) == 1
    assert live.job_seconds(_job("running", 120), NOW) == 3
    assert live.job_seconds(_job("running", 3600), NOW) == 15
    assert live.job_seconds(_job("succeeded", 5), NOW) is None
    assert live.job_seconds(_job("failed", 5), NOW) is None


def test_a_list_polls_while_one_of_its_jobs_runs_and_rarely_on_its_first_page_only() -> None:
    assert live.list_seconds([_job("succeeded"), _job("running")], first_page=False) == 3
    assert live.list_seconds([_job("succeeded")], first_page=True) == live.IDLE_SECONDS
    assert live.list_seconds([_job("failed")], first_page=False) is None
    assert live.list_seconds([], first_page=True) == live.IDLE_SECONDS


def test_the_dashboard_polls_often_only_while_a_job_is_queued_or_running() -> None:
    assert live.dashboard_seconds({"queued": 1, "failed": 3}) == 3
    assert live.dashboard_seconds({"running": 0, "succeeded": 9}) == live.IDLE_SECONDS


def test_a_schedule_reads_in_words_beside_its_zone() -> None:
    from causeway.web.templatetags.runs_tags import cron_words

    assert cron_words("0 9 * * 1-5", "Europe/Paris") == "At 09:00, Monday through Friday, Europe/Paris"
    assert cron_words("*/15 * * * *") == "Every 15 minutes"
    assert cron_words("not a cron", "UTC") == ""


def test_every_status_the_models_know_has_its_word_and_icon_and_live_pages_poll_while_it_can_change() -> None:
    from causeway.runs.history import NEEDS_A_LOOK
    from causeway.runs.models import FINISHED, JobStatus, StepStatus

    for status in [*JobStatus, *StepStatus]:
        badge = status_badge(status.value)
        assert f"</span> {status.label}</span>" in badge and "\u2022" not in badge, status
    # A step that ran in several passes shows the status that most needs a look: every one is ranked.
    assert sorted(NEEDS_A_LOOK) == sorted(StepStatus)
    assert live.ACTIVE == set(JobStatus) - set(FINISHED)
    for status in JobStatus:
        assert (live.job_seconds(_job(status.value), NOW) is None) == (status in FINISHED), status
