"""The Microsoft Graph connector against a local Graph (v1.0) that answers as Graph's published description
says (`causeway.connections.tests.graph_server`), signed in through a local identity platform that serves
its endpoints under the tenant's path as Microsoft's does (`oauth_provider`): the connect form, the
consent page and the redirect back are real HTTP requests, and every action runs through the connector's
HTTP client, the outbound rules, the rate budget and the token refresh."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from django.utils import timezone
from pydantic import ValidationError

from causeway.connections import oauth_profiles, registry
from causeway.connections import services as connections
from causeway.connections.budgets import connection_budget_set
from causeway.connections.connectors.msgraph import Settings
from causeway.connections.models import Connection
from causeway.connections.oauth import redirect_uri
from causeway.connections.oauth_client import NoClient, endpoint_for
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.graph_server import RETRY_AFTER, THROTTLES, Graph, graph_server
from causeway.connections.tests.oauth_provider import CLIENT_ID, RunningProvider, oauth_provider
from causeway.connections.tests.servers import http_server
from causeway.recipes.services import project_create, recipe_create
from causeway.runs import runtime
from causeway.runs.models import Job, JobStep
from causeway.runs.services import job_create
from causeway.runs.tests.trigger_helpers import started_recipe
from causeway.runs.triggers import poll_tick, trigger_status
from testkit.personas import cast
from testkit.support import clear_of_a_day_end, https_client

pytestmark = pytest.mark.django_db

CLIENT_SECRET = f"graph-cs-{uuid.uuid4().hex[:12]}"
TENANT = "contoso.onmicrosoft.com"
SCOPES = (
    "User.Read",
    "Mail.Send",
    "Calendars.ReadWrite",
    "User.Read.All",
    "ChannelMessage.Send",
    "offline_access",
)


@dataclass
class Tenant:
    people: dict[str, Any]
    running: RunningProvider
    graph: Graph
    profile: Any

    def sign_in(self, scopes: list[str]) -> Connection:
        """Pat's sign-in, hop by hop: Causeway's connect form, the tenant's consent page, the way back."""
        browser = https_client()
        browser.force_login(self.people["admin"])
        started = browser.post(
            f"/w/{self.people['acme'].slug}/oauth/start",
            {
                "connector": "msgraph",
                "kind": "personal",
                "name": f"Graph {uuid.uuid4().hex[:6]}",
                "setting:tenant": TENANT,
                "setting:base_url": self.graph.url,
                "profile": str(self.profile.id),
                "scope": scopes,
            },
        )
        assert started.status_code == 302, started.content.decode()[:2000]
        authorize = started["Location"]
        assert authorize.startswith(f"{self.running.url}/{TENANT}/oauth2/v2.0/authorize?"), authorize
        with httpx.Client(timeout=10) as http:
            assert http.get(authorize).status_code == 200
            answered = http.post(authorize, data={"decision": "allow"})
        assert answered.status_code == 302, answered.text
        back = urlsplit(answered.headers["Location"])
        done = browser.get(back.path, dict(parse_qsl(back.query, keep_blank_values=True)))
        assert done.status_code == 302, done.content.decode()[:2000]
        return Connection.objects.get(pk=done["Location"].rstrip("/").split("/")[-1])


@pytest.fixture
def tenant() -> Iterator[Tenant]:
    people = cast("admin").people()
    admin, acme = people["admin"], people["acme"]
    connections.connector_enable(actor=admin, workspace=acme, key="msgraph", enabled=True)
    outbound_hosts_set(actor=admin, workspace=acme, hosts=["127.0.0.1"])
    with (
        oauth_provider(
            client_secret=CLIENT_SECRET, redirect_uris=[redirect_uri(acme)], scopes=SCOPES
        ) as running,
        graph_server(running.provider) as graph,
    ):
        # An Admin registers the app as Microsoft's portal shows it, the tenant left to each connection.
        profile = oauth_profiles.oauth_profile_create(
            actor=admin,
            workspace=acme,
            connector_key="msgraph",
            display_name="Contoso app",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            authorize_url=f"{running.url}/{{tenant}}/oauth2/v2.0/authorize",
            token_url=f"{running.url}/{{tenant}}/oauth2/v2.0/token",
        )
        for name in ("Adele", "Bianca", "Cameron", "Diego", "Emma"):
            graph.add_user(name)
        yield Tenant(people, running, graph, profile)


