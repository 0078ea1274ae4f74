"""The Slack connector against a local Slack Web API that answers as Slack's published description says
(`causeway.connections.tests.slack_server`), and its Events API trigger with calls signed as Slack signs
them, posted over HTTPS to the recipe's connector webhook."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from causeway.audit.models import AuditEvent
from causeway.connections import services as connections
from causeway.connections.models import Connection
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.slack_server import Slack, slack_server
from causeway.recipes.services import project_create, recipe_create
from causeway.runs import runtime
from causeway.runs.models import Job, WebhookEndpoint
from causeway.runs.services import job_create
from causeway.runs.tests.trigger_helpers import started_recipe
from causeway.tests.catalogue_kit import Catalogue, catalogue, redirect_uris, surfaces_nowhere
from testkit.personas import cast
from testkit.support import https_client

pytestmark = pytest.mark.django_db

TOKEN = "xoxb-canary-4f1e9a7c2b"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture(scope="module")
def slack() -> Iterator[Slack]:
    with slack_server(TOKEN) as server:
        yield server


@pytest.fixture
def people(slack: Slack) -> dict[str, Any]:
    found = cast("admin").people()
    connections.connector_enable(actor=found["admin"], workspace=found["acme"], key="slack", enabled=True)
    outbound_hosts_set(actor=found["admin"], workspace=found["acme"], hosts=["127.0.0.1"])
    slack.posted.clear()
    slack.limited.clear()
    assert slack.server is not None
    slack.server.recorder.received.clear()
    return found


def connection(people: dict[str, Any], slack: Slack, scopes: list[str], token: str = TOKEN) -> Connection:
    return connections.connection_create(
        actor=people["admin"],
        workspace=people["acme"],
        kind="personal",
        connector_key="slack",
        name="Acme Slack",
        auth_method="bearer",
        settings={"base_url": slack.url},
        credentials={"token": token},
        scopes=scopes,
    )


def run_step(people: dict[str, Any], made: Connection, action: str, given: dict[str, Any]) -> Job:
    project = project_create(
        actor=people["admin"], workspace=people["acme"], name=f"Slack {action} {uuid.uuid4().hex[:6]}"
    )
    step = {"id": "slack", "type": "connector", "connection": str(made.id), "action": action, "input": given}
    recipe = recipe_create(
        actor=people["admin"],
        workspace=people["acme"],
        project=project,
        name=f"Slack {action}",
        definition={"trigger": {"type": "manual"}, "steps": [{**step, "retries": 0}]},
    )
    job = job_create(actor=people["admin"], recipe=recipe, trigger_type="manual", is_test=True)
    runtime.run(job.pk)
    job.refresh_from_db()
    return job


def test_slack_post_message_sends_json_with_the_bearer_token_and_answers_the_ts(
    people: dict[str, Any], slack: Slack
) -> None:
    made = connection(people, slack, ["chat:write"])
    job = run_step(people, made, "post_message", {"channel": "C0000000001", "text": "Deploy finished"})
    assert job.status == "succeeded", job.error
    [sent] = slack.server.received  # type: ignore[union-attr]
    assert sent.path == "/api/chat.postMessage" and sent.method == "POST"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Content-Type"].startswith("application/json")
    assert json.loads(sent.body) == {"channel": "C0000000001", "text": "Deploy finished"}
    updated = run_step(
        people, made, "update_message", {"channel": "C0000000001", "ts": "1700000000.000001", "text": "Done"}
    )
    assert updated.status == "succeeded", updated.error
    assert slack.calls() == ["chat.postMessage", "chat.update"]


def test_slack_list_channels_follows_every_cursor_page_up_to_the_limit(
    people: dict[str, Any], slack: Slack
) -> None:
    made = connection(people, slack, ["channels:read"])
    job = run_step(people, made, "list_channels", {})
    assert job.status == "succeeded", job.error
    # Five channels in pages of two: three pages, the last with an empty next_cursor.
    assert slack.calls() == ["conversations.list"] * 3
    slack.server.recorder.received.clear()  # type: ignore[union-attr]
    capped = run_step(people, made, "list_channels", {"max_items": 3})
    assert capped.status == "succeeded", capped.error
    assert slack.calls() == ["conversations.list"] * 2


def test_slack_errors_name_slacks_code_and_a_429_pauses_the_connection(
    people: dict[str, Any], slack: Slack
) -> None:
    made = connection(people, slack, ["chat:write", "users:read", "users:read.email"])
    missing = run_step(people, made, "find_user_by_email", {"email": "nobody@example.com"})
    assert missing.status == "failed" and "users_not_found" in (missing.error or "")
    found = run_step(people, made, "find_user_by_email", {"email": "ada@example.com"})
    assert found.status == "succeeded", found.error
    unknown = run_step(people, made, "post_message", {"channel": "C9999999999", "text": "hi"})
    assert "channel_not_found" in (unknown.error or "")
    slack.limited["C0000000002"] = 30
    limited = run_step(people, made, "post_message", {"channel": "C0000000002", "text": "hi"})
    assert limited.status == "failed" and "ratelimited" in (limited.error or "")
    made.refresh_from_db()
    assert made.paused_until is not None
    assert TOKEN not in (limited.error or "") + (missing.error or "")


def test_slack_wrong_token_is_slacks_invalid_auth(people: dict[str, Any], slack: Slack) -> None:
    made = connection(people, slack, ["chat:write"], token="xoxb-not-the-token")
    job = run_step(people, made, "post_message", {"channel": "C0000000001", "text": "hi"})
    assert job.status == "failed" and "invalid_auth" in (job.error or "")


def test_rule_07_slack_action_whose_scope_was_not_granted_sends_nothing(
    people: dict[str, Any], slack: Slack
) -> None:
    made = connection(people, slack, ["channels:read"])
    job = run_step(people, made, "post_message", {"channel": "C0000000001", "text": "hi"})
    assert job.status == "failed" and "chat:write" in (job.error or "")
    assert slack.server.received == []  # type: ignore[union-attr]


def _signed(body: bytes, *, at: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    stamp = str(at if at is not None else int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": stamp, "HTTP_X_SLACK_SIGNATURE": f"v0={digest}"}


def _event(event_id: str, kind: str = "app_mention") -> bytes:
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "event": {"type": kind, "user": "U0001", "text": "<@U0002> deploy", "ts": "1700000000.000100"},
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1700000000,
            "authed_users": ["U0002"],
        }
    ).encode()


def test_slack_events_are_checked_with_the_signing_secret(people: dict[str, Any], slack: Slack) -> None:
    made = connection(people, slack, [])
    trigger = {
        "type": "connector",
        "connection": str(made.id),
        "trigger": "events",
        "input": {"event_types": ["app_mention"]},
    }
    recipe = started_recipe(people["admin"], people["acme"], trigger, name="Slack events")
    endpoint = WebhookEndpoint.objects.get(recipe=recipe)
    client = https_client()
    client.force_login(people["admin"])
    url = f"/api/v1/workspaces/{people['acme'].id}/recipes/{recipe.id}/webhook/secret"
    assert client.put(url, {"secret": SIGNING_SECRET}, content_type="application/json").status_code == 200
    hook = f"/hooks/connector/{endpoint.token}"

    def post(body: bytes, headers: dict[str, str]) -> Any:
        return https_client().post(hook, body, content_type="application/json", **headers)

    # Slack checks the Request URL with a challenge, signed like every call; no job starts.
    challenge = json.dumps(
        {"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV", "type": "url_verification"}
    ).encode()
    answered = post(challenge, _signed(challenge))
    assert (answered.status_code, answered.json()) == (200, {"challenge": "3eZbrw1aBm2rZgRNFdxV"})
    body = _event("Ev0001")
    first = post(body, _signed(body))
    assert first.status_code == 202
    job = Job.objects.get(pk=first.json()["job"])
    assert job.trigger_payload["event"]["type"] == "app_mention"
    # Slack retries with the same event_id: the same job, no second one.
    again = post(body, {**_signed(body), "HTTP_X_SLACK_RETRY_NUM": "1"})
    assert (again.status_code, again.json()) == (200, first.json())
    # An event type the recipe does not watch is acknowledged and starts nothing.
    other = _event("Ev0002", kind="reaction_added")
    assert post(other, _signed(other)).status_code == 200
    # Forged, stale or unsigned calls are refused, audited, and start nothing.
    forged = _event("Ev0003")
    assert post(forged, _signed(forged, secret="not-the-signing-secret")).status_code == 401
    assert post(forged, _signed(forged, at=int(time.time()) - 600)).status_code == 401
    assert post(forged, {}).status_code == 401
    assert Job.objects.count() == 1
    # The first refusal is audited with its reason at once; the others are counted into a later event
    # of the same interval (a call that lands after the interval turns over starts a new one).
    refused = list(
        AuditEvent.objects.filter(action="webhook.refused").order_by("occurred_at", "chain", "seq")
    )
    assert refused, "the refused calls left no audit event"
    assert "does not match" in refused[0].details["reason"]
    assert SIGNING_SECRET not in json.dumps([event.details for event in refused])
    assert slack.server.received == []  # type: ignore[union-attr]


# Signing in through Slack's OAuth 2.0 v2 pages, on a local Slack that answers as Slack documents.

SLACK_SECRET = f"slack-cs-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def kit() -> Catalogue:
    return catalogue("slack")


@pytest.fixture
def rotating(kit: Catalogue) -> Iterator[Slack]:
    with slack_server(
        "xoxb-pasted-unused",
        client_secret=SLACK_SECRET,
        redirect_uris=redirect_uris(kit.workspace),
        rotation=True,
    ) as server:
        yield server


def slack_profile(kit: Catalogue, server: Slack) -> Any:
    return kit.profile(server, SLACK_SECRET, ["chat:write"], client_id=server.client_id)


@pytest.mark.django_db(transaction=True)
def test_slack_sign_in_keeps_the_bot_token_then_posts_and_refreshes_a_rotated_token(
    transactional_db: Any, kit: Catalogue, rotating: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    made = kit.sign_in(slack_profile(kit, rotating), ["chat:write", "channels:read"], base_url=rotating.url)
    assert made.auth_method == "oauth2_code"
    assert made.granted_scopes == ["chat:write", "channels:read"]
    query = rotating.authorize_query()
    assert query["scope"] == ["chat:write,channels:read"] and "user_scope" not in query
    token = made.credentials["access_token"]
    assert token.startswith("xoxe.xoxb-") and made.credentials["refresh_token"].startswith("xoxe-1-")
    job = kit.run(made, "post_message", {"channel": "C0000000001", "text": "Signed in"})
    assert job.status == "succeeded", job.error
    rotating.expire_all()
    again = kit.run(made, "post_message", {"channel": "C0000000001", "text": "Still here"})
    assert again.status == "succeeded", again.error
    made.refresh_from_db()
    assert made.credentials["access_token"] != token
    assert rotating.token_requests[-1]["grant_type"] == "refresh_token"
    surfaces_nowhere(again, [token, SLACK_SECRET, made.credentials["access_token"]], caplog)


def test_slack_sign_in_as_a_person_sends_user_scope_and_keeps_authed_users_token(
    kit: Catalogue, rotating: Slack
) -> None:
    made = kit.sign_in(
        slack_profile(kit, rotating),
        ["users:read", "users:read.email"],
        base_url=rotating.url,
        sign_in_as="user",
    )
    query = rotating.authorize_query()
    assert query["user_scope"] == ["users:read,users:read.email"] and "scope" not in query
    assert made.credentials["access_token"].startswith("xoxe.xoxp-")
    assert made.granted_scopes == ["users:read", "users:read.email"]
    job = kit.run(made, "find_user_by_email", {"email": "ada@example.com"})
    assert job.status == "succeeded", job.error


def test_slack_refusing_the_code_exchange_with_ok_false_writes_nothing(
    kit: Catalogue, rotating: Slack
) -> None:
    profile = kit.profile(rotating, "not-the-secret", ["chat:write"], client_id=rotating.client_id)
    assert "bad_client_secret" in kit.refused(profile, ["chat:write"], base_url=rotating.url)
    assert not Connection.objects.filter(connector_key="slack").exists()


def test_slack_refresh_refused_as_invalid_refresh_token_needs_reauthorisation(
    kit: Catalogue, rotating: Slack
) -> None:
    made = kit.sign_in(slack_profile(kit, rotating), ["chat:write"], base_url=rotating.url)
    rotating.expire_all()
    rotating.refresh_tokens.clear()
    job = kit.run(made, "post_message", {"channel": "C0000000001", "text": "hi"})
    assert job.status == "failed" and "invalid_refresh_token" in (job.error or "")
    made.refresh_from_db()
    assert made.health == "reauth"


def test_slack_upload_file_asks_for_an_upload_url_sends_the_bytes_there_and_shares_them(
    people: dict[str, Any], slack: Slack
) -> None:
    made = connection(people, slack, ["files:write"])
    data = bytes(range(256)) * 3
    given = {
        "channel": "C0000000001",
        "filename": "report.bin",
        "content_base64": base64.b64encode(data).decode(),
        "initial_comment": "Nightly report",
    }
    job = run_step(people, made, "upload_file", given)
    assert job.status == "succeeded", job.error
    received = slack.server.received  # type: ignore[union-attr]
    assert [urlsplit(r.path).path for r in received] == [
        "/api/files.getUploadURLExternal",
        "/upload/v1/F0000000001",
        "/api/files.completeUploadExternal",
    ]
    asked, sent, completed = received
    assert dict(parse_qsl(asked.body.decode())) == {"filename": "report.bin", "length": str(len(data))}
    assert sent.body == data and "Authorization" not in sent.headers
    form = dict(parse_qsl(completed.body.decode()))
    assert json.loads(form["files"]) == [{"id": "F0000000001", "title": "report.bin"}]
    assert (form["channel_id"], form["initial_comment"]) == ("C0000000001", "Nightly report")
    assert slack.uploads["F0000000001"]["channel"] == "C0000000001"


def test_slack_upload_file_names_slacks_error_and_needs_files_write(
    people: dict[str, Any], slack: Slack
) -> None:
    made = connection(people, slack, ["files:write"])
    wrong = run_step(
        people, made, "upload_file", {"channel": "C9999999999", "filename": "a.txt", "content": "hi"}
    )
    assert wrong.status == "failed" and "channel_not_found" in (wrong.error or "")
    empty = run_step(people, made, "upload_file", {"channel": "C0000000001", "filename": "a.txt"})
    assert empty.status == "failed" and "empty" in (empty.error or "")
    slack.server.recorder.received.clear()  # type: ignore[union-attr]
    without = connection(people, slack, ["chat:write"])
    refused = run_step(
        people, without, "upload_file", {"channel": "C0000000001", "filename": "a.txt", "content": "hi"}
    )
    assert refused.status == "failed" and "files:write" in (refused.error or "")
    assert slack.server.received == []  # type: ignore[union-attr]
