"""Failure notices through real processes: a `causeway worker` runs jobs that fail, and the same worker
tells each watcher of the recipe, by email into the file outbox of the embedded default, through a
Slack connection (a local Slack Web API) and through an HTTP/REST connection (a local webhook
receiver): one message per watcher per interval, with the count, the latest reason masked and the link.

The same test runs on the embedded default (SQLite and the SQLite broker) and, in CI's second pass, on
PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db.models import F
from django.test import override_settings

from causeway import mail
from causeway.connections import services as connections
from causeway.connections.tests.servers import http_server
from causeway.connections.tests.slack_server import slack_server
from causeway.recipes.secrets import secret_write
from causeway.runs.models import FINISHED, Job
from causeway.runs.services import job_create
from causeway.runs.tests.helpers import recipe, setting
from causeway.watches import services as watches
from causeway.watches.models import Notice, NoticeState, Watch
from causeway.watches.tests.helpers import connection, echo_credential, leaky_failure
from causeway.workspaces.models import Membership
from testkit.factories import system_role
from testkit.support import TEST_HOME, jobs_seen, make_user, poll_until, process_env, start_worker

SLACK_TOKEN = "xoxb-watch-canary-7d2c41"


def _outbox(to: str) -> list[str]:
    with override_settings(EMAIL_FILE_PATH=TEST_HOME / "mail"):
        return [mail.outbox_show(entry.id) for entry in mail.outbox_list() if entry.to == to]


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_rule_13_watchers_are_told_of_failures_by_the_worker_by_email_slack_and_webhook(
    tmp_path: Path,
) -> None:
    canary = f"canary-{secrets.token_hex(16)}"
    # Addresses of this run alone: the outbox of the data directory may hold other runs' messages.
    name = f"Watchers{secrets.token_hex(4)}"
    place = setting(name)
    analyst = make_user(f"analyst@{name.lower()}.example")
    Membership.objects.create(workspace=place.workspace, user=analyst, role=system_role("analyst"))
    secret_write(
        actor=place.admin,
        workspace=place.workspace,
        name="ERP_KEY",
        value=canary,
        allowed_hosts=["127.0.0.1"],
    )

    with http_server(echo_credential) as erp, http_server() as receiver, slack_server(SLACK_TOKEN) as slack:
        made = recipe(place, leaky_failure(erp.url), name="Nightly orders")
        own_slack = connection(place, slack.url, connector="slack", token=SLACK_TOKEN)
        company_hook = connection(place, receiver.url, kind="company")
        connections.connection_link(actor=analyst, workspace=place.workspace, connection_id=company_hook.pk)
        watches.watch_set(actor=place.admin, recipe=made, connection_id=own_slack.pk, channel="C0000000001")
        watches.watch_set(
            actor=analyst, recipe=made, by_email=False, connection_id=company_hook.pk, channel="/alerts"
        )

        worker = start_worker(process_env(), tmp_path)
        try:
            first = _failed_job(place, made)
            sent = poll_until(
                lambda: Notice.objects.filter(state=NoticeState.SENT).count() == 3 or None,
                seconds=90,
                what="the worker to send the three notices of the first failure",
                saw=lambda: (
                    f"{list(Notice.objects.values('channel', 'state', 'last_error'))}\n{worker.tail()}"
                ),
            )
            assert sent
            # Two more failures within the interval: no message, but they are counted for the next.
            jobs = [_failed_job(place, made), _failed_job(place, made)]
            _told(worker, 3)
            # The interval passes (15 minutes by default): the next failure's message counts all three.
            Watch.objects.update(last_message_at=F("last_message_at") - timedelta(minutes=16))
            latest = _failed_job(place, made)
            poll_until(
                lambda: Notice.objects.filter(state=NoticeState.SENT).count() == 6 or None,
                seconds=90,
                what="the worker to send the notices of the next interval",
                saw=lambda: (
                    f"{list(Notice.objects.values('channel', 'state', 'last_error'))}\n{worker.tail()}"
                ),
            )
        finally:
            worker.stop()
        worker_log = worker.output()
        slack_posts = list(slack.posted)
        hook_calls = list(receiver.received)

    assert all(job.status == "failed" for job in [first, *jobs, latest])
    assert first.error == "refused with Bearer [masked:ERP_KEY]"
    emails = _outbox(place.admin.email)
    assert [e.split("Subject: ")[1].splitlines()[0] for e in emails] == [
        "Recipe Nightly orders failed once",
        "Recipe Nightly orders failed 3 times",
    ]
    assert f"/jobs/{first.pk}" in emails[0] and f"/jobs/{latest.pk}" in emails[1]
    assert "refused with Bearer [masked:ERP_KEY]" in emails[1]
    assert _outbox(analyst.email) == [], "the analyst chose the connection alone"

    assert [p["channel"] for p in slack_posts] == ["C0000000001", "C0000000001"]
    assert "failed 3 times" in slack_posts[1]["text"] and f"/jobs/{latest.pk}" in slack_posts[1]["text"]
    bodies = [json.loads(call.body) for call in hook_calls]
    assert [call.path for call in hook_calls] == ["/alerts", "/alerts"]
    assert [(b["failures"], b["latest"]["job"]) for b in bodies] == [(1, str(first.pk)), (3, str(latest.pk))]
    assert bodies[1]["latest"]["reason"] == "refused with Bearer [masked:ERP_KEY]"

    surfaces = [
        *emails,
        *(json.dumps(p) for p in slack_posts),
        *(c.body.decode() for c in hook_calls),
        worker_log,
    ]
    assert [text[:120] for text in surfaces if canary in text] == []


def _told(worker: Any, failures: int) -> None:
    """Wait until the worker has handled the failure of `failures` jobs (each a task it logs as done)."""
    poll_until(
        lambda: (
            sum(
                1
                for line in worker.output().splitlines()
                if "causeway.watches.tasks.job_failed[" in line and " succeeded " in line
            )
            >= failures
            or None
        ),
        seconds=90,
        what=f"the worker to handle {failures} failures",
        saw=lambda: worker.tail(),
    )


def _failed_job(place: Any, made: Any) -> Job:
    job = job_create(actor=place.admin, recipe=made, trigger_type="manual")
    return poll_until(
        lambda: Job.objects.filter(pk=job.pk, status__in=FINISHED).first(),
        seconds=90,
        what="the job to finish",
        saw=lambda: jobs_seen([job.pk]),
    )
