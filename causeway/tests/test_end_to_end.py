"""A whole run through real processes: a signed webhook call reaches `causeway web`, a `causeway worker`
runs the recipe (an HTTP call to a local server with a secret in a header, a mapping, a lookup-table
write), and the job's history shows every step, with the secret masked wherever it could surface.

The same test runs on the embedded default (SQLite and the SQLite broker) and, in CI's second pass, on
PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from causeway.audit.models import AuditEvent
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.servers import Answer, Received, http_server
from causeway.recipes.secrets import secret_write
from causeway.recipes.services import (
    lookup_row_get,
    lookup_table_create,
    project_create,
    recipe_create,
)
from causeway.runs.models import FINISHED, Job, SecretUse, WebhookEndpoint
from causeway.runs.triggers import recipe_start
from causeway.runs.webhooks import sign, webhook_secret_rotate
from causeway.tests.at_rest import broker_bytes, database_bytes, found_in, stored_forms
from causeway.workspaces.tokens import token_create
from testkit.support import (
    TEST_HOME,
    jobs_seen,
    make_user,
    make_workspace,
    poll_until,
    process_env,
    start_worker,
)


def _customer_service(got: Received) -> Answer:
    """A CRM that looks a customer up, and (as careless services do) echoes the credential it was sent."""
    asked = json.loads(got.body or b"{}")
    return Answer(
        body={
            "email": asked.get("email"),
            "plan": "gold",
            "seen_authorization": got.headers.get("Authorization", ""),
        }
    )


def _surfaces(values: list[str], canary: str) -> list[str]:
    return [text[:200] for text in values if any(form.decode() in text for form in stored_forms(canary))]


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_rule_13_webhook_to_lookup_row_through_real_processes_with_the_secret_masked(
    https_server: Any, tmp_path: Path, client: Any
) -> None:
    canary = f"canary-{secrets.token_hex(16)}"
    payload_canary = f"payload-{secrets.token_hex(12)}"
    admin = make_user("e2e-admin@example.com")
    workspace = make_workspace("End To End", members={admin: "admin"})

    with http_server(_customer_service) as crm:
        outbound_hosts_set(actor=admin, workspace=workspace, hosts=["127.0.0.1"])
        secret_write(
            actor=admin, workspace=workspace, name="CRM_KEY", value=canary, allowed_hosts=["127.0.0.1"]
        )
        project = project_create(actor=admin, workspace=workspace, name="Sales")
        table = lookup_table_create(
            actor=admin,
            workspace=workspace,
            project=project,
            name="Customers",
            columns=[{"name": "email", "type": "text"}, {"name": "plan", "type": "text"}],
            key_column="email",
        )
        recipe = recipe_create(
            actor=admin,
            workspace=workspace,
            project=project,
            name="New customer",
            definition={
                "trigger": {"type": "webhook"},
                "steps": [
                    {
                        "id": "fetch",
                        "type": "http",
                        "method": "POST",
                        "url": f"{crm.url}/customers/lookup",
                        "headers": {"Authorization": "Bearer {{ secret.CRM_KEY }}"},
                        "body_type": "json",
                        "body": {"email": "{{ trigger.email }}"},
                    },
                    {
                        "id": "shape",
                        "type": "map",
                        "fields": {
                            "email": "{{ steps.fetch.body.email }}",
                            "plan": "{{ steps.fetch.body.plan | upper }}",
                        },
                    },
                    {
                        "id": "save",
                        "type": "lookup_write",
                        "table": "Customers",
                        "key": "{{ steps.shape.email }}",
                        "values": {"plan": "{{ steps.shape.plan }}"},
                    },
                ],
            },
        )
        recipe_start(actor=admin, recipe=recipe)
        signing_secret = webhook_secret_rotate(actor=admin, recipe=recipe)
        token = WebhookEndpoint.objects.get(recipe=recipe).token

        worker = start_worker(process_env(), tmp_path)
        try:
            body = json.dumps({"email": "ada@example.com", "note": payload_canary}).encode()
            answer = httpx.post(
                f"{https_server.url}/hooks/{token}",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Causeway-Signature": sign(signing_secret, int(time.time()), body),
                },
                verify=False,  # noqa: S501  # nosec B501 - the test server's self-signed certificate
                timeout=30,
            )
            assert answer.status_code == 202, answer.text
            job_id = answer.json()["job"]
            job = poll_until(
                lambda: Job.objects.filter(pk=job_id, status__in=FINISHED).first(),
                seconds=90,
                what="the webhook's job to finish",
                saw=lambda: jobs_seen([job_id]),
            )
        finally:
            worker.stop()
        worker_log = worker.output()

    assert job.status == "succeeded", job.error
    # The CRM got the real credential, once.
    assert [r.headers.get("Authorization") for r in crm.received] == [f"Bearer {canary}"]
    row = lookup_row_get(table=table, key="ada@example.com")
    assert row is not None and row.values == {"email": "ada@example.com", "plan": "GOLD"}

    steps = list(job.steps.order_by("position"))
    assert [(s.path, s.step_type, s.status) for s in steps] == [
        ("fetch", "http", "succeeded"),
        ("shape", "map", "succeeded"),
        ("save", "lookup_write", "succeeded"),
    ]
    assert steps[1].output == {"email": "ada@example.com", "plan": "GOLD"}
    history = [json.dumps([s.input, s.output, s.error]) for s in steps] + [json.dumps(job.trigger_payload)]
    assert _surfaces(history, canary) == []
    assert "[masked:CRM_KEY]" in json.dumps(steps[0].input)
    assert "[masked:CRM_KEY]" in json.dumps(steps[0].output)  # the echo came back masked
    assert (
        SecretUse.objects.filter(job=job, secret_name="CRM_KEY", host="127.0.0.1", allowed=True).count() == 1
    )

    # The job through the API and its page, as the Admin sees them.
    _, api_token = token_create(actor=admin, name="e2e", expires_in_days=1)
    seen: list[str] = []
    with httpx.Client(base_url=https_server.url, verify=False, timeout=30) as remote:  # noqa: S501  # nosec B501
        api = remote.get(
            f"/api/v1/workspaces/{workspace.id}/jobs/{job.id}",
            headers={"Authorization": f"Bearer {api_token}"},
        )
        assert api.status_code == 200, api.text
        assert "GOLD" in api.text
        seen.append(api.text)
    client.force_login(admin)
    page = client.get(f"/w/{workspace.slug}/jobs/{job.id}")
    assert page.status_code == 200
    text = page.content.decode()
    assert all(path in text for path in ("fetch", "shape", "save")) and "GOLD" in text
    seen.append(text)
    audit_text = [
        json.dumps([e.details, e.target_label, e.actor_label])
        for e in AuditEvent.objects.filter(workspace_id=workspace.id)
    ]
    logs = [worker_log, https_server.log_path.read_text(errors="replace")]
    logs += [p.read_text(errors="replace") for p in TEST_HOME.glob("*.log")]
    assert _surfaces(seen + audit_text + logs, canary) == []

    # At rest: neither the secret nor the webhook's payload in the database or the broker.
    assert not found_in(database_bytes(), canary)
    assert not found_in(database_bytes(), payload_canary)
    assert not found_in(broker_bytes(), payload_canary)
    assert not found_in(broker_bytes(), canary)