def run_step(tenant: Tenant, made: Connection, action: str, given: dict[str, Any]) -> Job:
    people = tenant.people
    project = project_create(
        actor=people["admin"], workspace=people["acme"], name=f"Graph {action} {uuid.uuid4().hex[:6]}"
    )
    step = {"id": "g", "type": "connector", "connection": str(made.id), "action": action, "input": given}
    recipe = recipe_create(
        actor=people["admin"],
        workspace=people["acme"],
        project=project,
        name=f"Graph {action}",
        definition={"trigger": {"type": "manual"}, "steps": [{**step, "retries": 0}]},
    )
    job = job_create(actor=people["admin"], recipe=recipe, trigger_type="manual", is_test=True)
    runtime.run(job.pk)
    job.refresh_from_db()
    return job


def output(job: Job) -> dict[str, Any]:
    return JobStep.objects.get(job=job, path="g").output


def test_graph_signs_in_at_the_tenants_authority_with_graphs_scope_names(tenant: Tenant) -> None:
    made = tenant.sign_in(["Mail.Send", "offline_access"])
    assert made.granted_scopes == ["Mail.Send", "offline_access"]
    assert made.settings == {"tenant": TENANT, "base_url": tenant.graph.url}
    # The authorize and token endpoints were both the tenant's.
    assert tenant.running.provider.tenants == [TENANT, TENANT, TENANT]
    assert made.credentials["access_token"] == tenant.running.provider.tokens[-1].access_token


def test_graph_send_mail_event_and_channel_message_are_sent_as_graph_says(tenant: Tenant) -> None:
    made = tenant.sign_in(["Mail.Send", "Calendars.ReadWrite", "ChannelMessage.Send"])
    mailed = run_step(
        tenant,
        made,
        "send_mail",
        {"to": ["adele@contoso.example"], "cc": ["diego@contoso.example"], "subject": "Hi", "body": "Hello"},
    )
    assert mailed.status == "succeeded", mailed.error
    [sent] = [r for r in tenant.graph.server.received if r.path == "/v1.0/me/sendMail"]  # type: ignore[union-attr]
    assert (
        sent.method == "POST"
        and sent.headers["Authorization"] == f"Bearer {made.credentials['access_token']}"
    )
    assert json.loads(sent.body) == {
        "message": {
            "subject": "Hi",
            "body": {"contentType": "Text", "content": "Hello"},
            "toRecipients": [{"emailAddress": {"address": "adele@contoso.example"}}],
            "ccRecipients": [{"emailAddress": {"address": "diego@contoso.example"}}],
        },
        "saveToSentItems": True,
    }
    event = run_step(
        tenant,
        made,
        "create_event",
        {
            "subject": "Review",
            "start": "2026-12-08T10:00:00",
            "end": "2026-12-08T10:30:00",
            "time_zone": "Europe/Paris",
            "attendees": ["bianca@contoso.example"],
            "location": "Room 1",
        },
    )
    assert event.status == "succeeded", event.error
    assert output(event)["id"] == "AAMkEvent1"
    assert tenant.graph.events[0]["start"] == {"dateTime": "2026-12-08T10:00:00", "timeZone": "Europe/Paris"}
    assert tenant.graph.events[0]["attendees"] == [
        {"emailAddress": {"address": "bianca@contoso.example"}, "type": "required"}
    ]
    posted = run_step(
        tenant,
        made,
        "post_channel_message",
        {
            "team_id": "team-1",
            "channel_id": "19:general@thread.tacv2",
            "content": "<b>Deployed</b>",
            "content_type": "html",
        },
    )
    assert posted.status == "succeeded", posted.error
    assert tenant.graph.messages[0]["body"] == {"contentType": "html", "content": "<b>Deployed</b>"}
    paths = [r.path for r in tenant.graph.server.received]  # type: ignore[union-attr]
    assert "/v1.0/teams/team-1/channels/19%3Ageneral%40thread.tacv2/messages" in paths


def test_graph_error_becomes_a_step_error_naming_code_and_message(tenant: Tenant) -> None:
    made = tenant.sign_in(["Calendars.ReadWrite", "ChannelMessage.Send"])
    missing = run_step(
        tenant,
        made,
        "create_event",
        {"subject": "x", "start": "2026-12-08T10:00", "end": "2026-12-08T11:00", "calendar_id": "AAMkNope"},
    )
    assert missing.status == "failed"
    assert "ErrorItemNotFound: The specified object was not found in the store." in (missing.error or "")
    no_team = run_step(
        tenant,
        made,
        "post_channel_message",
        {"team_id": "team-9", "channel_id": "19:x@thread.tacv2", "content": "x"},
    )
    assert "HTTP 404, NotFound: No team found with Group Id team-9" in (no_team.error or "")


