"""The SMTP connector against a real mail server the test starts (aiosmtpd), over STARTTLS and over
implicit TLS with a self-signed certificate the connection trusts, reached by real jobs' connector steps."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from causeway.connections import services
from causeway.connections.models import Connection, ConnectionUse
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.mail import MailServer, mail_server
from causeway.recipes.services import project_create, recipe_create
from causeway.runs import runtime
from causeway.runs.models import Job, JobStep
from causeway.runs.services import job_create
from testkit.personas import cast

pytestmark = pytest.mark.django_db

PASSWORD = "smtp-canary-8d41c0b7"


@pytest.fixture
def starttls(tmp_path: Path) -> Iterator[MailServer]:
    with mail_server(tmp_path, password=PASSWORD) as server:
        yield server


@pytest.fixture
def implicit(tmp_path: Path) -> Iterator[MailServer]:
    with mail_server(tmp_path, implicit_tls=True, password=PASSWORD) as server:
        yield server


@pytest.fixture
def people() -> dict[str, Any]:
    people = cast("admin", "analyst").people(workspace_key="workspace")
    services.connector_enable(actor=people["admin"], workspace=people["workspace"], key="smtp", enabled=True)
    people["project"] = project_create(actor=people["admin"], workspace=people["workspace"], name="Mail")
    return people


def allow_local(people: dict[str, Any]) -> None:
    outbound_hosts_set(actor=people["admin"], workspace=people["workspace"], hosts=["localhost"])


def connect(
    people: dict[str, Any], server: MailServer, *, password: str = PASSWORD, **settings: Any
) -> Connection:
    return services.connection_create(
        actor=people["analyst"],
        workspace=people["workspace"],
        kind="personal",
        connector_key="smtp",
        name=f"Mail {uuid.uuid4().hex[:6]}",
        auth_method="basic",
        settings={
            "host": server.host,
            "port": server.port,
            "from_address": "robot@acme.example",
            "from_name": "Acme Robot",
            "trusted_certificate": server.certificate,
            **settings,
        },
        credentials={"username": server.user, "password": password},
        scopes=["send"],
    )


def send(people: dict[str, Any], connection: Connection, **given: Any) -> Job:
    body = {"to": ["ann@example.com"], "subject": "Hello", "text": "Plain words.", **given}
    recipe = recipe_create(
        actor=people["analyst"],
        workspace=people["workspace"],
        project=people["project"],
        name=f"Mail {uuid.uuid4().hex[:8]}",
        definition={
            "trigger": {"type": "manual"},
            "steps": [
                {
                    "id": "mail",
                    "type": "connector",
                    "connection": str(connection.id),
                    "action": "send_email",
                    "input": body,
                    "retries": 0,
                },
            ],
        },
    )
    job = job_create(actor=people["analyst"], recipe=recipe, trigger_type="manual", is_test=True)
    runtime.run(job.pk)
    job.refresh_from_db()
    return job


def test_send_over_starttls(people: dict[str, Any], starttls: MailServer) -> None:
    allow_local(people)
    job = send(
        people,
        connect(people, starttls),
        to=["ann@example.com"],
        cc=["bob@example.com"],
        bcc=["audit@acme.example"],
        subject="Order {{ job.id[:8] }} shipped",
        text="It is on its way.",
        html="<p>It is on its way.</p>",
    )
    assert job.status == "succeeded", job.error
    (got,) = starttls.delivered
    assert got.sender == "robot@acme.example"
    assert got.recipients == ["ann@example.com", "bob@example.com", "audit@acme.example"]
    assert got.message["From"] == "Acme Robot <robot@acme.example>"
    assert (got.message["To"], got.message["Cc"], got.message["Bcc"]) == (
        "ann@example.com",
        "bob@example.com",
        None,
    )
    assert got.message["Subject"] == f"Order {str(job.id)[:8]} shipped"
    assert got.message.is_multipart()
    assert starttls.logins == [(starttls.user, True)]
    output = JobStep.objects.get(job=job, path="mail").output
    assert output["message_id"] == got.message["Message-ID"]
    assert output["accepted"] == got.recipients
    use = ConnectionUse.objects.get()
    assert (use.action, use.host, use.outcome) == ("send_email", "localhost", "succeeded")


def test_send_over_implicit_tls_and_test_the_connection(people: dict[str, Any], implicit: MailServer) -> None:
    allow_local(people)
    connection = connect(people, implicit, port=implicit.port, security="tls")
    tested = services.connection_test(
        actor=people["analyst"], workspace=people["workspace"], connection_id=connection.id
    )
    assert (tested.health, tested.health_message) == (
        "healthy",
        "connected to localhost over TLS and signed in",
    )
    job = send(people, connection)
    assert job.status == "succeeded", job.error
    (got,) = implicit.delivered
    assert str(got.message.get_payload(decode=True), "utf-8").strip() == "Plain words."


def test_a_wrong_password_is_refused_and_nothing_is_sent(
    people: dict[str, Any], starttls: MailServer
) -> None:
    allow_local(people)
    job = send(people, connect(people, starttls, password="not-it"))
    assert job.status == "failed"
    assert "refused the user name or password" in (job.error or "")
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN): each refused.
    assert starttls.delivered == [] and starttls.logins and all(not ok for _, ok in starttls.logins)


def test_an_untrusted_certificate_stops_before_any_credential_is_sent(
    people: dict[str, Any], starttls: MailServer, implicit: MailServer
) -> None:
    allow_local(people)
    for server in (starttls, implicit):
        security = "tls" if server is implicit else "starttls"
        job = send(people, connect(people, server, trusted_certificate="", security=security))
        assert job.status == "failed"
        assert "certificate was not trusted" in (job.error or "")
        assert server.logins == [] and server.delivered == []


def test_a_line_break_cannot_add_a_header_or_recipient(people: dict[str, Any], starttls: MailServer) -> None:
    allow_local(people)
    connection = connect(people, starttls)
    job = send(people, connection, subject="Hi\r\nBcc: thief@evil.example")
    assert job.status == "failed" and "input.subject" in (job.error or "")
    job = send(people, connection, to=["ann@example.com\r\nRCPT TO:<thief@evil.example>"])
    assert job.status == "failed" and "input.to" in (job.error or "")
    job = send(people, connection, to=["ann@example.com, thief@evil.example"])
    assert job.status == "failed" and "not one email address" in (job.error or "")
    assert starttls.delivered == [] and starttls.logins == []


def test_the_mail_server_goes_through_the_outbound_rules(
    people: dict[str, Any], starttls: MailServer
) -> None:
    job = send(people, connect(people, starttls))
    assert job.status == "failed"
    assert "localhost resolves to a loopback address" in (job.error or "")
    assert starttls.logins == [] and starttls.delivered == []


def test_settings_are_checked_and_nothing_is_written(people: dict[str, Any], starttls: MailServer) -> None:
    with pytest.raises(ValidationError) as refused:
        connect(
            people,
            starttls,
            host="smtp://mail.example.com",
            security="none",
            from_address="robot",
            from_name="Robot\nBcc: x@y.example",
            trusted_certificate="not a certificate",
        )
    assert set(refused.value.message_dict) == {
        "settings.host",
        "settings.security",
        "settings.from_address",
        "settings.from_name",
        "settings.trusted_certificate",
    }
    assert not Connection.objects.exists()


def test_a_retried_send_carries_the_same_message_id(people: dict[str, Any], starttls: MailServer) -> None:
    allow_local(people)
    connection = connect(people, starttls)
    resolved = services.connection_for_step(
        workspace=people["workspace"],
        connection_ref=connection.id,
        action_key="send_email",
        on_behalf_of=people["analyst"],
        job_id=None,
        step_path="mail",
        idempotency_key="job-1:mail",
    )
    given = services.action_input(resolved, {"to": ["ann@example.com"], "subject": "Once", "text": "x"})
    first = resolved.action.run(resolved.call, given)
    second = resolved.action.run(resolved.call, given)
    assert first.model_dump()["message_id"] == second.model_dump()["message_id"]
    assert [d.message["Message-ID"] for d in starttls.delivered] == [first.model_dump()["message_id"]] * 2
