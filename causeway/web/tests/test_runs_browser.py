"""Run History in a browser against a real `causeway web`: Dashboard to a failed job, its steps, a re-run."""

from __future__ import annotations

from typing import Any

import pytest

from causeway.runs.models import Job
from causeway.runs.tests.factories import (
    make_job,
    make_recipe,
    make_step,
    people_may_execute_in_dev,
    without_job_history,
)
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from testkit.support import STRONG_PASSWORD, make_user, make_workspace


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_dashboard_to_a_failed_job_its_steps_and_a_rerun(
    https_server: Any, transactional_db: Any
) -> None:
    admin = make_user("admin@example.com")
    operator = make_user("operator@example.com")
    acme = make_workspace("Acme", members={admin: "admin", operator: "operator"})
    # Without job history (rule 8), so that the Admin's failed job is one the operator does not see.
    without_job_history(acme, operator)
    # Re-running is running for real: the Admin lets people execute in DEV (rule 5's default does not).
    people_may_execute_in_dev(admin, acme)
    sync = make_recipe(admin, acme, "Sync")
    failed = make_job(sync, by=operator, status="failed", error="the API said no")
    make_step(failed, "s1", 0, output={"status": 200})
    make_step(failed, "s2", 1, status="failed", error="HTTP 500 from api.example.com")
    make_job(sync, by=operator)
    hidden = make_job(sync, by=admin, status="failed")
    base = https_server.url
    with chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        browser_sign_in(page, base, operator.email, STRONG_PASSWORD)
        page.goto(f"{base}/w/acme/")
        assert page.locator('#job-counts [data-count="total"] strong').inner_text() == "2"
        assert page.locator('#job-counts [data-count="failed"] strong').inner_text() == "1"
        page.click("#job-counts [data-count='failed'] a")
        page.wait_for_url(f"{base}/w/acme/jobs?status=failed")
        assert page.locator("table.jobs tbody tr").count() == 1
        assert page.locator(f'tr[data-job="{hidden.pk}"]').count() == 0
        page.click(f'tr[data-job="{failed.pk}"] a >> nth=0')
        page.wait_for_url(f"{base}/w/acme/jobs/{failed.pk}")
        assert page.locator("#job-error").inner_text().strip() == "the API said no"
        assert page.locator('tr[data-step="s2"] .step-error').inner_text() == "HTTP 500 from api.example.com"
        page.click("#rerun")
        page.wait_for_selector("#job-rerun-of")
        rerun_url = page.url
    rerun = Job.objects.get(rerun_of=failed)
    assert rerun_url == f"{base}/w/acme/jobs/{rerun.pk}"
    # Queued, or already run by the web process that started it (it runs the jobs it starts).
    assert rerun.run_by_user == operator and rerun.status in ("queued", "running", "succeeded")
