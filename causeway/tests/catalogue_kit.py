"""What the tests of the catalogue's OAuth connectors share: a workspace whose Admin enabled the connector
and added an OAuth profile for the local provider's sign-in, a person who signs in through Causeway's
pages (the connect form, the provider's consent page, the redirect back: every hop a real HTTP request),
and recipe steps run on that person's behalf."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from causeway.audit.models import AuditEvent
from causeway.connections import oauth_profiles
from causeway.connections import services as connections
from causeway.connections.models import Connection, OAuthProfile
from causeway.connections.oauth import redirect_uri
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.oauth_provider import CLIENT_ID
from causeway.recipes.services import project_create, recipe_create
from causeway.runs import runtime
from causeway.runs.models import Job, JobStep
from causeway.runs.services import job_create
from causeway.tests.at_rest import database_bytes, found_in
from causeway.tests.test_rule_13_connection_canary import assert_clean_of
from testkit.factories import UserFactory
from testkit.personas import cast, member
from testkit.support import https_client


class Provider(Protocol):
    """A local authorization server: its endpoints, and the client id registered there."""

    def endpoints(self) -> dict[str, str]: ...


@dataclass
class Catalogue:
    connector: str
    workspace: Any
    admin: Any
    owner: Any
    outsider: Any

    def profile(
        self, running: Provider, client_secret: str, scopes: list[str], client_id: str = CLIENT_ID
    ) -> OAuthProfile:
        return oauth_profiles.oauth_profile_create(
            actor=self.admin,
            workspace=self.workspace,
            connector_key=self.connector,
            display_name=f"Local provider {uuid.uuid4().hex[:6]}",
            client_id=client_id,
            client_secret=client_secret,
            default_scopes=scopes,
            **running.endpoints(),
        )

    def start(self, profile: OAuthProfile, scopes: list[str], **settings: str) -> tuple[Any, Any]:
        """The owner posts the connect form; their browser session and the answer."""
        client = https_client()
        client.force_login(self.owner)
        form = {
            "connector": self.connector,
            "kind": "personal",
            "name": f"{self.connector} {uuid.uuid4().hex[:6]}",
            "profile": str(profile.id),
            "scope": scopes,
            **{f"setting:{k}": v for k, v in settings.items()},
        }
        return client, client.post(f"/w/{self.workspace.slug}/oauth/start", form)

    def sign_in(self, profile: OAuthProfile, scopes: list[str], **settings: str) -> Connection:
        client, started = self.start(profile, scopes, **settings)
        assert started.status_code == 302, started.content.decode()[:2000]
        with httpx.Client(timeout=10) as http:
            assert http.get(started["Location"]).status_code == 200
            allowed = http.post(started["Location"], data={"decision": "allow"})
        assert allowed.status_code == 302, allowed.text
        back = urlsplit(allowed.headers["Location"])
        answer = client.get(back.path, dict(parse_qsl(back.query, keep_blank_values=True)))
        assert answer.status_code == 302, answer.content.decode()[:2000]
        return Connection.objects.get(pk=answer["Location"].rstrip("/").split("/")[-1])

    def refused(self, profile: OAuthProfile, scopes: list[str], **settings: str) -> str:
        """The owner allows access, but the code exchange is refused: the page they come back to."""
        client, started = self.start(profile, scopes, **settings)
        assert started.status_code == 302, started.content.decode()[:2000]
        with httpx.Client(timeout=10) as http:
            allowed = http.post(started["Location"], data={"decision": "allow"})
        back = urlsplit(allowed.headers["Location"])
        return str(client.get(back.path, dict(parse_qsl(back.query)), follow=True).content.decode())

    def run(self, made: Connection, action: str, given: dict[str, Any]) -> Job:
        """One step of a test run of a new recipe, on the owner's behalf."""
        project = project_create(
            actor=self.admin, workspace=self.workspace, name=f"{action} {uuid.uuid4().hex[:6]}"
        )
        step = {"id": "s", "type": "connector", "connection": str(made.id), "action": action, "input": given}
        recipe = recipe_create(
            actor=self.owner,
            workspace=self.workspace,
            project=project,
            name=f"{self.connector} {action}",
            definition={"trigger": {"type": "manual"}, "steps": [{**step, "retries": 0}]},
        )
        job = job_create(actor=self.owner, recipe=recipe, trigger_type="manual", is_test=True)
        runtime.run(job.pk)
        job.refresh_from_db()
        return job


def output(job: Job) -> Any:
    return JobStep.objects.get(job=job, path="s").output


def catalogue(connector: str) -> Catalogue:
    acme = cast(emails={"outsider": "outsider@other.example.com"})
    workspace, people = acme.workspace, acme.people()
    owner = UserFactory.create(email="pat@example.com", first_name="Pat", last_name="Owner")
    member(workspace, owner, "analyst")
    admin = people["admin"]
    outbound_hosts_set(actor=admin, workspace=workspace, hosts=["127.0.0.1"])
    connections.connector_enable(actor=admin, workspace=workspace, key=connector, enabled=True)
    return Catalogue(connector, workspace, admin, owner, people["outsider"])


def redirect_uris(workspace: Any) -> list[str]:
    return [redirect_uri(workspace)]


def surfaces_nowhere(job: Job, secrets: list[str], caplog: pytest.LogCaptureFixture) -> None:
    """Rule 13: none of `secrets` is in the job's history, the audit log, this process's log records, or
    (rule 10) any byte of the database."""
    steps = list(JobStep.objects.filter(job=job).values("input", "output", "error"))
    history = json.dumps([job.error, steps], default=str)
    audit = json.dumps(list(AuditEvent.objects.values("details")), default=str)
    logs = "\n".join(record.getMessage() for record in caplog.records)
    stored = database_bytes()
    for secret in secrets:
        for where, text in (("the job history", history), ("the audit log", audit), ("the log", logs)):
            assert_clean_of(secret, where, text)
        assert found_in(stored, secret) == []
