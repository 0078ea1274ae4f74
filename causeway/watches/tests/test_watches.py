"""Watching a recipe and being told of its failures: at most one message per interval with a count, the
latest reason masked, test runs only when asked, nothing for a watcher who lost access, a message that
could not go out recorded and tried again, and who may be told through which connection (rule 6)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from causeway import mail
from causeway.access.errors import Forbidden, NotFound
from causeway.audit.models import AuditEvent
from causeway.connections import services as connections
from causeway.connections.tests.servers import Received, http_server
from causeway.recipes.secrets import secret_write
from causeway.runs import runtime
from causeway.runs.models import Job
from causeway.runs.services import job_create
from causeway.runs.tests.helpers import Setting, definition, recipe, setting
from causeway.watches import selectors, sending, services
from causeway.watches.models import NOTICE_MAX_ATTEMPTS, Notice, NoticeState, Watch
from causeway.watches.tests.helpers import connection, echo_credential, leaky_failure
from causeway.workspaces.models import Membership
from testkit.support import make_user

pytestmark = pytest.mark.django_db

STOP = {"id": "check", "type": "stop", "message": "order {{ trigger.order }} refused"}


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "mail"
    with override_settings(EMAIL_BACKEND="causeway.mail.OutboxBackend", EMAIL_FILE_PATH=folder):
        yield folder


def fail(place: Setting, made: Any, *, order: int = 1, is_test: bool = False) -> Job:
    job = job_create(
        actor=place.admin, recipe=made, trigger_type="manual", payload={"order": order}, is_test=is_test
    )
    assert runtime.run(job.pk) == "failed"
    return Job.objects.get(pk=job.pk)


def messages() -> list[str]:
    return [mail.outbox_show(entry.id) for entry in mail.outbox_list()]


def tell(now: Any = None) -> None:
    sending.watches_tell(now=now)
    sending.notices_send(now=now)


def test_a_watcher_gets_one_message_per_interval_counting_the_failures_since_the_last(outbox: Path) -> None:
    place = setting()
    made = recipe(place, definition(STOP), name="Orders")
    services.watch_set(actor=place.admin, recipe=made)
    first = fail(place, made, order=1)
    tell()
    [told] = messages()
    assert f"To: {place.admin.email}" in told and "Subject: Recipe Orders failed once" in told
    assert "order 1 refused" in told
    assert f"/w/{place.workspace.slug}/jobs/{first.pk}" in told

    fail(place, made, order=2)
    latest = fail(place, made, order=3)
    tell()
    assert len(messages()) == 1, "the interval (15 minutes by default) has not passed"

    tell(now=timezone.now() + timedelta(minutes=16))
    second = messages()[1]
    assert "Subject: Recipe Orders failed 2 times" in second
    assert "order 3 refused" in second and f"/jobs/{latest.pk}" in second
    tell(now=timezone.now() + timedelta(minutes=40))
    assert len(messages()) == 2, "no new failure, no message"


def test_the_interval_is_the_workspace_setting_an_admin_sets(outbox: Path) -> None:
    place = setting()
    analyst = make_user("analyst@acme.example")
    Membership.objects.create(workspace=place.workspace, user=analyst, role=_role("analyst"))
    with pytest.raises(Forbidden):
        services.notification_interval_set(actor=analyst, workspace=place.workspace, minutes=5)
    with pytest.raises(ValidationError, match="interval_minutes"):
        services.notification_interval_set(actor=place.admin, workspace=place.workspace, minutes=0)
    assert services.notification_interval_set(actor=place.admin, workspace=place.workspace, minutes=60) == 60
    assert selectors.interval_minutes(place.workspace) == 60
    event = AuditEvent.objects.get(workspace_id=place.workspace.id, action="notifications.settings_changed")
    assert event.details["changes"] == {"interval_minutes": {"from": 15, "to": 60}}

    made = recipe(place, definition(STOP))
    services.watch_set(actor=place.admin, recipe=made)
    fail(place, made)
    tell()
    fail(place, made, order=2)
    tell(now=timezone.now() + timedelta(minutes=16))
    assert len(messages()) == 1
    tell(now=timezone.now() + timedelta(minutes=61))
    assert len(messages()) == 2


def test_test_runs_are_told_only_to_watchers_who_ask_for_them(outbox: Path) -> None:
    place = setting()
    made = recipe(place, definition(STOP))
    services.watch_set(actor=place.admin, recipe=made)
    fail(place, made, is_test=True)
    tell()
    assert messages() == []
    services.watch_set(actor=place.admin, recipe=made, include_tests=True)
    fail(place, made, is_test=True)
    tell()
    assert len(messages()) == 1


def test_a_watcher_who_loses_access_is_told_nothing(outbox: Path) -> None:
    place = setting()
    analyst = make_user("analyst@acme.example")
    membership = Membership.objects.create(workspace=place.workspace, user=analyst, role=_role("analyst"))
    made = recipe(place, definition(STOP))
    services.watch_set(actor=analyst, recipe=made)
    fail(place, made)
    sending.watches_tell()
    [notice] = Notice.objects.filter(watch__user=analyst)
    # Access goes between the message being made and sent: it is dropped, not sent.
    membership.delete()
    sending.notices_send()
    notice.refresh_from_db()
    assert notice.state == NoticeState.DROPPED
    fail(place, made, order=2)
    tell(now=timezone.now() + timedelta(minutes=16))
    assert messages() == []
    assert selectors.watches_list(analyst, place.workspace).count() == 0


def test_rule_08_a_watcher_is_told_only_of_jobs_it_may_see(outbox: Path) -> None:
    """A custom role without debug sees only the jobs its member ran: others' failures are not told."""
    from testkit.personas import builder

    place = setting()
    made = recipe(place, definition(STOP))
    user = make_user("builder@acme.example")
    member = builder(place.workspace, user, perms=["project:view", "recipe:view"])
    services.watch_set(actor=member.user, recipe=made)
    fail(place, made)
    tell()
    assert messages() == [] and not Notice.objects.exists()
    assert Watch.objects.get(user=member.user).told_until >= Job.objects.get(recipe=made).finished_at


