"""Rule 13 for connection credentials: a canary token set as a connection's credential through the API of a
real `causeway web`, sent in requests that fail, and used by a job's connector step whose provider echoes it
back, surfaces nowhere: not in the web process's log, an API answer, the job's history, an audit event, this
process's log records, nor any byte of the database (rule 10)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import httpx
import pytest

from causeway.accounts.services import token_create
from causeway.audit.models import AuditEvent
from causeway.connections import services as connections
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.servers import Answer, Received, http_server
from causeway.recipes.services import project_create, recipe_create
from causeway.runs import runtime
from causeway.runs.models import JobStep
from causeway.runs.services import job_create
from causeway.testing import RunningServer, make_user, make_workspace
from causeway.tests.at_rest import database_bytes, found_in
from causeway.tests.test_rule_13_secret_canary import WebLog, canary_forms, decoded_views, hidden_in_base64
from causeway.vault.masking import registry

# ASCII, since it travels in an HTTP header; with characters that URL-encoding and JSON each change.
CANARY = f"conn-cnry/{uuid.uuid4().hex[:12]}+tok=&k"


def assert_clean(where: str, text: str) -> None:
    for form in canary_forms(CANARY):
        assert form not in text, f"the canary ({form!r}) surfaced in {where}"
    for view in decoded_views(text):
        assert CANARY not in view, f"the canary surfaced in {where}, in a form that decodes to it"
    assert hidden_in_base64(text, CANARY.encode()) == [], f"the canary surfaced base64-encoded in {where}"


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_rule_13_a_connection_credential_surfaces_nowhere(
    https_server: RunningServer, transactional_db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    admin = make_user("admin@example.com")
    owner = make_user("owner@example.com")
    acme = make_workspace("Acme", members={admin: "admin", owner: "analyst"})
    outbound_hosts_set(actor=admin, workspace=acme, hosts=["127.0.0.1"])
    connections.connector_enable(actor=admin, workspace=acme, key="http", enabled=True)
    project = project_create(actor=admin, workspace=acme, name="Integrations")
    _, owner_token = token_create(actor=owner, name="canary", expires_in_days=1)
    _, admin_token = token_create(actor=admin, name="canary", expires_in_days=1)
    log = WebLog(https_server)
    api = f"{https_server.url}/api/v1/workspaces/{acme.id}"
    answers: list[httpx.Response] = []

    def echo(got: Received) -> Answer:
        # A provider that repeats what it was sent, credentials included, and fails the second call.
        status = 500 if got.path.endswith("/fail") else 200
        return Answer(status=status, body={"you_sent": got.headers.get("Authorization", "")})

    with http_server(echo) as provider, httpx.Client(verify=False, timeout=20) as http:  # noqa: S501  # nosec B501
        as_owner = {"Authorization": f"Bearer {owner_token}"}

        def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
            answer = http.request(method, url, **kwargs)
            answers.append(answer)
            return answer

        body = {
            "kind": "personal",
            "connector": "http",
            "name": "Canary API",
            "auth_method": "bearer",
            "settings": {"base_url": provider.url},
            "credentials": {"token": CANARY},
            "scopes": ["read"],
        }
        created = call("POST", f"{api}/connections", headers=as_owner, json=body)
        assert created.status_code == 201, created.text
        connection_id = created.json()["id"]
        # Refused bodies carrying it: a field the auth method does not have, a body that does not parse.
        wrong = call(
            "POST",
            f"{api}/connections",
            headers=as_owner,
            json={**body, "credentials": {"token": "x", "password": CANARY}},
        )
        assert wrong.status_code == 400 and "password" in wrong.json()["detail"]
        broken = call(
            "PATCH",
            f"{api}/connections/{connection_id}",
            headers={**as_owner, "Content-Type": "application/json"},
            content=b'{"credentials": {"token": ' + json.dumps(CANARY).encode() + b"}",
        )
        assert broken.status_code in (400, 422)
        replaced = call(
            "PATCH",
            f"{api}/connections/{connection_id}",
            headers=as_owner,
            json={"credentials": {"token": CANARY}},
        )
        assert replaced.status_code == 200
        assert replaced.json()["credentials"] == {"Token": "••••••••"}
        # The Admin sees that it exists, nothing more.
        seen = call(
            "GET", f"{api}/connections/{connection_id}", headers={"Authorization": f"Bearer {admin_token}"}
        )
        assert seen.status_code == 200 and seen.json()["credentials"] == {}

        # A worker that never saw the credential set: it learns it when it opens the connection.
        registry.clear()
        step = {"type": "connector", "connection": connection_id, "action": "get", "retries": 0}
        recipe = recipe_create(
            actor=owner,
            workspace=acme,
            project=project,
            name="Echo",
            definition={
                "trigger": {"type": "manual"},
                "steps": [
                    {**step, "id": "echo", "input": {"path": "/echo"}},
                    {"id": "copy", "type": "map", "fields": {"seen": "{{ steps.echo.body.you_sent }}"}},
                    {**step, "id": "fail", "input": {"path": "/fail"}},
                ],
            },
        )
        job = job_create(actor=owner, recipe=recipe, trigger_type="manual", is_test=True)
        assert runtime.run(job.pk) == "failed"
        assert [r.headers["Authorization"] for r in provider.received] == [f"Bearer {CANARY}"] * 2
        logging.getLogger("causeway.runs.worker").warning(
            "step headers %s", {"Authorization": f"Bearer {CANARY}"}
        )
        history = call("GET", f"{api}/jobs/{job.pk}", headers=as_owner)
        assert history.status_code == 200
        assert "[masked:" in history.text
        marker = f"end-of-canary-{uuid.uuid4().hex}"
        assert http.get(f"{https_server.url}/{marker}").status_code == 404
        web_log = log.until("GET /" + marker)

    assert_clean("the web process's log", web_log)
    assert_clean("this process's log records", "\n".join(r.getMessage() for r in caplog.records))
    for answer in answers:
        assert_clean(f"the answer to {answer.request.method} {answer.request.url.path}", answer.text)
    for row in JobStep.objects.filter(job=job):
        assert_clean(f"the history of step {row.path}", json.dumps([row.input, row.output, row.error]))
    for event in AuditEvent.objects.all():
        assert_clean(f"audit event {event.action}", json.dumps(event.details, default=str))
    assert found_in(database_bytes(), CANARY) == []
