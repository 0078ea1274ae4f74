"""What the OAuth tests share: a workspace whose Admin enabled the OAuth 2.0 API connector and added an
OAuth profile for a real local provider (Authlib's server side, `oauth_provider`), and the sign-in a
person makes through Causeway's pages: Causeway's connect form, the provider's consent page, the
redirect back. No browser here (see the Chromium test for that); every hop is a real HTTP request."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from causeway.connections import oauth_profiles
from causeway.connections import services as connections
from causeway.connections.models import Connection, OAuthProfile
from causeway.connections.oauth import redirect_uri
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.oauth_provider import CLIENT_ID, RunningProvider, oauth_provider
from causeway.tests.connections_kit import Kit
from testkit.factories import ProjectFactory, UserFactory
from testkit.personas import cast, member
from testkit.support import https_client

# Different in every run, so that finding it anywhere means it leaked in this run.
CLIENT_SECRET = f"cs-cnry/{uuid.uuid4().hex[:12]}+s=&k"


@dataclass
class OAuthKit:
    workspace: Any
    admin: Any
    owner: Any
    analyst: Any
    outsider: Any
    project: Any
    running: RunningProvider
    profile: OAuthProfile

    @property
    def provider(self) -> Any:
        return self.running.provider

    def as_kit(self) -> Kit:
        """The connection tests' kit, for their recipe and job helpers."""
        return Kit(
            self.workspace,
            self.owner,
            self.admin,
            self.analyst,
            None,
            None,
            self.outsider,
            self.project,
            self.running.url,
        )

    def browser(self, user: Any = None) -> Any:
        client = https_client()
        client.force_login(user or self.owner)
        return client

    def start(self, client: Any, *, scopes: list[str], name: str = "Pat's API", **extra: str) -> Any:
        """Post the connect form; the answer (a redirect to the provider, or a refusal page)."""
        form = {
            "connector": "oauth2",
            "kind": "personal",
            "name": name,
            "setting:base_url": f"{self.running.url}/api",
            "profile": str(self.profile.id),
            "scope": scopes,
            **extra,
        }
        return client.post(f"/w/{self.workspace.slug}/oauth/start", form)

    def consent(self, authorize_url: str, *, decision: str = "allow") -> str:
        """The person at the provider: its consent page, then Allow or Deny; the redirect back."""
        with httpx.Client(timeout=10) as http:
            shown = http.get(authorize_url)
            assert shown.status_code == 200, shown.text
            answered = http.post(authorize_url, data={"decision": decision})
        assert answered.status_code == 302, answered.text
        back = answered.headers["Location"]
        assert back.startswith(redirect_uri(self.workspace)), back
        return back

    def come_back(self, client: Any, back: str) -> Any:
        parts = urlsplit(back)
        return client.get(parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)))

    def sign_in(self, *, scopes: list[str], client: Any = None, name: str = "Pat's API") -> Connection:
        client = client or self.browser()
        started = self.start(client, scopes=scopes, name=name)
        assert started.status_code == 302, started.content.decode()[:2000]
        answer = self.come_back(client, self.consent(started["Location"]))
        assert answer.status_code == 302, answer.content.decode()[:2000]
        return Connection.objects.get(pk=answer["Location"].rstrip("/").split("/")[-1])


@contextmanager
def oauth_kit() -> Iterator[OAuthKit]:
    acme = cast(emails={"outsider": "outsider@other.example.com"})
    workspace, people = acme.workspace, acme.people()
    owner = UserFactory.create(email="pat@example.com", first_name="Pat", last_name="Owner")
    member(workspace, owner, "analyst")
    admin = people["admin"]
    outbound_hosts_set(actor=admin, workspace=workspace, hosts=["127.0.0.1"])
    connections.connector_enable(actor=admin, workspace=workspace, key="oauth2", enabled=True)
    project = ProjectFactory.create(actor=admin, workspace=workspace, name="Integrations")
    with oauth_provider(client_secret=CLIENT_SECRET, redirect_uris=[redirect_uri(workspace)]) as running:
        profile = oauth_profiles.oauth_profile_create(
            actor=admin,
            workspace=workspace,
            connector_key="oauth2",
            display_name="Provider",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            default_scopes=["read"],
            **running.endpoints(),
        )
        yield OAuthKit(
            workspace, admin, owner, people["analyst"], people["outsider"], project, running, profile
        )