def test_graph_list_users_follows_next_links_to_the_end_within_the_cap(tenant: Tenant) -> None:
    made = tenant.sign_in(["User.Read.All"])
    tenant.graph.server.recorder.received.clear()  # type: ignore[union-attr]
    job = run_step(tenant, made, "list_users", {"select": ["displayName", "mail"]})
    assert job.status == "succeeded", job.error
    paths = [r.path for r in tenant.graph.server.received]  # type: ignore[union-attr]
    assert len(paths) == 3 and "%24select=displayName%2Cmail" in paths[0] and "$skiptoken=4" in paths[2]
    listed = output(job)
    assert [u["displayName"] for u in listed["users"]] == ["Adele", "Bianca", "Cameron", "Diego", "Emma"]
    assert listed["complete"] is True
    tenant.graph.server.recorder.received.clear()  # type: ignore[union-attr]
    capped = output(run_step(tenant, made, "list_users", {"max_items": 3}))
    assert (len(capped["users"]), capped["complete"]) == (3, False)
    assert len(tenant.graph.server.received) == 2  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [429, 503])
def test_graph_throttling_pauses_the_connection_for_retry_after(tenant: Tenant, status: int) -> None:
    made = tenant.sign_in(["User.Read.All"])
    tenant.graph.throttled, tenant.graph.throttle_status = True, status
    before = timezone.now()
    job = run_step(tenant, made, "list_users", {})
    assert job.status == "failed"
    code, message = THROTTLES[status]
    assert f"Microsoft Graph throttled list users ({code}: {message})" in (job.error or "")
    made.refresh_from_db()
    assert made.paused_until is not None
    assert made.paused_until >= before + timedelta(seconds=int(RETRY_AFTER) - 1)
    # Paused for every worker: the next step waits out Retry-After before it calls Graph again.
    tenant.graph.throttled = False
    again = run_step(tenant, made, "list_users", {})
    assert again.status == "succeeded", again.error
    first, second = [r for r in tenant.graph.server.received if "%24top" in r.path]  # type: ignore[union-attr]
    assert second.at - first.at >= int(RETRY_AFTER) - 0.05


def test_graph_steps_count_against_the_connections_rate_budget(tenant: Tenant, settings: Any) -> None:
    # A minute's time limit, well before the day-long period ends: the second step would wait past it.
    settings.JOB_MAX_DURATION_SECONDS = 60
    made = tenant.sign_in(["User.Read.All"])
    connection_budget_set(
        actor=tenant.people["admin"],
        workspace=tenant.people["acme"],
        connection_id=made.id,
        limit=1,
        period_seconds=86_400,
    )
    with clear_of_a_day_end(600):
        assert run_step(tenant, made, "list_users", {"max_items": 2}).status == "succeeded"
        tenant.graph.server.recorder.received.clear()  # type: ignore[union-attr]
        spent = run_step(tenant, made, "list_users", {"max_items": 2})
    assert spent.status == "failed" and "rate budget" in (spent.error or "")
    assert tenant.graph.server.received == []  # type: ignore[union-attr]


def test_graph_expired_token_is_refreshed_at_the_tenants_token_endpoint(tenant: Tenant) -> None:
    made = tenant.sign_in(["User.Read.All", "offline_access"])
    first = made.credentials["access_token"]
    tenant.running.provider.expire_all()
    tenants_before = len(tenant.running.provider.tenants)
    job = run_step(tenant, made, "list_users", {"max_items": 2})
    assert job.status == "succeeded", job.error
    made.refresh_from_db()
    assert made.credentials["access_token"] != first
    assert tenant.running.provider.tenants[tenants_before:] == [TENANT]
    assert tenant.running.provider.token_requests[-1]["grant_type"] == "refresh_token"


def test_rule_07_graph_action_whose_scope_was_not_granted_sends_nothing(tenant: Tenant) -> None:
    made = tenant.sign_in(["Mail.Send"])
    tenant.graph.server.recorder.received.clear()  # type: ignore[union-attr]
    job = run_step(tenant, made, "list_users", {})
    assert job.status == "failed" and "User.Read.All" in (job.error or "")
    assert tenant.graph.server.received == []  # type: ignore[union-attr]


