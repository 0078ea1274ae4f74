"""A declarative connector end to end: defined as YAML, enabled by an Admin, connected with an API key,
used by a recipe's step against a real local server; its templates are rendered in the sandbox, so one
that reaches for Python's internals fails the step and sends nothing."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from causeway.connections import services as connections
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.servers import Answer, Received, http_server
from causeway.tests.connections_kit import Kit, build, recipe, run

pytestmark = pytest.mark.django_db

DOCUMENT = """
key: tickets
name: Tickets
base_url: {base}
auth: [api_key]
scopes:
  - {{key: read, description: Read tickets.}}
  - {{key: write, description: Open tickets.}}
actions:
  - key: find
    name: Find a ticket
    scopes: [read]
    input: {{number: {{type: integer, required: true}}}}
    request:
      method: GET
      path: "/tickets/{{{{ input.number }}}}"
      headers: {{X-Trace: "t-{{{{ input.number }}}}"}}
    output: ticket
  - key: open
    name: Open a ticket
    scopes: [write]
    input: {{title: {{type: string, required: true}}}}
    request: {{method: POST, path: /tickets, body: {{title: "{{{{ input.title }}}}", source: causeway}}}}
  - key: sneaky
    name: Reaches for internals
    request: {{method: GET, path: "/{{{{ input.__class__.__mro__ }}}}"}}
"""


@pytest.fixture
def server() -> Iterator[Any]:
    def answer(got: Received) -> Answer:
        if got.method == "POST":
            return Answer(status=201, body={"created": json.loads(got.body)})
        return Answer(body={"ticket": {"number": got.path.rsplit("/", 1)[-1], "state": "open"}})

    with http_server(answer) as running:
        yield running


@pytest.fixture
def kit(server: Any) -> Kit:
    kit = build(server.url)
    connections.custom_connector_save(
        actor=kit.analyst, workspace=kit.workspace, document=DOCUMENT.format(base=server.url)
    )
    connections.connector_enable(actor=kit.admin, workspace=kit.workspace, key="tickets", enabled=True)
    outbound_hosts_set(actor=kit.admin, workspace=kit.workspace, hosts=["127.0.0.1"])
    kit.extra["tickets"] = connections.connection_create(
        actor=kit.owner,
        workspace=kit.workspace,
        kind="personal",
        connector_key="tickets",
        name="My tickets",
        auth_method="api_key",
        credentials={"placement": "header", "name": "X-Key", "key": "tk-1"},
        scopes=["read"],
    )
    return kit


def _step(kit: Kit, action: str, given: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "t",
        "type": "connector",
        "connection": str(kit.extra["tickets"].id),
        "action": action,
        "input": given,
        "retries": 0,
    }


def test_a_declarative_action_renders_its_request_and_answers_with_its_output_path(
    kit: Kit, server: Any
) -> None:
    job = run(kit.owner, recipe(kit, kit.owner, [_step(kit, "find", {"number": "{{ 40 + 2 }}"})]))
    assert job.status == "succeeded", job.error
    (got,) = server.received
    assert (got.method, got.path) == ("GET", "/tickets/42")
    assert got.headers["X-Key"] == "tk-1" and got.headers["X-Trace"] == "t-42"
    assert job.steps.get().output["body"] == {"number": "42", "state": "open"}


def test_rule_07_holds_for_declarative_actions(kit: Kit, server: Any) -> None:
    job = run(kit.owner, recipe(kit, kit.owner, [_step(kit, "open", {"title": "Broken"})]))
    assert job.status == "failed" and "needs the scope(s) write" in (job.error or "")
    assert server.received == []


def test_a_template_that_reaches_for_internals_is_refused_by_the_sandbox(kit: Kit, server: Any) -> None:
    connections.connection_update(
        actor=kit.owner,
        workspace=kit.workspace,
        connection_id=kit.extra["tickets"].id,
        scopes=["read", "write"],
    )
    job = run(kit.owner, recipe(kit, kit.owner, [_step(kit, "sneaky", {})]))
    assert job.status == "failed" and "is not allowed in a template" in (job.error or ""), job.error
    assert server.received == []


def test_the_command_line_defines_and_names_errors_by_path(kit: Kit, tmp_path: Any) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: broken\nname: B\nbase_url: https://x.example\nauth: [token]\nactions: []\n")
    with pytest.raises(CommandError) as refused:
        call_command("connections", "define", "--workspace", "acme", "--file", str(bad), stdout=io.StringIO())
    assert "auth[0]:" in str(refused.value) and "actions:" in str(refused.value)
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {
                "key": "pinger",
                "name": "Pinger",
                "base_url": "https://ping.example",
                "auth": ["none"],
                "actions": [{"key": "ping", "name": "Ping", "request": {"path": "/ping"}}],
            }
        )
    )
    out = io.StringIO()
    call_command("connections", "define", "--workspace", "acme", "--file", str(good), stdout=out)
    assert "Saved connector pinger" in out.getvalue()
    listed = io.StringIO()
    call_command("connections", "connectors", "--workspace", "acme", stdout=listed)
    assert "pinger\tPinger\tdisabled" in listed.getvalue()
