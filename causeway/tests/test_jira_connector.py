"""The Jira Cloud connector against a local Jira that answers as the Jira Cloud platform REST API v3
reference says (`causeway.connections.tests.jira_server`): with an API token at the site, and signed in
through OAuth 2.0 (3LO) at a local authorization server and reached through the API gateway by the cloud
id its accessible resources list; and its admin webhook trigger with deliveries signed as Jira signs
them, posted over HTTPS to the recipe's connector webhook."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterator
from io import StringIO
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from django.core.management import call_command

from causeway.audit.models import AuditEvent
from causeway.connections import oauth_profiles
from causeway.connections import services as connections
from causeway.connections.models import Connection
from causeway.connections.oauth import redirect_uri
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.jira_server import CLOUD_ID, RETRY_AFTER, Jira, jira_server
from causeway.connections.tests.oauth_provider import CLIENT_ID, oauth_provider
from causeway.connections.tests.servers import Answer, Received, http_server
from causeway.recipes.services import project_create, recipe_create
from causeway.runs import runtime
from causeway.runs.models import Job, JobStep, WebhookEndpoint
from causeway.runs.services import job_create
from causeway.runs.tests.trigger_helpers import started_recipe
from causeway.tests.at_rest import database_bytes, found_in
from causeway.tests.test_rule_13_connection_canary import assert_clean_of
from testkit.personas import cast
from testkit.support import https_client

pytestmark = pytest.mark.django_db

EMAIL = "pat@acme.example"
TOKEN = "ATATT3x-canary-5e1f9c2b7d"
HOOK_SECRET = "jira-hook-secret-8a3c1e"
# ASCII, since it travels in an HTTP header; with characters that URL-encoding and JSON each change.
CANARY = f"jira-cnry/{uuid.uuid4().hex[:12]}+tok=&k"
SCOPES = ("read:jira-work", "write:jira-work", "read:jira-user", "offline_access")


@pytest.fixture(scope="module")
def jira() -> Iterator[Jira]:
    with jira_server(EMAIL, TOKEN) as server:
        yield server


@pytest.fixture
def people(jira: Jira) -> dict[str, Any]:
    found = cast("admin").people()
    connections.connector_enable(actor=found["admin"], workspace=found["acme"], key="jira", enabled=True)
    outbound_hosts_set(actor=found["admin"], workspace=found["acme"], hosts=["127.0.0.1"])
    jira.issues.clear()
    jira.comments.clear()
    jira.limited = False
    for summary in ("Disk full", "Backup failed", "Cert expiring", "Slow login", "Broken link"):
        jira.add_issue(summary)
    jira.server.recorder.received.clear()  # type: ignore[union-attr]
    return found


def connection(people: dict[str, Any], jira: Jira, scopes: list[str], token: str = TOKEN) -> Connection:
    return connections.connection_create(
        actor=people["admin"],
        workspace=people["acme"],
        kind="personal",
        connector_key="jira",
        name=f"Jira {uuid.uuid4().hex[:6]}",
        auth_method="basic",
        settings={"site_url": jira.url},
        credentials={"username": EMAIL, "password": token},
        scopes=scopes,
    )


def run_step(people: dict[str, Any], made: Connection, action: str, given: dict[str, Any]) -> Job:
    project = project_create(
        actor=people["admin"], workspace=people["acme"], name=f"Jira {action} {uuid.uuid4().hex[:6]}"
    )
    step = {"id": "j", "type": "connector", "connection": str(made.id), "action": action, "input": given}
    recipe = recipe_create(
        actor=people["admin"],
        workspace=people["acme"],
        project=project,
        name=f"Jira {action}",
        definition={"trigger": {"type": "manual"}, "steps": [{**step, "retries": 0}]},
    )
    job = job_create(actor=people["admin"], recipe=recipe, trigger_type="manual", is_test=True)
    runtime.run(job.pk)
    job.refresh_from_db()
    return job


def output(job: Job) -> dict[str, Any]:
    return JobStep.objects.get(job=job, path="j").output


def test_jira_create_issue_and_comment_are_sent_as_the_v3_reference_says(
    people: dict[str, Any], jira: Jira
) -> None:
    made = connection(people, jira, ["write:jira-work"])
    created = run_step(
        people,
        made,
        "create_issue",
        {
            "project_key": "OPS",
            "issue_type": "Bug",
            "summary": "Queue stuck",
            "description": "Seen at 9.\nAgain at 10.",
        },
    )
    assert created.status == "succeeded", created.error
    assert output(created)["key"] == "OPS-6"
    [sent] = jira.server.received  # type: ignore[union-attr]
    assert (sent.method, sent.path) == ("POST", "/rest/api/3/issue")
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
    assert json.loads(sent.body)["fields"] == {
        "project": {"key": "OPS"},
        "issuetype": {"name": "Bug"},
        "summary": "Queue stuck",
        "description": {
            "type": "doc",
            "version": 1,
            "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "Seen at 9."}]},
                {"type": "paragraph", "content": [{"type": "text", "text": "Again at 10."}]},
            ],
        },
    }
    texted = run_step(people, made, "comment", {"issue_key": "OPS-6", "body": "Restarted"})
    assert texted.status == "succeeded", texted.error
    document = {"type": "doc", "version": 1, "content": [{"type": "rule"}]}
    documented = run_step(people, made, "comment", {"issue_key": "OPS-6", "document": document})
    assert documented.status == "succeeded", documented.error
    assert [c["body"] for c in jira.comments] == [
        {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Restarted"}]}],
        },
        document,
    ]


def test_jira_errors_name_its_messages_and_fields(people: dict[str, Any], jira: Jira) -> None:
    made = connection(people, jira, ["write:jira-work"])
    other = run_step(people, made, "create_issue", {"project_key": "NOPE", "summary": "x"})
    assert other.status == "failed"
    assert "Jira refused create issue (HTTP 400): project: valid project is required" in (other.error or "")
    missing = run_step(people, made, "comment", {"issue_key": "OPS-99", "body": "x"})
    assert f"(HTTP 404): {'Issue does not exist or you do not have permission to see it.'}" in (
        missing.error or ""
    )
    wrong = connection(people, jira, ["write:jira-work"], token="ATATT3x-wrong")
    refused = run_step(people, wrong, "comment", {"issue_key": "OPS-1", "body": "x"})
    assert "HTTP 401" in (refused.error or "") and TOKEN not in (refused.error or "")


def test_jira_transition_by_name_or_id_and_an_unoffered_one_is_named(
    people: dict[str, Any], jira: Jira
) -> None:
    made = connection(people, jira, ["read:jira-work", "write:jira-work"])
    by_name = run_step(people, made, "transition", {"issue_key": "OPS-1", "transition": "in progress"})
    assert by_name.status == "succeeded", by_name.error
    assert output(by_name) == {
        "transition_id": "21",
        "transition_name": "In Progress",
        "status": "In Progress",
    }
    posts = [r for r in jira.server.received if r.method == "POST"]  # type: ignore[union-attr]
    assert [(r.path, json.loads(r.body)) for r in posts] == [
        ("/rest/api/3/issue/OPS-1/transitions", {"transition": {"id": "21"}})
    ]
    by_id = run_step(people, made, "transition", {"issue_key": "OPS-1", "transition": "31"})
    assert by_id.status == "succeeded" and jira.issues[0]["fields"]["status"] == {"name": "Done"}
    unoffered = run_step(people, made, "transition", {"issue_key": "OPS-1", "transition": "Done"})
    assert unoffered.status == "failed"
    assert "OPS-1 has no transition 'Done' now; it offers: Reopen (11)" in (unoffered.error or "")


def test_jira_search_pages_with_start_at_to_the_end_within_the_cap(
    people: dict[str, Any], jira: Jira
) -> None:
    made = connection(people, jira, ["read:jira-work"])
    job = run_step(people, made, "search", {"jql": "project = OPS ORDER BY key", "fields": ["summary"]})
    assert job.status == "succeeded", job.error
    asked = [json.loads(r.body) for r in jira.server.received]  # type: ignore[union-attr]
    assert [a["startAt"] for a in asked] == [0, 2, 4]
    assert asked[0] == {
        "jql": "project = OPS ORDER BY key",
        "startAt": 0,
        "maxResults": 100,
        "fields": ["summary"],
    }
    found = output(job)
    assert [i["key"] for i in found["issues"]] == ["OPS-1", "OPS-2", "OPS-3", "OPS-4", "OPS-5"]
    assert (found["total"], found["complete"]) == (5, True)
    jira.server.recorder.received.clear()  # type: ignore[union-attr]
    capped = output(run_step(people, made, "search", {"jql": "project = OPS", "max_items": 3}))
    assert (len(capped["issues"]), capped["complete"]) == (3, False)
    assert [json.loads(r.body)["maxResults"] for r in jira.server.received] == [3, 1]  # type: ignore[union-attr]


def test_jira_rate_limit_pauses_the_connection_for_retry_after(people: dict[str, Any], jira: Jira) -> None:
    made = connection(people, jira, ["read:jira-work"])
    jira.limited = True
    limited = run_step(people, made, "search", {"jql": "project = OPS"})
    assert limited.status == "failed" and "Jira rate-limited search: Rate limit exceeded." in (
        limited.error or ""
    )
    made.refresh_from_db()
    assert made.paused_until is not None
    jira.limited = False
    again = run_step(people, made, "search", {"jql": "project = OPS", "max_items": 2})
    assert again.status == "succeeded", again.error
    first, second = jira.server.received[0], jira.server.received[1]  # type: ignore[union-attr]
    assert second.at - first.at >= int(RETRY_AFTER) - 0.05


def test_rule_07_jira_action_whose_scope_was_not_granted_sends_nothing(
    people: dict[str, Any], jira: Jira
) -> None:
    made = connection(people, jira, ["read:jira-work"])
    job = run_step(people, made, "create_issue", {"project_key": "OPS", "summary": "x"})
    assert job.status == "failed" and "write:jira-work" in (job.error or "")
    assert jira.server.received == []  # type: ignore[union-attr]


def test_jira_signs_in_with_3lo_and_reaches_the_site_through_its_cloud_id(people: dict[str, Any]) -> None:
    admin, acme = people["admin"], people["acme"]
    secret = f"jira-cs-{uuid.uuid4().hex[:10]}"
    with (
        oauth_provider(client_secret=secret, redirect_uris=[redirect_uri(acme)], scopes=SCOPES) as running,
        jira_server(EMAIL, TOKEN, running.provider) as site,
    ):
        profile = oauth_profiles.oauth_profile_create(
            actor=admin,
            workspace=acme,
            connector_key="jira",
            display_name="Acme Jira app",
            client_id=CLIENT_ID,
            client_secret=secret,
            authorize_url=f"{running.url}/authorize",
            token_url=f"{running.url}/token",
        )
        browser = https_client()
        browser.force_login(admin)
        started = browser.post(
            f"/w/{acme.slug}/oauth/start",
            {
                "connector": "jira",
                "kind": "personal",
                "name": "Acme Jira",
                "setting:site_url": site.url,
                "setting:api_url": site.url,
                "profile": str(profile.id),
                "scope": ["read:jira-work", "write:jira-work", "offline_access"],
            },
        )
        assert started.status_code == 302, started.content.decode()[:2000]
        authorize = started["Location"]
        asked = parse_qs(urlsplit(authorize).query)
        assert (asked["audience"], asked["prompt"]) == (["api.atlassian.com"], ["consent"])
        with httpx.Client(timeout=10) as http:
            assert http.get(authorize).status_code == 200
            answered = http.post(authorize, data={"decision": "allow"})
        back = urlsplit(answered.headers["Location"])
        done = browser.get(back.path, dict(parse_qsl(back.query, keep_blank_values=True)))
        assert done.status_code == 302, done.content.decode()[:2000]
        made = Connection.objects.get(pk=done["Location"].rstrip("/").split("/")[-1])
        assert made.granted_scopes == ["read:jira-work", "write:jira-work", "offline_access"]
        site.add_issue("Pager noisy")
        job = run_step(people, made, "comment", {"issue_key": "OPS-1", "body": "Muted"})
        assert job.status == "succeeded", job.error
        paths = [r.path for r in site.server.received]  # type: ignore[union-attr]
        assert paths == [
            "/oauth/token/accessible-resources",
            f"/ex/jira/{CLOUD_ID}/rest/api/3/issue/OPS-1/comment",
        ]
        # An expired access token is refreshed once and the call sent again.
        running.provider.expire_all()
        refreshed = run_step(people, made, "search", {"jql": "project = OPS"})
        assert refreshed.status == "succeeded", refreshed.error
        assert running.provider.token_requests[-1]["grant_type"] == "refresh_token"
        made.refresh_from_db()
        assert running.provider.live(made.credentials["access_token"])
        # A connection that names its cloud id goes straight to the site.
        named = {"site_url": site.url, "api_url": site.url, "cloud_id": CLOUD_ID}
        connections.connection_update(actor=admin, workspace=acme, connection_id=made.id, settings=named)
        site.server.recorder.received.clear()  # type: ignore[union-attr]
        direct = run_step(people, made, "search", {"jql": "project = OPS"})
        assert direct.status == "succeeded", direct.error
        assert [r.path for r in site.server.received] == [f"/ex/jira/{CLOUD_ID}/rest/api/3/search"]  # type: ignore[union-attr]
        # A site the sign-in does not reach is named with the ones it does.
        elsewhere = {"site_url": "https://elsewhere.atlassian.net", "api_url": site.url}
        connections.connection_update(actor=admin, workspace=acme, connection_id=made.id, settings=elsewhere)
        lost = run_step(people, made, "search", {"jql": "project = OPS"})
        assert lost.status == "failed"
        assert f"does not reach https://elsewhere.atlassian.net (it reaches: {site.url})" in (
            lost.error or ""
        )


def _delivery(body: bytes, identifier: str, secret: str = HOOK_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "HTTP_X_HUB_SIGNATURE": f"sha256={digest}",
        "HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER": identifier,
        "HTTP_X_ATLASSIAN_WEBHOOK_FLOW": "Primary",
    }


def test_jira_webhook_deliveries_are_checked_with_the_secret(people: dict[str, Any], jira: Jira) -> None:
    made = connection(people, jira, [])
    trigger = {
        "type": "connector",
        "connection": str(made.id),
        "trigger": "webhook",
        "input": {"events": ["jira:issue_created"]},
    }
    recipe = started_recipe(people["admin"], people["acme"], trigger, name="Jira hooks")
    endpoint = WebhookEndpoint.objects.get(recipe=recipe)
    client = https_client()
    client.force_login(people["admin"])
    url = f"/api/v1/workspaces/{people['acme'].id}/recipes/{recipe.id}/webhook/secret"
    assert client.put(url, {"secret": HOOK_SECRET}, content_type="application/json").status_code == 200
    hook = f"/hooks/connector/{endpoint.token}"

    def post(body: bytes, headers: dict[str, str]) -> Any:
        return https_client().post(hook, body, content_type="application/json", **headers)

    created = {"timestamp": 1796648000000, "webhookEvent": "jira:issue_created", "issue": {"key": "OPS-7"}}
    body = json.dumps(created).encode()
    first = post(body, _delivery(body, "1001"))
    assert first.status_code == 202
    job = Job.objects.get(pk=first.json()["job"])
    assert job.trigger_payload == created
    # Jira's retry keeps the identifier: answered with the same job.
    again = post(body, {**_delivery(body, "1001"), "HTTP_X_ATLASSIAN_WEBHOOK_RETRY": "1"})
    assert (again.status_code, again.json()) == (200, first.json())
    updated = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": "OPS-7"}}).encode()
    assert post(updated, _delivery(updated, "1002")).status_code == 200
    assert post(body, _delivery(body, "1003", secret="not-the-secret")).status_code == 401
    assert post(body, {"HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER": "1004"}).status_code == 401
    assert Job.objects.count() == 1
    # The first refusal is audited with its reason at once; the others are counted into a later event
    # of the same interval (a call that lands after the interval turns over starts a new one).
    refused = list(
        AuditEvent.objects.filter(action="webhook.refused").order_by("occurred_at", "chain", "seq")
    )
    assert refused, "the refused calls left no audit event"
    assert "does not match" in refused[0].details["reason"]
    assert jira.server.received == []  # type: ignore[union-attr]


@pytest.mark.django_db(transaction=True)
def test_rule_13_a_jira_api_token_echoed_in_an_error_surfaces_nowhere(
    transactional_db: Any, people: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    canary = CANARY

    def careless(got: Received) -> Answer:
        # A Jira-shaped refusal that repeats the credentials it was sent, raw and as the Basic header.
        sent = got.headers.get("Authorization", "")
        return Answer(
            status=400, body={"errorMessages": [f"bad request from {sent} ({canary})"], "errors": {}}
        )

    with http_server(careless) as site:
        made = connections.connection_create(
            actor=people["admin"],
            workspace=people["acme"],
            kind="personal",
            connector_key="jira",
            name="Careless Jira",
            auth_method="basic",
            settings={"site_url": site.url},
            credentials={"username": EMAIL, "password": canary},
            scopes=["read:jira-work", "write:jira-work"],
        )
        failed = run_step(people, made, "search", {"jql": "project = OPS"})
        commented = run_step(people, made, "comment", {"issue_key": "OPS-1", "body": "x"})
    assert failed.status == commented.status == "failed"
    assert "Jira refused search (HTTP 400): bad request from" in (failed.error or "")
    history = json.dumps(
        [
            [job.error, list(JobStep.objects.filter(job=job).values("input", "output", "error"))]
            for job in (failed, commented)
        ],
        default=str,
    )
    audit = json.dumps(list(AuditEvent.objects.values("details")), default=str)
    logs = "\n".join(record.getMessage() for record in caplog.records)
    for where, text in (("the job history", history), ("the audit log", audit), ("the log", logs)):
        assert_clean_of(canary, where, text)
    pair = base64.b64encode(f"{EMAIL}:{canary}".encode()).decode()
    assert pair not in history + audit + logs
    assert found_in(database_bytes(), canary) == []


def test_connectors_list_shows_jira_and_microsoft_graph_with_their_triggers(people: dict[str, Any]) -> None:
    installed = StringIO()
    call_command("connectors", "list", stdout=installed)
    lines = {line.split("\t")[0]: line for line in installed.getvalue().splitlines()}
    assert "webhook(webhook)" in lines["jira"] and "changed_users(poll)" in lines["msgraph"]
    listed = StringIO()
    call_command("connectors", "list", "--workspace", people["acme"].slug, stdout=listed)
    states = {line.split("\t")[0]: line.split("\t")[-1] for line in listed.getvalue().splitlines()}
    assert (states["jira"], states["msgraph"]) == ("enabled", "disabled")
