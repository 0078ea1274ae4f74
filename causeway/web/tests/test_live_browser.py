"""Live status in a browser against a real `causeway web`: a job's page, Run History and the Dashboard
follow a job from queued to running to succeeded without being reloaded."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from causeway.runs import runtime
from causeway.runs.models import Job
from causeway.runs.tests.factories import make_job, make_recipe
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from testkit.pages import reviewed
from testkit.support import STRONG_PASSWORD, make_user, make_workspace


def _in_thread(work: Any) -> Any:
    """Database work while Playwright's event loop holds this thread: done in another, waited for."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:  # handed to the test's thread, which raises it
            result["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the database work did not end"
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _no_reload_marker(page: Any) -> None:
    page.evaluate("() => { window.causewayNotReloaded = true; }")


def _not_reloaded(page: Any) -> bool:
    return bool(page.evaluate("() => window.causewayNotReloaded === true"))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_a_job_page_run_history_and_the_dashboard_follow_a_job_without_a_reload(
    https_server: Any, transactional_db: Any
) -> None:
    admin = make_user("admin@example.com")
    acme = make_workspace("Acme", members={admin: "admin"})
    sync = make_recipe(admin, acme, "Sync")
    make_job(sync, by=admin, status="failed", error="the API said no")
    job = make_job(sync, by=admin, status="queued", started_at=None, finished_at=None)
    base = https_server.url
    with chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        browser_sign_in(page, base, admin.email, STRONG_PASSWORD)

        page.goto(f"{base}/w/acme/")
        page.wait_for_selector("#dashboard-live[data-live]")
        assert "the API said no" in page.locator("#recent-failures").inner_text()
        reviewed(page, "dashboard")

        page.goto(f"{base}/w/acme/jobs/{job.pk}")
        assert page.locator("#job-title").inner_text() == f"Sync job {str(job.pk)[:8]}"
        assert page.locator("#job-status").get_attribute("data-status") == "queued"
        reviewed(page, "job-queued")
        _no_reload_marker(page)

        claimed = _in_thread(lambda: runtime.claim(job.pk))
        assert claimed is not None
        page.wait_for_selector('#job-status[data-status="running"]', timeout=30_000)
        reviewed(page, "job-running")

        assert _in_thread(lambda: runtime.run(job.pk, claimed=claimed)) == "succeeded"
        page.wait_for_selector('#job-status[data-status="succeeded"]', timeout=30_000)
        assert _not_reloaded(page)
        assert page.locator("td.step-number").all_inner_texts() == ["1"]
        assert page.locator("#job-duration").inner_text().endswith(("ms", "s"))
        # Finished: the page stops polling.
        assert page.locator("#job-live[data-live]").count() == 0
        reviewed(page, "job-succeeded")

        page.goto(f"{base}/w/acme/jobs")
        row = page.locator(f'tr[data-job="{job.pk}"]')
        assert row.locator(".badge").get_attribute("data-status") == "succeeded"
        assert "the API said no" in page.locator("tr.status-failed small.reason").inner_text()
        reviewed(page, "run-history")

        # A running job's row on Run History, and the Dashboard's counts, follow it as it fails.
        later = _in_thread(lambda: make_job(sync, by=admin, status="running", finished_at=None))
        page.goto(f"{base}/w/acme/jobs")
        _no_reload_marker(page)
        page.wait_for_selector(f'tr[data-job="{later.pk}"] .badge[data-status="running"]')
        reviewed(page, "run-history-running")
        dashboard = browser.new_context(ignore_https_errors=True).new_page()
        browser_sign_in(dashboard, base, admin.email, STRONG_PASSWORD)
        dashboard.goto(f"{base}/w/acme/")
        assert dashboard.locator('#job-counts [data-count="running"] strong').inner_text() == "1"
        _no_reload_marker(dashboard)
        _in_thread(lambda: _fail(later.pk, "HTTP 502 upstream"))
        page.wait_for_selector(f'tr[data-job="{later.pk}"] .badge[data-status="failed"]', timeout=30_000)
        assert page.locator(f'tr[data-job="{later.pk}"] small.reason').inner_text() == "HTTP 502 upstream"
        assert _not_reloaded(page)
        dashboard.wait_for_selector('#job-counts [data-count="failed"] strong:text-is("2")', timeout=30_000)
        assert "HTTP 502 upstream" in dashboard.locator("#recent-failures").inner_text()
        assert _not_reloaded(dashboard)


def _fail(job_id: Any, reason: str) -> None:
    """The job ends as a worker ends a failed one: its status, its reason (sealed), its end."""
    from django.utils import timezone

    job = Job.objects.get(pk=job_id)
    job.status, job.error, job.finished_at = "failed", reason, timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
