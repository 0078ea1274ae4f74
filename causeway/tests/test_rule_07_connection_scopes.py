"""Rule 7: a connection acts with the scopes its owner granted and the actions they enabled, no more;
anything else is refused before a request leaves, and a reduced scope counts from the very next job."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from causeway.connections import services as connections
from causeway.connections.models import ConnectionUse
from causeway.connections.tests.servers import http_server
from causeway.tests.connections_kit import Kit, build, recipe, run, step

pytestmark = pytest.mark.django_db


@pytest.fixture
def server() -> Iterator[Any]:
    with http_server() as running:
        yield running


@pytest.fixture
def kit(server: Any) -> Kit:
    return build(server.url)


def test_rule_07_an_action_whose_scope_was_not_granted_is_refused(kit: Kit, server: Any) -> None:
    assert kit.company is not None
    connections.connection_link(actor=kit.analyst, workspace=kit.workspace, connection_id=kit.company.id)
    found = recipe(kit, kit.analyst, [step(kit.company, "post", body={"a": 1})])
    job = run(kit.analyst, found)
    assert job.status == "failed"
    assert "needs the scope(s) write, not granted to it" in (job.error or "")
    assert server.received == []
    assert ConnectionUse.objects.get().outcome == "refused"


def test_rule_07_an_action_disabled_on_the_connection_is_refused(kit: Kit, server: Any) -> None:
    assert kit.personal is not None
    connections.connection_update(
        actor=kit.owner, workspace=kit.workspace, connection_id=kit.personal.id, enabled_actions=["get"]
    )
    job = run(kit.owner, recipe(kit, kit.owner, [step(kit.personal, "delete")]))
    assert job.status == "failed" and "the action 'delete' is disabled on it" in (job.error or "")
    assert server.received == []


def test_rule_07_reducing_scope_applies_to_the_very_next_job(kit: Kit, server: Any) -> None:
    assert kit.personal is not None
    found = recipe(kit, kit.owner, [step(kit.personal, "put", body={"name": "x"})])
    assert run(kit.owner, found).status == "succeeded"
    assert len(server.received) == 1
    connections.connection_update(
        actor=kit.owner, workspace=kit.workspace, connection_id=kit.personal.id, scopes=["read"]
    )
    job = run(kit.owner, found)
    assert job.status == "failed" and "write" in (job.error or "")
    assert len(server.received) == 1


def test_rule_07_a_disabled_connector_refuses_and_its_connections_stay(kit: Kit, server: Any) -> None:
    assert kit.personal is not None
    found = recipe(kit, kit.owner, [step(kit.personal)])
    connections.connector_enable(actor=kit.admin, workspace=kit.workspace, key="http", enabled=False)
    job = run(kit.owner, found)
    assert job.status == "failed" and "HTTP/REST is disabled in this workspace" in (job.error or "")
    assert server.received == []
    connections.connector_enable(actor=kit.admin, workspace=kit.workspace, key="http", enabled=True)
    assert run(kit.owner, found).status == "succeeded"


def test_rule_07_bad_input_for_the_action_is_named_and_sends_nothing(kit: Kit, server: Any) -> None:
    assert kit.personal is not None
    job = run(kit.owner, recipe(kit, kit.owner, [step(kit.personal, path="https://elsewhere.example/x")]))
    assert job.status == "failed" and "input.path" in (job.error or "")
    job = run(kit.owner, recipe(kit, kit.owner, [step(kit.personal, verb="x")], name="Typo"))
    assert job.status == "failed" and "input.verb" in (job.error or "")
    assert server.received == []
