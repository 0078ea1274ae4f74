"""The GitHub connector against a local GitHub REST API that answers as GitHub's published description says
(`causeway.connections.tests.github_server`), and its repository webhook trigger with deliveries signed as
GitHub signs them, posted over HTTPS to the recipe's connector webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from causeway.audit.models import AuditEvent
from causeway.connections import services as connections
from causeway.connections.models import Connection
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.github_server import GitHub, github_server
from causeway.recipes.services import project_create, recipe_create
from causeway.runs import runtime
from causeway.runs.models import Job, JobStep, WebhookEndpoint
from causeway.runs.services import job_create
from causeway.runs.tests.trigger_helpers import started_recipe
from causeway.tests.catalogue_kit import Catalogue, catalogue, redirect_uris
from testkit.personas import cast
from testkit.support import https_client

pytestmark = pytest.mark.django_db

TOKEN = "github_pat_canary_7c1d5e9f3a"
HOOK_SECRET = "hook-secret-2b8e6f0a4c"


@pytest.fixture(scope="module")
def github() -> Iterator[GitHub]:
    with github_server(TOKEN) as server:
        yield server


@pytest.fixture
def people(github: GitHub) -> dict[str, Any]:
    found = cast("admin").people()
    connections.connector_enable(actor=found["admin"], workspace=found["acme"], key="github", enabled=True)
    outbound_hosts_set(actor=found["admin"], workspace=found["acme"], hosts=["127.0.0.1"])
    github.issues.clear()
    github.limited = False
    assert github.server is not None
    github.server.recorder.received.clear()
    return found


def connection(people: dict[str, Any], github: GitHub, scopes: list[str], token: str = TOKEN) -> Connection:
    return connections.connection_create(
        actor=people["admin"],
        workspace=people["acme"],
        kind="personal",
        connector_key="github",
        name=f"GitHub {uuid.uuid4().hex[:6]}",
        auth_method="bearer",
        settings={"base_url": github.url},
        credentials={"token": token},
        scopes=scopes,
    )


def run_step(people: dict[str, Any], made: Connection, action: str, given: dict[str, Any]) -> Job:
    project = project_create(
        actor=people["admin"], workspace=people["acme"], name=f"GitHub {action} {uuid.uuid4().hex[:6]}"
    )
    step = {"id": "gh", "type": "connector", "connection": str(made.id), "action": action, "input": given}
    recipe = recipe_create(
        actor=people["admin"],
        workspace=people["acme"],
        project=project,
        name=f"GitHub {action}",
        definition={"trigger": {"type": "manual"}, "steps": [{**step, "retries": 0}]},
    )
    job = job_create(actor=people["admin"], recipe=recipe, trigger_type="manual", is_test=True)
    runtime.run(job.pk)
    job.refresh_from_db()
    return job


REPO = {"owner": "acme", "repo": "api"}


def test_github_issue_comment_and_labels_are_sent_as_githubs_api_says(
    people: dict[str, Any], github: GitHub
) -> None:
    made = connection(people, github, ["issues:write"])
    created = run_step(people, made, "create_issue", {**REPO, "title": "Broken build", "labels": ["ci"]})
    assert created.status == "succeeded", created.error
    [sent] = github.server.received  # type: ignore[union-attr]
    assert (sent.method, sent.path) == ("POST", "/repos/acme/api/issues")
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Accept"] == "application/vnd.github+json"
    assert sent.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert json.loads(sent.body) == {"title": "Broken build", "labels": ["ci"]}
    commented = run_step(people, made, "comment", {**REPO, "issue_number": 1, "body": "Looking"})
    labelled = run_step(people, made, "add_labels", {**REPO, "issue_number": 1, "labels": ["urgent"]})
    assert (commented.status, labelled.status) == ("succeeded", "succeeded")
    assert [label["name"] for label in github.issues[0]["labels"]] == ["ci", "urgent"]
    invalid = run_step(people, made, "comment", {**REPO, "issue_number": 99, "body": "?"})
    assert invalid.status == "failed" and "HTTP 404: Not Found" in (invalid.error or "")


def test_github_review_comment_goes_on_a_line_of_the_pull_requests_diff(
    people: dict[str, Any], github: GitHub
) -> None:
    made = connection(people, github, ["pull_requests:write"])
    given = {
        **REPO,
        "pull_number": 3,
        "body": "Off by one?",
        "commit_id": "a" * 40,
        "path": "src/app.py",
        "line": 12,
    }
    job = run_step(people, made, "review_comment", given)
    assert job.status == "succeeded", job.error
    [sent] = github.server.received  # type: ignore[union-attr]
    assert (sent.method, sent.path) == ("POST", "/repos/acme/api/pulls/3/comments")
    assert json.loads(sent.body) == {
        "body": "Off by one?",
        "commit_id": "a" * 40,
        "path": "src/app.py",
        "line": 12,
        "side": "RIGHT",
    }
    assert JobStep.objects.get(job=job, path="gh").output["id"] == 2000
    other = run_step(people, made, "review_comment", {**given, "pull_number": 4})
    assert other.status == "failed" and "HTTP 404: Not Found" in (other.error or "")


def test_github_validation_errors_name_the_field_and_code(people: dict[str, Any], github: GitHub) -> None:
    made = connection(people, github, ["issues:write"])
    # A blank title is refused by GitHub (422 Validation Failed, with the field and its code).
    blank = run_step(people, made, "create_issue", {**REPO, "title": "   "})
    assert blank.status == "failed"
    assert "HTTP 422: Validation Failed (title: missing_field)" in (blank.error or "")
    assert github.issues == []
    refused = run_step(people, made, "create_issue", {"owner": "acme", "repo": "nope", "title": "x"})
    assert refused.status == "failed" and "Not Found" in (refused.error or "")


def test_github_get_file_decodes_the_base64_content(people: dict[str, Any], github: GitHub) -> None:
    made = connection(people, github, ["contents:read"])
    job = run_step(people, made, "get_file", {**REPO, "path": "docs/README.md", "ref": "main"})
    assert job.status == "succeeded", job.error
    [sent] = github.server.received  # type: ignore[union-attr]
    assert sent.path == "/repos/acme/api/contents/docs/README.md?ref=main"
    got = JobStep.objects.get(job=job, path="gh").output
    assert got["text"] == "# API\nHello, reader.\n" and got["size"] == 21
    climbing = run_step(people, made, "get_file", {**REPO, "path": "../secrets"})
    assert climbing.status == "failed" and "path inside the repository" in (climbing.error or "")


def test_github_list_issues_follows_the_link_header_page_by_page(
    people: dict[str, Any], github: GitHub
) -> None:
    github.issues.extend({"number": n, "title": f"Issue {n}", "labels": []} for n in range(1, 6))
    made = connection(people, github, ["issues:read"])
    job = run_step(people, made, "list_issues", {**REPO})
    assert job.status == "succeeded", job.error
    paths = [r.path for r in github.server.received]  # type: ignore[union-attr]
    assert len(paths) == 3 and paths[1].endswith("page=2") and paths[2].endswith("page=3")
    github.server.recorder.received.clear()  # type: ignore[union-attr]
    assert [i["number"] for i in JobStep.objects.get(job=job, path="gh").output["issues"]] == [1, 2, 3, 4, 5]
    capped = run_step(people, made, "list_issues", {**REPO, "max_items": 3})
    assert capped.status == "succeeded"
    listed = JobStep.objects.get(job=capped, path="gh").output
    assert (len(listed["issues"]), listed["complete"]) == (3, False)
    assert len(github.server.received) == 2  # type: ignore[union-attr]


def test_github_rate_limit_pauses_the_connection_and_bad_credentials_are_named(
    people: dict[str, Any], github: GitHub
) -> None:
    made = connection(people, github, ["issues:read"])
    github.limited = True
    limited = run_step(people, made, "list_issues", {**REPO})
    assert limited.status == "failed" and "rate-limited" in (limited.error or "")
    made.refresh_from_db()
    assert made.paused_until is not None
    github.limited = False
    wrong = connection(people, github, ["issues:read"], token="github_pat_wrong")
    refused = run_step(people, wrong, "list_issues", {**REPO})
    assert "HTTP 401: Bad credentials" in (refused.error or "")
    assert TOKEN not in (limited.error or "") + (refused.error or "")


def test_rule_07_github_action_whose_scope_was_not_granted_sends_nothing(
    people: dict[str, Any], github: GitHub
) -> None:
    made = connection(people, github, ["issues:read"])
    job = run_step(people, made, "create_issue", {**REPO, "title": "x"})
    assert job.status == "failed" and "issues:write" in (job.error or "")
    assert github.server.received == []  # type: ignore[union-attr]


def _delivery(body: bytes, event: str, guid: str, secret: str = HOOK_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "HTTP_X_HUB_SIGNATURE_256": f"sha256={digest}",
        "HTTP_X_GITHUB_EVENT": event,
        "HTTP_X_GITHUB_DELIVERY": guid,
        "HTTP_USER_AGENT": "GitHub-Hookshot/abc123",
    }


def test_github_webhook_deliveries_are_checked_with_the_secret(
    people: dict[str, Any], github: GitHub
) -> None:
    made = connection(people, github, [])
    trigger = {
        "type": "connector",
        "connection": str(made.id),
        "trigger": "webhook",
        "input": {"events": ["issues"]},
    }
    recipe = started_recipe(people["admin"], people["acme"], trigger, name="GitHub hooks")
    endpoint = WebhookEndpoint.objects.get(recipe=recipe)
    client = https_client()
    client.force_login(people["admin"])
    url = f"/api/v1/workspaces/{people['acme'].id}/recipes/{recipe.id}/webhook/secret"
    assert client.put(url, {"secret": HOOK_SECRET}, content_type="application/json").status_code == 200
    hook = f"/hooks/connector/{endpoint.token}"

    def post(body: bytes, headers: dict[str, str]) -> Any:
        return https_client().post(hook, body, content_type="application/json", **headers)

    ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    assert post(ping, _delivery(ping, "ping", "guid-0")).status_code == 200
    body = json.dumps(
        {"action": "opened", "issue": {"number": 7}, "repository": {"full_name": "acme/api"}}
    ).encode()
    first = post(body, _delivery(body, "issues", "guid-1"))
    assert first.status_code == 202
    job = Job.objects.get(pk=first.json()["job"])
    assert job.trigger_payload == {
        "event": "issues",
        "delivery": "guid-1",
        "payload": {"action": "opened", "issue": {"number": 7}, "repository": {"full_name": "acme/api"}},
    }
    # A redelivery keeps its GUID: answered with the same job.
    again = post(body, _delivery(body, "issues", "guid-1"))
    assert (again.status_code, again.json()) == (200, first.json())
    push = json.dumps({"ref": "refs/heads/main"}).encode()
    assert post(push, _delivery(push, "push", "guid-2")).status_code == 200
    assert post(body, _delivery(body, "issues", "guid-3", secret="not-the-secret")).status_code == 401
    assert (
        post(body, {"HTTP_X_GITHUB_EVENT": "issues", "HTTP_X_GITHUB_DELIVERY": "guid-4"}).status_code == 401
    )
    assert Job.objects.count() == 1
    # The first refusal is audited with its reason at once; the others are counted into a later event
    # of the same interval (a call that lands after the interval turns over starts a new one).
    refused = list(
        AuditEvent.objects.filter(action="webhook.refused").order_by("occurred_at", "chain", "seq")
    )
    assert refused, "the refused calls left no audit event"
    assert "does not match" in refused[0].details["reason"]
    assert github.server.received == []  # type: ignore[union-attr]


def test_connectors_list_shows_what_is_installed_and_what_a_workspace_enabled(people: dict[str, Any]) -> None:
    installed = StringIO()
    call_command("connectors", "list", stdout=installed)
    keys = [line.split("\t")[0] for line in installed.getvalue().splitlines()]
    assert {"github", "slack", "http", "postgres", "smtp", "oauth2"} <= set(keys)
    assert "webhook(webhook)" in next(
        line for line in installed.getvalue().splitlines() if line.startswith("github")
    )
    listed = StringIO()
    call_command("connectors", "list", "--workspace", people["acme"].slug, stdout=listed)
    states = {line.split("\t")[0]: line.split("\t")[-1] for line in listed.getvalue().splitlines()}
    assert states["github"] == "enabled" and states["slack"] == "disabled"
    with pytest.raises(CommandError, match="workspace: no workspace 'nope'"):
        call_command("connectors", "list", "--workspace", "nope", stdout=StringIO())


# Signing in through a GitHub OAuth app, on a local GitHub that answers as GitHub documents.

GITHUB_SECRET = f"gh-cs-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def kit() -> Catalogue:
    return catalogue("github")


@pytest.fixture
def app(kit: Catalogue) -> Iterator[GitHub]:
    with github_server(
        "github_pat_unused",
        client_secret=GITHUB_SECRET,
        redirect_uris=redirect_uris(kit.workspace),
        expiring=True,
    ) as server:
        yield server


def test_github_oauth_app_sign_in_asks_githubs_scopes_and_acts_through_what_repo_covers(
    kit: Catalogue, app: GitHub
) -> None:
    profile = kit.profile(app, GITHUB_SECRET, ["repo"], client_id=app.client_id)
    made = kit.sign_in(profile, ["repo", "issues:write"], base_url=app.url)
    # Only GitHub's own scope names reach its authorize page; the client goes in the form.
    assert app.authorize_query()["scope"] == ["repo"]
    exchange = app.token_requests[-1]
    assert (exchange["client_id"], exchange["client_secret"]) == (app.client_id, GITHUB_SECRET)
    assert made.granted_scopes == ["repo"]
    assert made.credentials["access_token"].startswith("ghu_")
    job = kit.run(made, "create_issue", {"owner": "acme", "repo": "api", "title": "Signed in"})
    assert job.status == "succeeded", job.error
    assert app.issues[-1]["title"] == "Signed in"


def test_github_expired_user_token_is_refreshed_and_a_spent_refresh_needs_reauthorisation(
    kit: Catalogue, app: GitHub
) -> None:
    profile = kit.profile(app, GITHUB_SECRET, ["public_repo"], client_id=app.client_id)
    made = kit.sign_in(profile, ["public_repo"], base_url=app.url)
    old = made.credentials["access_token"]
    app.expire_all()
    job = kit.run(made, "get_file", {"owner": "acme", "repo": "api", "path": "docs/README.md"})
    assert job.status == "succeeded", job.error
    made.refresh_from_db()
    assert made.credentials["access_token"] != old
    assert app.token_requests[-1]["grant_type"] == "refresh_token"
    app.expire_all()
    app.refresh_tokens.clear()
    failed = kit.run(made, "get_file", {"owner": "acme", "repo": "api", "path": "docs/README.md"})
    assert failed.status == "failed" and "bad_refresh_token" in (failed.error or "")
    made.refresh_from_db()
    assert made.health == "reauth"


def test_github_refused_code_exchange_names_githubs_error_and_writes_nothing(
    kit: Catalogue, app: GitHub
) -> None:
    profile = kit.profile(app, "not-the-secret", ["repo"], client_id=app.client_id)
    assert "incorrect_client_credentials" in kit.refused(profile, ["repo"], base_url=app.url)
    assert not Connection.objects.filter(connector_key="github").exists()


def test_rule_07_github_sign_in_with_no_github_scope_is_granted_nothing_and_acts_on_nothing(
    kit: Catalogue, app: GitHub
) -> None:
    # A fine-grained permission is no OAuth scope: nothing is asked of GitHub, so nothing is granted.
    profile = kit.profile(app, GITHUB_SECRET, ["issues:write"], client_id=app.client_id)
    made = kit.sign_in(profile, ["issues:write"], base_url=app.url)
    assert "scope" not in app.authorize_query()
    assert made.granted_scopes == []
    assert app.server is not None
    app.server.recorder.received.clear()
    job = kit.run(made, "create_issue", {"owner": "acme", "repo": "api", "title": "Not allowed"})
    assert job.status == "failed" and "issues:write" in (job.error or "")
    assert app.server.received == []
