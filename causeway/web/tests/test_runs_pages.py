"""Run History, a job's page, a recipe's jobs (Run, Test, Re-run), Schedule and the Dashboard."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.utils import timezone

from causeway.recipes.models import RecipeGrant
from causeway.runs.models import Job
from causeway.runs.tests.factories import (
    make_job,
    make_recipe,
    make_step,
    people_may_execute_in_dev,
    schedule_definition,
    without_job_history,
)
from causeway.runs.triggers import recipe_start
from causeway.workspaces.models import Membership, Role
from causeway.workspaces.tests.helpers import fast_hashing, sign_in  # noqa: F401
from testkit.personas import cast
from testkit.support import field_errors, https_client, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture
def people() -> dict[str, Any]:
    people = cast("admin", "analyst", "operator", "outsider").people()
    admin, analyst, operator, outsider = (people[k] for k in ("admin", "analyst", "operator", "outsider"))
    acme, other = people["acme"], people["other"]
    sync = make_recipe(admin, acme, "Sync")
    jobs = {
        "analyst": make_job(sync, by=analyst, status="failed", error="the API said no"),
        "analyst2": make_job(sync, by=analyst),
        "operator": make_job(sync, by=operator, status="failed", error="boom"),
        "admin": make_job(sync, by=admin),
        "schedule": make_job(sync, trigger_type="schedule"),
    }
    foreign = make_job(make_recipe(outsider, other, "Theirs"), by=outsider)
    return {
        **people,
        "sync": sync,
        "jobs": jobs,
        "foreign": foreign,
    }


# What a live page's polling sends: htmx's own header, and the one that marks it as polling.
POLL = {"HX-Request": "true", "X-Causeway-Poll": "true"}


def as_user(user: Any) -> Any:
    return sign_in(https_client(), user)


def listed(html: str) -> set[str]:
    return set(re.findall(r'<tr data-job="([0-9a-f-]+)"', html))


def ids(*jobs: Job) -> set[str]:
    return {str(job.pk) for job in jobs}


# Rule 8: without debug, one's own jobs; with debug on a recipe, every job of it. Rule 4 gives Analysts
# and Operators debug (job history); a custom role may leave it out.


@pytest.mark.parametrize("who", ["analyst", "operator"])
def test_rule_04_analysts_and_operators_see_every_job_of_their_recipes_trigger_jobs_included(
    people: dict[str, Any], who: str
) -> None:
    jobs = {**people["jobs"], "webhook": make_job(people["sync"], trigger_type="webhook", status="failed")}
    client = as_user(people[who])
    assert listed(client.get("/w/acme/jobs").content.decode()) == ids(*jobs.values())
    assert listed(client.get("/w/acme/jobs?trigger_type=schedule").content.decode()) == ids(jobs["schedule"])
    recipe_jobs = client.get(f"/w/acme/recipes/{people['sync'].pk}/jobs").content.decode()
    assert listed(recipe_jobs) == ids(*jobs.values())
    for trigger in ("schedule", "webhook"):
        assert client.get(f"/w/acme/jobs/{jobs[trigger].pk}").status_code == 200
    assert client.get(f"/w/acme/jobs/{people['foreign'].pk}").status_code == 404
    # A failed job a trigger fired is theirs to follow, and to run again where people may execute.
    refused = client.post(f"/w/acme/jobs/{jobs['webhook'].pk}/rerun")
    assert refused.status_code == 403 and not Job.objects.filter(rerun_of=jobs["webhook"]).exists()
    people_may_execute_in_dev(people["admin"], people["acme"])
    rerun = client.post(f"/w/acme/jobs/{jobs['webhook'].pk}/rerun")
    assert rerun.status_code == 302 and Job.objects.get(rerun_of=jobs["webhook"]).run_by_user == people[who]


@pytest.mark.parametrize("who", ["analyst", "operator"])
def test_rule_08_without_debug_a_user_sees_only_their_own_jobs(people: dict[str, Any], who: str) -> None:
    jobs = people["jobs"]
    own = {key: job for key, job in jobs.items() if key.startswith(who)}
    without_job_history(people["acme"], people[who])
    client = as_user(people[who])
    page = client.get("/w/acme/jobs")
    assert page.status_code == 200
    assert listed(page.content.decode()) == ids(*own.values())
    page = client.get(f"/w/acme/recipes/{people['sync'].pk}/jobs")
    assert listed(page.content.decode()) == ids(*own.values())
    assert client.get(f"/w/acme/jobs/{jobs['admin'].pk}").status_code == 404
    assert client.get(f"/w/acme/jobs/{jobs['schedule'].pk}").status_code == 404


def test_rule_08_a_debug_grant_shows_every_job_of_that_recipe_only(people: dict[str, Any]) -> None:
    analyst, acme = people["analyst"], people["acme"]
    without_job_history(acme, analyst)
    other_recipe = make_recipe(people["admin"], acme, "Other recipe")
    hidden = make_job(other_recipe, by=people["admin"])
    RecipeGrant.objects.create(workspace=acme, recipe=people["sync"], user=analyst, read=True, debug=True)
    client = as_user(analyst)
    assert listed(client.get("/w/acme/jobs").content.decode()) == ids(*people["jobs"].values())
    assert client.get(f"/w/acme/jobs/{people['jobs']['admin'].pk}").status_code == 200
    assert client.get(f"/w/acme/jobs/{hidden.pk}").status_code == 404


def test_rule_08_an_admin_debugs_every_recipe(people: dict[str, Any]) -> None:
    html = as_user(people["admin"]).get("/w/acme/jobs").content.decode()
    assert listed(html) == ids(*people["jobs"].values())


def test_rule_08_dashboard_counts_only_the_jobs_the_viewer_may_see(people: dict[str, Any]) -> None:
    def counts(user: Any) -> dict[str, str]:
        html = as_user(user).get("/w/acme/").content.decode()
        return dict(re.findall(r'<li data-count="([a-z-]+)">.*?<strong>(\d+)</strong>', html, re.S))

    without_job_history(people["acme"], people["analyst"])
    without_job_history(people["acme"], people["operator"])
    assert counts(people["analyst"]) == {
        "total": "2",
        "queued": "0",
        "running": "0",
        "succeeded": "1",
        "failed": "1",
        "active-recipes": "0",
    }
    assert counts(people["operator"])["total"] == "1"
    assert counts(people["admin"])["total"] == "5"
    RecipeGrant.objects.create(
        workspace=people["acme"], recipe=people["sync"], user=people["analyst"], read=True, debug=True
    )
    assert counts(people["analyst"])["total"] == "5"
    assert counts(people["analyst"])["failed"] == "2"


def test_dashboard_lists_recent_jobs_failures_and_started_recipes(people: dict[str, Any]) -> None:
    recipe_start(actor=people["admin"], recipe=people["sync"])
    without_job_history(people["acme"], people["analyst"])
    html = as_user(people["analyst"]).get("/w/acme/").content.decode()
    recent = html[html.index('id="recent-jobs"') : html.index("Recent failures")]
    assert listed(recent) == ids(people["jobs"]["analyst"], people["jobs"]["analyst2"])
    failures = html[html.index('id="recent-failures"') : html.index("Started recipes</h2>")]
    assert listed(failures) == ids(people["jobs"]["analyst"])
    assert f'data-recipe="{people["sync"].pk}"' in html


# The job's page.


def test_the_job_page_shows_status_timing_who_and_each_step(people: dict[str, Any]) -> None:
    job = people["jobs"]["analyst"]
    job.started_at = timezone.now() - dt.timedelta(seconds=3)
    job.finished_at = timezone.now()
    job.trigger_payload = {"order": 42}
    job.save()
    make_step(job, "s1", 0, input={"url": "https://api.example.com/x"}, output={"status": 200})
    make_step(job, "s2", 1, step_type="map", output={"total": 3}, duration_ms=4, attempts=2)
    make_step(job, "s3[0].s4", 2, status="failed", error="HTTP 500 from api.example.com", duration_ms=77)
    page = as_user(people["analyst"]).get(f"/w/acme/jobs/{job.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'class="badge status-failed" id="job-status" data-status="failed">.*?Failed<', html)
    assert '<h1 id="job-title">Sync <small class="muted">job <code' in html
    assert f"<title>Sync · job {str(job.pk)[:8]} · Acme" in html
    assert '(took <span id="job-duration">3.0 s</span>)' in html
    assert re.findall(r'<td class="step-number">(\d+)</td>', html) == ["1", "2", "3"]
    assert '<td class="step-duration">4 ms</td>' in html
    # A finished job's page does not poll.
    assert "hx-get" not in html and "data-live" not in html
    assert 'id="job-run-by">analyst@example.com' in html
    assert "the API said no" in html
    assert "&quot;order&quot;: 42" in html
    rows = dict(re.findall(r'<tr data-step="([^"]+)" class="status-([a-z]+)">', html))
    assert rows == {"s1": "succeeded", "s2": "succeeded", "s3[0].s4": "failed"}
    assert "https://api.example.com/x" in html and "&quot;total&quot;: 3" in html
    assert "HTTP 500 from api.example.com" in html and "77 ms" in html
    assert html.index('data-step="s1"') < html.index('data-step="s2"') < html.index('data-step="s3[0].s4"')


def test_a_queued_job_page_polls_for_its_live_part_until_the_job_ends(people: dict[str, Any]) -> None:
    job = make_job(people["sync"], by=people["analyst"], status="queued")
    client = as_user(people["analyst"])
    page = client.get(f"/w/acme/jobs/{job.pk}")
    html = page.content.decode()
    assert "X-Causeway-Poll" in page["Vary"]
    live = f'<div id="job-live" data-live hx-get="/w/acme/jobs/{job.pk}" hx-trigger="every 1s, live:refresh"'
    assert live in html
    assert re.search(r'id="job-status" data-status="queued">.*?Queued</span>', html)
    # What the polling asks for: the live part alone, not the whole page.
    fragment = client.get(f"/w/acme/jobs/{job.pk}", headers=POLL).content.decode()
    assert fragment.lstrip().startswith('<div id="job-live"') and "<html" not in fragment
    assert 'id="no-steps"' in fragment
    ended = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        status="succeeded", started_at=ended - dt.timedelta(milliseconds=840), finished_at=ended
    )
    fragment = client.get(f"/w/acme/jobs/{job.pk}", headers=POLL).content.decode()
    assert 'data-status="succeeded"' in fragment and "hx-get" not in fragment
    assert '<span id="job-duration">840 ms</span>' in fragment


def test_an_old_running_job_page_polls_less_often(people: dict[str, Any]) -> None:
    job = people["jobs"]["analyst2"]
    Job.objects.filter(pk=job.pk).update(status="running", created_at=timezone.now() - dt.timedelta(hours=1))
    html = as_user(people["analyst"]).get(f"/w/acme/jobs/{job.pk}").content.decode()
    assert 'hx-trigger="every 15s, live:refresh"' in html


def test_the_job_page_fragment_is_refused_like_the_page_to_others(people: dict[str, Any]) -> None:
    job = people["jobs"]["analyst2"]
    for who in ("outsider",):
        answer = as_user(people[who]).get(f"/w/acme/jobs/{job.pk}", headers=POLL)
        assert answer.status_code == 404


def test_run_history_says_why_each_failed_job_failed_and_polls_while_jobs_run(people: dict[str, Any]) -> None:
    running = make_job(people["sync"], by=people["analyst"], status="running")
    client = as_user(people["analyst"])
    html = client.get("/w/acme/jobs").content.decode()
    assert 'data-status="running"' in html.split(f'data-job="{running.pk}"')[1].split("</tr>")[0]
    row = html.split(f'data-job="{people["jobs"]["analyst"].pk}"')[1].split("</tr>")[0]
    assert '<small class="reason" title="the API said no">the API said no</small>' in row
    assert 'data-status="failed"' in row
    assert 'class="reason"' not in html.split(f'data-job="{people["jobs"]["admin"].pk}"')[1].split("</tr>")[0]
    # Queued jobs are listed: the list polls often; the fragment is the table alone.
    assert '<div id="jobs-live" data-live hx-get="/w/acme/jobs" hx-trigger="every 3s, live:refresh"' in html
    fragment = client.get("/w/acme/jobs?status=failed", headers=POLL).content.decode()
    assert fragment.lstrip().startswith('<div id="jobs-live"') and "<form" not in fragment
    assert listed(fragment) == ids(people["jobs"]["analyst"], people["jobs"]["operator"])
    # Only finished jobs: the first page looks for new ones rarely; a wrong filter does not poll.
    assert 'hx-get="/w/acme/jobs?status=failed" hx-trigger="every 30s, live:refresh"' in fragment
    assert 'hx-trigger="every 30s' in client.get("/w/acme/jobs?page=1&status=succeeded").content.decode()
    assert "hx-get" not in client.get("/w/acme/jobs?status=nope").content.decode()


def test_a_recipes_jobs_page_polls_its_table(people: dict[str, Any]) -> None:
    make_job(people["sync"], by=people["analyst"], status="queued")
    client = as_user(people["analyst"])
    path = f"/w/acme/recipes/{people['sync'].pk}/jobs"
    assert f'hx-get="{path}" hx-trigger="every 3s' in client.get(path).content.decode()
    fragment = client.get(path, headers=POLL).content.decode()
    assert fragment.lstrip().startswith('<div id="jobs-live"') and "Trigger payload" not in fragment


def test_the_dashboard_says_why_jobs_failed_and_polls_while_jobs_run(people: dict[str, Any]) -> None:
    make_job(people["sync"], by=people["analyst"], status="queued")
    client = as_user(people["analyst"])
    html = client.get("/w/acme/").content.decode()
    failures = html[html.index('id="recent-failures"') : html.index("Started recipes</h2>")]
    assert '<span title="the API said no">the API said no</span>' in failures and ">boom</span>" in failures
    assert 'hx-get="/w/acme/" hx-trigger="every 3s, live:refresh"' in html
    fragment = client.get("/w/acme/", headers=POLL).content.decode()
    assert fragment.lstrip().startswith('<div id="dashboard-live"') and "Started recipes" not in fragment
    Job.objects.filter(status__in=["queued", "running"]).update(status="succeeded")
    assert 'hx-trigger="every 30s, live:refresh"' in client.get("/w/acme/").content.decode()


def test_a_poll_renders_the_live_part_alone_without_the_navigation_or_the_viewers_links(
    people: dict[str, Any],
) -> None:
    job = make_job(people["sync"], by=people["analyst"], status="queued")
    client = as_user(people["analyst"])
    for path in (
        "/w/acme/",
        "/w/acme/jobs",
        f"/w/acme/jobs/{job.pk}",
        f"/w/acme/recipes/{people['sync'].pk}/jobs",
    ):
        page = client.get(path)
        assert page.status_code == 200 and "nav_current" in page.context, path
        polled = client.get(path, headers=POLL)
        assert polled.status_code == 200 and polled.content.lstrip().startswith(b'<div id="'), path
        # Neither the navigation's context nor the page's own frame is worked out for a poll.
        assert "nav_current" not in polled.context and "nav_can" not in polled.context, path
        assert "membership" not in polled.context and "can_settings" not in polled.context, path
    # A job that ends while its page polls brings its Re-run form, which works: its CSRF token is there.
    people_may_execute_in_dev(people["admin"], people["acme"])
    strict = sign_in(https_client(enforce_csrf_checks=True), people["analyst"])
    first = people["jobs"]["analyst"]
    failed = strict.get(f"/w/acme/jobs/{first.pk}", headers=POLL).content.decode()
    assert 'id="rerun"' in failed
    token = failed.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    back = {"Referer": f"https://testserver/w/acme/jobs/{first.pk}"}
    rerun = strict.post(f"/w/acme/jobs/{first.pk}/rerun", {"csrfmiddlewaretoken": token}, headers=back)
    assert rerun.status_code == 302 and Job.objects.filter(rerun_of=first).count() == 1


def test_an_htmx_request_that_is_not_the_pages_polling_gets_the_whole_page(people: dict[str, Any]) -> None:
    # htmx asks for a page with HX-Request when it restores one from history, and swaps in what it gets.
    job = make_job(people["sync"], by=people["analyst"], status="queued")
    client = as_user(people["analyst"])
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    for path in ("/w/acme/", "/w/acme/jobs", f"/w/acme/jobs/{job.pk}"):
        html = client.get(path, headers=restore).content.decode()
        assert "<html" in html and 'data-live hx-get="' in html, path


def test_the_job_page_says_who_or_what_ran_it(people: dict[str, Any]) -> None:
    html = as_user(people["admin"]).get(f"/w/acme/jobs/{people['jobs']['schedule'].pk}").content.decode()
    assert 'id="job-run-by">the schedule trigger' in html
    assert 'id="rerun"' not in html


def test_the_job_page_links_a_rerun_and_its_original(people: dict[str, Any]) -> None:
    first = people["jobs"]["analyst"]
    second = make_job(people["sync"], by=people["analyst"], rerun_of=first)
    client = as_user(people["analyst"])
    html = client.get(f"/w/acme/jobs/{first.pk}").content.decode()
    assert f"/w/acme/jobs/{second.pk}" in html.split('id="job-reruns"')[1]
    html = client.get(f"/w/acme/jobs/{second.pk}").content.decode()
    assert f"/w/acme/jobs/{first.pk}" in html.split('id="job-rerun-of"')[1]


def test_cross_workspace_job_and_recipe_ids_are_not_found(people: dict[str, Any]) -> None:
    admin = as_user(people["admin"])
    assert admin.get(f"/w/acme/jobs/{people['foreign'].pk}").status_code == 404
    assert admin.get(f"/w/acme/recipes/{people['foreign'].recipe_id}/jobs").status_code == 404
    assert admin.post(f"/w/acme/jobs/{people['foreign'].pk}/rerun").status_code == 404
    outsider = as_user(people["outsider"])
    assert outsider.get(f"/w/other/jobs/{people['jobs']['admin'].pk}").status_code == 404
    assert outsider.get("/w/acme/jobs").status_code == 404
    assert outsider.get("/w/acme/").status_code == 404


# Filters and pages.


def test_filters_narrow_the_list(people: dict[str, Any]) -> None:
    jobs, admin = people["jobs"], people["admin"]
    other = make_recipe(admin, people["acme"], "Other recipe")
    tested = make_job(other, by=admin, is_test=True, status="failed")
    old = make_job(other, by=admin, created_at=timezone.now() - dt.timedelta(days=40))
    client = as_user(admin)

    def get(query: str) -> set[str]:
        return listed(client.get(f"/w/acme/jobs?{query}").content.decode())

    assert get("status=failed") == ids(jobs["analyst"], jobs["operator"], tested)
    assert get("trigger_type=schedule") == ids(jobs["schedule"])
    assert get("test=only") == ids(tested)
    assert tested.pk not in {j for j in get("test=exclude")}
    assert get(f"recipe={other.pk}") == ids(tested, old)
    today = timezone.now().date()
    assert get(f"recipe={other.pk}&until={today - dt.timedelta(days=30)}") == ids(old)
    assert get(f"recipe={other.pk}&since={today - dt.timedelta(days=1)}") == ids(tested)
    assert get(f"recipe={other.pk}&status=failed&test=only") == ids(tested)


def test_wrong_filters_are_named_under_their_field(people: dict[str, Any]) -> None:
    client = as_user(people["admin"])
    html = client.get("/w/acme/jobs?status=exploded&since=2026-02-01&until=2026-01-01").content.decode()
    assert 'data-field="status"' in html and 'data-field="until"' in html
    assert "must not be before the first day" in html
    assert listed(html) == set()
    html = client.get(f"/w/acme/jobs?recipe={people['foreign'].recipe_id}").content.decode()
    assert 'data-field="recipe"' in html and listed(html) == set()


def test_run_history_is_paginated(people: dict[str, Any]) -> None:
    for _ in range(55):
        make_job(people["sync"], by=people["operator"])
    without_job_history(people["acme"], people["operator"])
    client = as_user(people["operator"])
    first = client.get("/w/acme/jobs").content.decode()
    assert len(listed(first)) == 50
    assert "Page 1 of 2 · 56 jobs" in first and 'rel="next"' in first
    second = client.get("/w/acme/jobs?page=2").content.decode()
    assert len(listed(second)) == 6 and not listed(first) & listed(second)
    filtered = client.get("/w/acme/jobs?status=failed&page=1").content.decode()
    assert listed(filtered) == ids(people["jobs"]["operator"])


# Run, Test and Re-run (rule 4: an Operator may run and test, and view history; rule 5: people run
# for real only where an Admin let them execute).


def test_rule_05_operator_tests_from_its_jobs_page_and_runs_only_once_dev_allows_execute(
    people: dict[str, Any],
) -> None:
    sync, operator = people["sync"], people["operator"]
    client = as_user(operator)
    html = client.get(f"/w/acme/recipes/{sync.pk}/jobs").content.decode()
    assert 'value="run">Run</button>' not in html and 'value="test"' in html
    before = Job.objects.filter(recipe=sync).count()
    refused = client.post(f"/w/acme/recipes/{sync.pk}/jobs", {"mode": "run", "payload": '{"n": 1}'})
    assert refused.status_code == 403 and b"recipe:run" in refused.content
    assert Job.objects.filter(recipe=sync).count() == before
    people_may_execute_in_dev(people["admin"], people["acme"])
    html = client.get(f"/w/acme/recipes/{sync.pk}/jobs").content.decode()
    assert 'value="run">Run</button>' in html
    response = client.post(f"/w/acme/recipes/{sync.pk}/jobs", {"mode": "run", "payload": '{"n": 1}'})
    assert response.status_code == 302
    job = Job.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert (job.run_by_user, job.is_test, job.trigger_type, job.trigger_payload) == (
        operator,
        False,
        "manual",
        {"n": 1},
    )
    response = client.post(f"/w/acme/recipes/{sync.pk}/jobs", {"mode": "test"})
    job = Job.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert job.is_test and job.run_by_user == operator and job.version == sync.current_version
    assert client.get(response["Location"]).status_code == 200


def test_rule_04_operator_cannot_run_where_the_ceiling_forbids_it(people: dict[str, Any]) -> None:
    prod = make_recipe(people["admin"], people["acme"], "Prod recipe", environment="prod")
    client = as_user(people["operator"])
    html = client.get(f"/w/acme/recipes/{prod.pk}/jobs").content.decode()
    assert 'value="run"' not in html and 'value="test"' not in html
    response = client.post(f"/w/acme/recipes/{prod.pk}/jobs", {"mode": "run"})
    assert response.status_code == 403 and b"recipe:run" in response.content
    assert not Job.objects.filter(recipe=prod).exists()


def test_rule_04_operator_reruns_its_own_failed_job_but_not_others_it_cannot_see(
    people: dict[str, Any],
) -> None:
    jobs = people["jobs"]
    without_job_history(people["acme"], people["operator"])
    client = as_user(people["operator"])
    assert client.post(f"/w/acme/jobs/{jobs['analyst'].pk}/rerun").status_code == 404
    assert not Job.objects.filter(rerun_of=jobs["analyst"]).exists()
    people_may_execute_in_dev(people["admin"], people["acme"])
    assert 'id="rerun"' in client.get(f"/w/acme/jobs/{jobs['operator'].pk}").content.decode()
    response = client.post(f"/w/acme/jobs/{jobs['operator'].pk}/rerun")
    assert response.status_code == 302
    rerun = Job.objects.get(rerun_of=jobs["operator"])
    assert response["Location"] == f"/w/acme/jobs/{rerun.pk}"
    assert rerun.run_by_user == people["operator"] and rerun.status == "queued"


def test_only_a_failed_job_offers_a_rerun(people: dict[str, Any]) -> None:
    client = as_user(people["analyst"])
    assert 'id="rerun"' not in client.get(f"/w/acme/jobs/{people['jobs']['analyst2'].pk}").content.decode()
    response = client.post(f"/w/acme/jobs/{people['jobs']['analyst2'].pk}/rerun", follow=True)
    assert not Job.objects.filter(rerun_of=people["jobs"]["analyst2"]).exists()
    assert response.status_code == 200


def test_a_payload_that_is_not_a_json_object_is_refused_under_its_field(people: dict[str, Any]) -> None:
    client = as_user(people["analyst"])
    before = Job.objects.count()
    for bad in ("{not json", "[1, 2]"):
        response = client.post(f"/w/acme/recipes/{people['sync'].pk}/jobs", {"mode": "test", "payload": bad})
        assert response.status_code == 400
        assert field_errors(response.content.decode(), "payload")
    assert Job.objects.count() == before


# Schedule.


def test_schedule_lists_started_scheduled_recipes_with_their_next_runs(people: dict[str, Any]) -> None:
    admin, acme = people["admin"], people["acme"]
    daily = make_recipe(admin, acme, "Daily", definition=schedule_definition("0 9 * * *", "Europe/Paris"))
    recipe_start(actor=admin, recipe=daily)
    make_recipe(admin, acme, "Not started", definition=schedule_definition())
    recipe_start(actor=admin, recipe=people["sync"])  # started, but a manual trigger
    html = as_user(people["operator"]).get("/w/acme/schedule").content.decode()
    rows = re.findall(r'<tr data-recipe="([0-9a-f-]+)">', html)
    assert rows == [str(daily.pk)]
    assert '<code class="cron">0 9 * * *</code>' in html and "Europe/Paris" in html
    assert '<span class="cron-words">At 09:00, Europe/Paris</span>' in html
    runs = re.findall(r'<time datetime="([^"]+)">', html.split('class="next-runs"')[1])
    assert len(runs) == 5
    parsed = [dt.datetime.fromisoformat(value) for value in runs]
    assert all(when.hour == 9 and when.minute == 0 for when in parsed)
    assert parsed == sorted(parsed)


def test_schedule_shows_only_recipes_the_viewer_may_read(people: dict[str, Any]) -> None:
    admin, acme = people["admin"], people["acme"]
    daily = make_recipe(admin, acme, "Daily", definition=schedule_definition())
    recipe_start(actor=admin, recipe=daily)
    narrow = Role.objects.create(
        workspace=acme, key="narrow", name="Narrow", permissions=["recipe:view"], all_projects=False
    )
    reader = make_user("reader@example.com")
    Membership.objects.create(workspace=acme, user=reader, role=narrow)
    assert "no-schedules" in as_user(reader).get("/w/acme/schedule").content.decode()
    narrow.projects.add(daily.project)
    assert f'data-recipe="{daily.pk}"' in as_user(reader).get("/w/acme/schedule").content.decode()


# Rule 13: history was masked when written; a value learnt since is masked on the way out too.

CANARY = "sk_live_history-canary-3141"


@pytest.fixture
def canary_in_history(people: dict[str, Any]) -> Any:
    from causeway.vault.masking import register_value, registry

    job = people["jobs"]["analyst"]
    job.error = f"refused with {CANARY}"
    job.trigger_payload = {"token": CANARY}
    job.save()
    make_step(
        job, "s1", 0, input={"headers": {"Authorization": f"Bearer {CANARY}"}}, output=CANARY, error=CANARY
    )
    registry.clear()
    register_value("STRIPE_KEY", CANARY)
    yield job
    registry.clear()


def test_rule_13_job_history_is_masked_again_on_the_way_out(
    people: dict[str, Any], canary_in_history: Any
) -> None:
    from io import StringIO

    from django.core.management import call_command

    from causeway.workspaces.tests.helpers import bearer

    job = canary_in_history
    page = as_user(people["analyst"]).get(f"/w/acme/jobs/{job.pk}").content.decode()
    api = https_client(**bearer(people["analyst"])).get(
        f"/api/v1/workspaces/{people['acme'].pk}/jobs/{job.pk}"
    )
    listing = https_client(**bearer(people["analyst"])).get(f"/api/v1/workspaces/{people['acme'].pk}/jobs")
    out = StringIO()
    call_command("jobs", "show", "--workspace", "acme", str(job.pk), stdout=out)
    for text in (page, api.content.decode(), listing.content.decode(), out.getvalue()):
        assert CANARY not in text
        assert "[masked:STRIPE_KEY]" in text
    body = api.json()
    assert body["trigger_payload"] == {"token": "[masked:STRIPE_KEY]"}
    assert body["steps"][0]["input"] == {"headers": {"Authorization": "Bearer [masked:STRIPE_KEY]"}}


def test_a_queued_job_is_cancelled_from_its_page_after_a_confirmation_and_a_finished_one_is_a_conflict(
    people: dict[str, Any],
) -> None:
    people_may_execute_in_dev(people["admin"], people["acme"])
    job = make_job(people["sync"], by=people["analyst"], status="queued")
    client = as_user(people["analyst"])
    html = client.get(f"/w/acme/jobs/{job.pk}").content.decode()
    form = html.split('id="cancel"')[0].rsplit("<form", 1)[1]
    assert f'action="/w/acme/jobs/{job.pk}/cancel"' in form and "data-confirm=" in form
    done = client.post(f"/w/acme/jobs/{job.pk}/cancel")
    assert done.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.cancelled_by) == ("cancelled", people["analyst"].email)
    html = client.get(f"/w/acme/jobs/{job.pk}").content.decode()
    assert 'data-status="cancelled"' in html and 'id="cancel"' not in html
    again = client.post(f"/w/acme/jobs/{job.pk}/cancel")
    assert (
        again.status_code == 409 and "only a queued or running job can be cancelled" in again.content.decode()
    )


def test_cancelling_asks_what_running_asks(people: dict[str, Any]) -> None:
    job = make_job(people["sync"], by=people["analyst"], status="queued")
    client = as_user(people["analyst"])
    assert 'id="cancel"' not in client.get(f"/w/acme/jobs/{job.pk}").content.decode()
    assert client.post(f"/w/acme/jobs/{job.pk}/cancel").status_code == 403
    test_run = make_job(people["sync"], by=people["analyst"], status="queued", is_test=True)
    assert client.post(f"/w/acme/jobs/{test_run.pk}/cancel").status_code == 302
    assert Job.objects.get(pk=job.pk).status == "queued"
    assert Job.objects.get(pk=test_run.pk).status == "cancelled"
    assert as_user(people["admin"]).post(f"/w/acme/jobs/{people['foreign'].pk}/cancel").status_code == 404


def test_the_job_page_links_a_failed_attempt_and_its_retry(people: dict[str, Any]) -> None:
    first = people["jobs"]["analyst"]
    retry = make_job(
        people["sync"],
        by=people["analyst"],
        status="queued",
        retry_of=first,
        retry_number=1,
        first_attempt=first,
    )
    client = as_user(people["analyst"])
    html = client.get(f"/w/acme/jobs/{first.pk}").content.decode()
    assert f"/w/acme/jobs/{retry.pk}" in html.split('id="job-retry"')[1]
    html = client.get(f"/w/acme/jobs/{retry.pk}").content.decode()
    attempt = html.split('id="job-attempt"')[1].split("</dd>")[0]
    assert "retry 1 of a failed job" in attempt and f"/w/acme/jobs/{first.pk}" in attempt
