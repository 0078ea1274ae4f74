"""Connecting the catalogue's OAuth connectors in headless Chromium: a person fills in the connect form of
Microsoft Graph (its tenant) and of Jira Cloud (its site), ticks the provider's own scope names, allows
access on the local authorization server's consent page (served under the tenant's path for Graph, as
Microsoft's identity platform serves it), and comes back to the new connection; then a step uses it
against the local provider's API.

As in the generic OAuth browser test, the provider redirects to the installation's public URL, and the
browser's request to it is handed to the test's server the way a reverse proxy would."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.conf import settings

from causeway.connections import oauth_profiles
from causeway.connections import services as connections
from causeway.connections.models import Connection, Health
from causeway.connections.oauth import redirect_uri
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.github_server import github_server
from causeway.connections.tests.graph_server import graph_server
from causeway.connections.tests.jira_server import jira_server
from causeway.connections.tests.oauth_provider import CLIENT_ID, oauth_provider
from causeway.connections.tests.slack_server import Slack, slack_server
from causeway.recipes.services import recipe_create
from causeway.runs import runtime
from causeway.runs.models import Job
from causeway.runs.services import job_create
from causeway.web.tests.test_accounts_pages import browser_sign_in, chromium
from testkit.factories import ProjectFactory, UserFactory
from testkit.personas import cast, member
from testkit.support import STRONG_PASSWORD

TENANT = "contoso.onmicrosoft.com"


def _workspace(key: str) -> tuple[Any, Any, Any]:
    acme = cast(emails={"outsider": "outsider@other.example.com"})
    workspace, admin = acme.workspace, acme.people()["admin"]
    pat = UserFactory.create(email="pat@example.com", first_name="Pat", last_name="Owner")
    member(workspace, pat, "analyst")
    outbound_hosts_set(actor=admin, workspace=workspace, hosts=["127.0.0.1"])
    connections.connector_enable(actor=admin, workspace=workspace, key=key, enabled=True)
    return workspace, admin, pat


def _sign_in(
    page: Any, base: str, pat: Any, url: str, fill: dict[str, str], profile: Any, scopes: list[str]
) -> None:
    public = str(settings.BASE_URL).rstrip("/")
    page.route(
        f"{public}/**",
        lambda route: route.fulfill(
            status=302, headers={"Location": route.request.url.replace(public, base, 1)}
        ),
    )
    browser_sign_in(page, base, pat.email, STRONG_PASSWORD)
    page.goto(url)
    for selector, value in fill.items():
        page.fill(selector, value)
    page.select_option("#id_profile", str(profile.id))
    for scope in scopes:
        page.check(f"#scopes input[value='{scope}']")
    page.click("#connection-form button[type='submit']")
    page.wait_for_selector("#allow")


def _step(pat: Any, workspace: Any, made: Connection, action: str, given: dict[str, Any]) -> Job:
    project = ProjectFactory.create(actor=pat, workspace=workspace, name=f"P {uuid.uuid4().hex[:6]}")
    step = {"id": "s", "type": "connector", "connection": str(made.id), "action": action, "input": given}
    recipe = recipe_create(
        actor=pat,
        workspace=workspace,
        project=project,
        name=f"Use {action}",
        definition={"trigger": {"type": "manual"}, "steps": [step]},
    )
    job = job_create(actor=pat, recipe=recipe, trigger_type="manual", is_test=True)
    runtime.run(job.pk)
    return Job.objects.get(pk=job.pk)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_graph_connects_at_the_tenants_authority_then_sends_mail(
    https_server: Any, transactional_db: Any
) -> None:
    base = https_server.url
    workspace, admin, pat = _workspace("msgraph")
    scopes = ("User.Read", "Mail.Send", "offline_access")
    secret = f"graph-cs-{uuid.uuid4().hex[:10]}"
    with (
        oauth_provider(
            client_secret=secret, redirect_uris=[redirect_uri(workspace)], scopes=scopes
        ) as running,
        graph_server(running.provider) as graph,
    ):
        profile = oauth_profiles.oauth_profile_create(
            actor=admin,
            workspace=workspace,
            connector_key="msgraph",
            display_name="Contoso app",
            client_id=CLIENT_ID,
            client_secret=secret,
            authorize_url=f"{running.url}/{{tenant}}/oauth2/v2.0/authorize",
            token_url=f"{running.url}/{{tenant}}/oauth2/v2.0/token",
        )
        with chromium() as browser:
            page = browser.new_context(ignore_https_errors=True).new_page()
            _sign_in(
                page,
                base,
                pat,
                f"{base}/w/acme/connections/new?connector=msgraph&auth_method=oauth2_code",
                {
                    "#id_name": "Pat's mailbox",
                    "#id_setting_tenant": TENANT,
                    "#id_setting_base_url": graph.url,
                },
                profile,
                ["Mail.Send", "offline_access"],
            )
            assert page.url.startswith(f"{running.url}/{TENANT}/oauth2/v2.0/authorize?")
            assert page.locator("#scopes").inner_text() == "Mail.Send offline_access"
            page.click("#allow")
            page.wait_for_selector("#connection-facts")
            assert "Healthy" in page.locator("#health").inner_text()
            issued = running.provider.tokens[-1]
            assert issued.access_token not in page.content() and secret not in page.content()
        made = Connection.objects.get()
        assert (made.granted_scopes, made.health) == (["Mail.Send", "offline_access"], Health.HEALTHY)
        assert running.provider.tenants == [TENANT, TENANT, TENANT]
        job = _step(
            pat, workspace, made, "send_mail", {"to": ["adele@contoso.example"], "subject": "Hi", "body": "x"}
        )
        assert job.status == "succeeded", job.error
        assert graph.mails[0]["message"]["subject"] == "Hi"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_jira_connects_with_3lo_then_comments_through_the_sites_cloud_id(
    https_server: Any, transactional_db: Any
) -> None:
    base = https_server.url
    workspace, admin, pat = _workspace("jira")
    scopes = ("read:jira-work", "write:jira-work", "offline_access")
    secret = f"jira-cs-{uuid.uuid4().hex[:10]}"
    with (
        oauth_provider(
            client_secret=secret, redirect_uris=[redirect_uri(workspace)], scopes=scopes
        ) as running,
        jira_server("pat@example.com", "unused", running.provider) as site,
    ):
        profile = oauth_profiles.oauth_profile_create(
            actor=admin,
            workspace=workspace,
            connector_key="jira",
            display_name="Acme Jira app",
            client_id=CLIENT_ID,
            client_secret=secret,
            authorize_url=f"{running.url}/authorize",
            token_url=f"{running.url}/token",
        )
        site.add_issue("Pager noisy")
        with chromium() as browser:
            page = browser.new_context(ignore_https_errors=True).new_page()
            _sign_in(
                page,
                base,
                pat,
                f"{base}/w/acme/connections/new?connector=jira&auth_method=oauth2_code",
                {"#id_name": "Pat's Jira", "#id_setting_site_url": site.url, "#id_setting_api_url": site.url},
                profile,
                ["write:jira-work", "offline_access"],
            )
            assert "audience=api.atlassian.com" in page.url and "prompt=consent" in page.url
            page.click("#allow")
            page.wait_for_selector("#connection-facts")
            assert "Healthy" in page.locator("#health").inner_text()
        made = Connection.objects.get()
        assert made.granted_scopes == ["write:jira-work", "offline_access"]
        job = _step(pat, workspace, made, "comment", {"issue_key": "OPS-1", "body": "Muted"})
        assert job.status == "succeeded", job.error
        assert site.comments[0]["issue"] == "OPS-1"


def _connect_own_app(
    base: str, workspace: Any, admin: Any, pat: Any, app: Any, secret: str, scopes: list[str]
) -> Connection:
    """Sign in on the provider's consent page of a local provider that is its own authorization server
    (Slack, GitHub), through an OAuth profile for its app; the connection made."""
    key = "slack" if isinstance(app, Slack) else "github"
    profile = oauth_profiles.oauth_profile_create(
        actor=admin,
        workspace=workspace,
        connector_key=key,
        display_name=f"Acme {key} app",
        client_id=app.client_id,
        client_secret=secret,
        **app.endpoints(),
    )
    with chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        _sign_in(
            page,
            base,
            pat,
            f"{base}/w/acme/connections/new?connector={key}&auth_method=oauth2_code",
            {"#id_name": f"Pat's {key}", "#id_setting_base_url": app.url},
            profile,
            scopes,
        )
        assert page.locator("#scopes").inner_text() == " ".join(scopes)
        page.click("#allow")
        page.wait_for_selector("#connection-facts")
        assert "Healthy" in page.locator("#health").inner_text()
        issued = next(iter(app.tokens))
        assert issued not in page.content() and secret not in page.content()
    made = Connection.objects.get()
    assert (made.granted_scopes, made.health) == (scopes, Health.HEALTHY)
    return made


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_slack_connects_through_slacks_consent_page_then_posts(
    https_server: Any, transactional_db: Any
) -> None:
    workspace, admin, pat = _workspace("slack")
    secret = f"slack-cs-{uuid.uuid4().hex[:10]}"
    with slack_server(
        "xoxb-pasted-unused", client_secret=secret, redirect_uris=[redirect_uri(workspace)], rotation=True
    ) as slack:
        made = _connect_own_app(
            https_server.url, workspace, admin, pat, slack, secret, ["chat:write", "channels:read"]
        )
        # Bot scopes go to Slack comma-separated, in `scope`.
        assert slack.authorize_query()["scope"] == ["chat:write,channels:read"]
        job = _step(pat, workspace, made, "post_message", {"channel": "C0000000001", "text": "Hello"})
        assert job.status == "succeeded", job.error
        assert slack.posted[0]["text"] == "Hello"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_github_connects_through_an_oauth_app_then_opens_an_issue(
    https_server: Any, transactional_db: Any
) -> None:
    workspace, admin, pat = _workspace("github")
    secret = f"gh-cs-{uuid.uuid4().hex[:10]}"
    with github_server(
        "github_pat_unused", client_secret=secret, redirect_uris=[redirect_uri(workspace)]
    ) as app:
        made = _connect_own_app(https_server.url, workspace, admin, pat, app, secret, ["repo"])
        job = _step(
            pat, workspace, made, "create_issue", {"owner": "acme", "repo": "api", "title": "From OAuth"}
        )
        assert job.status == "succeeded", job.error
        assert app.issues[0]["title"] == "From OAuth"