def test_a_message_that_cannot_go_out_is_recorded_and_tried_again(outbox: Path) -> None:
    place = setting()
    made = recipe(place, definition(STOP))
    services.watch_set(actor=place.admin, recipe=made)
    job = fail(place, made)
    # A mail server that is not there: port 9 on loopback refuses the connection.
    with override_settings(
        EMAIL_BACKEND="causeway.mail.SmtpBackend", EMAIL_HOST="127.0.0.1", EMAIL_PORT=9, EMAIL_TIMEOUT=5
    ):
        tell()
    notice = Notice.objects.get()
    assert notice.state == NoticeState.PENDING and notice.attempts == 1
    assert notice.last_error == "the mail server did not take the message"
    assert notice.next_attempt_at > timezone.now()
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "order 1 refused", "the job is as it was"
    tell()
    assert messages() == [], "not before its back-off"
    tell(now=timezone.now() + timedelta(minutes=2))
    notice.refresh_from_db()
    assert notice.state == NoticeState.SENT and notice.attempts == 2 and notice.last_error == ""
    assert len(messages()) == 1


def test_a_message_is_given_up_after_its_tries(outbox: Path) -> None:
    place = setting()
    made = recipe(place, definition(STOP))
    services.watch_set(actor=place.admin, recipe=made)
    fail(place, made)
    later = timezone.now()
    with override_settings(
        EMAIL_BACKEND="causeway.mail.SmtpBackend", EMAIL_HOST="127.0.0.1", EMAIL_PORT=9, EMAIL_TIMEOUT=5
    ):
        for _ in range(NOTICE_MAX_ATTEMPTS + 2):
            later += timedelta(hours=2)
            tell(now=later)
    notice = Notice.objects.get()
    assert notice.state == NoticeState.FAILED and notice.attempts == NOTICE_MAX_ATTEMPTS