def test_graph_changed_users_poll_keeps_the_delta_link_and_never_yields_a_change_twice(
    tenant: Tenant,
) -> None:
    made = tenant.sign_in(["User.Read.All"])
    trigger = {
        "type": "connector",
        "connection": str(made.id),
        "trigger": "changed_users",
        "input": {},
        "interval_seconds": 60,
    }
    started_recipe(tenant.people["admin"], tenant.people["acme"], trigger, name="Joiners")
    now = timezone.now()

    def tick() -> list[Job]:
        nonlocal now
        now += timedelta(seconds=61)
        return poll_tick(now)

    tenant.graph.server.recorder.received.clear()  # type: ignore[union-attr]
    # The first round walks every page to its delta link: the users already there start nothing.
    assert tick() == []
    paths = [r.path for r in tenant.graph.server.received]  # type: ignore[union-attr]
    assert len(paths) == 3 and paths[0].startswith("/v1.0/users/delta?")
    frank = tenant.graph.add_user("Frank")
    tenant.graph.change_user(tenant.graph.users[0]["id"], displayName="Adele V.")
    tenant.graph.remove_user(tenant.graph.users[1]["id"])
    tenant.graph.server.recorder.received.clear()  # type: ignore[union-attr]
    started = tick()
    assert tenant.graph.server.received[0].path.startswith("/v1.0/users/delta?$deltatoken=")  # type: ignore[union-attr]
    payloads = [job.trigger_payload for job in started]
    assert [p["id"] for p in payloads] == [
        frank["id"],
        tenant.graph.users[0]["id"],
        "00000002-0000-4000-8000-000000000000",
    ]
    assert payloads[2]["@removed"] == {"reason": "deleted"}
    assert tick() == []
    tenant.graph.change_user(frank["id"], displayName="Frank B.")
    assert [job.trigger_payload["displayName"] for job in tick()] == ["Frank B."]
    assert tick() == []


def test_a_setting_put_in_an_endpoint_is_quoted_and_a_missing_one_is_named() -> None:
    graph = registry.get("msgraph")
    url = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
    assert endpoint_for(url, {"tenant": "evil.example/x?y#"}, graph) == (
        "https://login.microsoftonline.com/evil.example%2Fx%3Fy%23/oauth2/v2.0/token"
    )
    assert endpoint_for("https://h/%7Btenant%7D/t", {"tenant": "c"}, graph) == "https://h/c/t"
    with pytest.raises(NoClient, match="needs the connection's setting 'tenant'"):
        endpoint_for(url, {}, graph)
    with pytest.raises(ValidationError):
        Settings(tenant="contoso/../x")


def test_graph_throttled_poll_pauses_the_connection_and_the_next_rounds_wait(tenant: Tenant) -> None:
    made = tenant.sign_in(["User.Read.All"])
    trigger = {
        "type": "connector",
        "connection": str(made.id),
        "trigger": "changed_users",
        "interval_seconds": 60,
    }
    recipe = started_recipe(tenant.people["admin"], tenant.people["acme"], trigger, name="Throttled joiners")
    now = timezone.now()

    def tick() -> list[Job]:
        nonlocal now
        now += timedelta(seconds=61)
        return poll_tick(now)

    assert tick() == []
    tenant.graph.throttled = True
    tenant.graph.add_user("Grace")
    assert tick() == []
    made.refresh_from_db()
    assert made.paused_until is not None
    assert "Microsoft Graph throttled track changed users (TooManyRequests" in (
        trigger_status(actor=tenant.people["admin"], recipe=recipe).last_error or ""
    )
    tenant.graph.throttled = False
    tenant.graph.server.recorder.received.clear()  # type: ignore[union-attr]
    # While paused, a round sends nothing and says why; after Retry-After, the change starts its job.
    started: list[Job] = []
    waited = 0
    deadline = time.monotonic() + 30
    while not started and time.monotonic() < deadline:
        sent_before = len(tenant.graph.server.received)  # type: ignore[union-attr]
        started = tick()
        if not started and sent_before == len(tenant.graph.server.received):  # type: ignore[union-attr]
            waited += 1
            assert "not polled: connection" in (
                trigger_status(actor=tenant.people["admin"], recipe=recipe).last_error or ""
            )
    assert waited >= 1
    assert [job.trigger_payload["displayName"] for job in started] == ["Grace"]
    made.refresh_from_db()
    assert made.paused_until is not None and made.paused_until <= timezone.now()


def test_graph_next_link_to_another_host_is_not_followed_with_the_token(tenant: Tenant) -> None:
    made = tenant.sign_in(["User.Read.All"])
    with http_server() as elsewhere:
        tenant.graph.links_to = f"{elsewhere.url}/v1.0"
        job = run_step(tenant, made, "list_users", {})
        assert job.status == "failed"
        assert "answered a link outside the connection's Graph URL" in (job.error or "")
        assert elsewhere.received == []