def test_rule_13_the_canary_secret_in_a_failure_reason_never_reaches_a_message(outbox: Path) -> None:
    canary = f"canary-{secrets.token_hex(16)}"
    place = setting()
    secret_write(
        actor=place.admin,
        workspace=place.workspace,
        name="ERP_KEY",
        value=canary,
        allowed_hosts=["127.0.0.1"],
    )

    posted: list[Received] = []
    with http_server(echo_credential) as erp, http_server() as hook:
        made = recipe(place, leaky_failure(erp.url))
        webhook = connection(place, hook.url)
        services.watch_set(actor=place.admin, recipe=made, connection_id=webhook.pk, channel="/failures")
        job = fail(place, made)
        tell()
        posted = list(hook.received)
    assert canary in erp.received[0].headers["Authorization"]
    assert job.error == "refused with Bearer [masked:ERP_KEY]"
    [told] = messages()
    [call] = posted
    assert call.path == "/failures"
    body = json.loads(call.body)
    assert body["failures"] == 1 and body["latest"]["reason"] == "refused with Bearer [masked:ERP_KEY]"
    assert body["latest"]["url"].endswith(f"/jobs/{job.pk}")
    texts = [told, call.body.decode(), *(n.last_error for n in Notice.objects.all())]
    texts += [json.dumps(e.details) for e in AuditEvent.objects.filter(workspace_id=place.workspace.id)]
    assert all(canary not in text for text in texts)


def test_rule_06_a_watcher_is_told_only_through_a_connection_of_its_own(outbox: Path) -> None:
    place = setting()
    analyst = make_user("analyst@acme.example")
    Membership.objects.create(workspace=place.workspace, user=analyst, role=_role("analyst"))
    made = recipe(place, definition(STOP))
    with http_server() as hook:
        admins = connection(place, hook.url)
        company = connection(place, hook.url, kind="company")
        with pytest.raises(ValidationError) as refused:
            services.watch_set(actor=analyst, recipe=made, connection_id=admins.pk)
        assert refused.value.message_dict == {"connection": ["no such Slack or HTTP/REST connection"]}
        with pytest.raises(ValidationError, match="not linked by"):
            services.watch_set(actor=analyst, recipe=made, connection_id=company.pk)
        assert list(selectors.notice_connections(analyst, place.workspace)) == []
        connections.connection_link(actor=analyst, workspace=place.workspace, connection_id=company.pk)
        assert list(selectors.notice_connections(analyst, place.workspace)) == [company]
        services.watch_set(actor=analyst, recipe=made, by_email=False, connection_id=company.pk)
        # Unlinked later: the next message through it is refused before anything is sent, and recorded.
        connections.connection_unlink(actor=analyst, workspace=place.workspace, connection_id=company.pk)
        fail(place, made)
        tell()
        assert hook.received == []
    notice = Notice.objects.get()
    assert notice.state == NoticeState.PENDING and "not linked by" in notice.last_error


def test_watch_and_unwatch_are_audited_and_need_read(outbox: Path) -> None:
    place = setting()
    made = recipe(place, definition(STOP))
    stranger = make_user("stranger@elsewhere.example")
    with pytest.raises(NotFound):
        services.watch_set(actor=stranger, recipe=made)
    with pytest.raises(ValidationError, match="email, a connection, or both"):
        services.watch_set(actor=place.admin, recipe=made, by_email=False)
    services.watch_set(actor=place.admin, recipe=made)
    services.watch_set(actor=place.admin, recipe=made)
    services.watch_set(actor=place.admin, recipe=made, include_tests=True)
    services.watch_remove(actor=place.admin, recipe=made)
    services.watch_remove(actor=place.admin, recipe=made)
    actions = list(
        AuditEvent.objects.filter(workspace_id=place.workspace.id, action__startswith="watch.")
        .order_by("occurred_at", "chain", "seq")
        .values_list("action", flat=True)
    )
    assert actions == ["watch.added", "watch.changed", "watch.removed"]


def _role(key: str) -> Any:
    from testkit.factories import system_role

    return system_role(key)
