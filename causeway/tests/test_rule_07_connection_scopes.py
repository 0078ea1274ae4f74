"""Rule 7: a connection acts with the scopes its owner granted and the actions they enabled, no more;
anything else is refused before a request leaves, and a reduced scope counts from the very next job."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from causeway.connections import services as connections
from causeway.connections.models import Connection, ConnectionUse
from causeway.connections.tests.servers import http_server
from causeway.tests.connections_kit import Kit, build, recipe, run, step
from causeway.tests.oauth_kit import OAuthKit, oauth_kit

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


# OAuth 2.0 connections: the scopes are those the provider granted at sign-in.


@pytest.fixture
def signed() -> Iterator[OAuthKit]:
    with oauth_kit() as made:
        yield made


def test_rule_07_an_oauth_connection_refuses_an_action_whose_scope_was_not_granted(signed: OAuthKit) -> None:
    connection = signed.sign_in(scopes=["read"])
    exchanged = len(signed.provider.token_requests)
    job = run(signed.owner, recipe(signed.as_kit(), signed.owner, [step(connection, "post", body={"a": 1})]))
    assert job.status == "failed" and "needs the scope(s) write, not granted to it" in (job.error or "")
    assert signed.provider.resource_calls == []
    assert len(signed.provider.token_requests) == exchanged


def test_rule_07_the_provider_granting_less_than_asked_is_what_the_connection_holds(signed: OAuthKit) -> None:
    signed.provider.client.scope = "read"
    connection = signed.sign_in(scopes=["read", "write"])
    assert connection.granted_scopes == ["read"]
    job = run(signed.owner, recipe(signed.as_kit(), signed.owner, [step(connection, "delete")]))
    assert job.status == "failed" and "write" in (job.error or "")
    assert signed.provider.resource_calls == []


def test_rule_07_reducing_an_oauth_connections_scope_applies_to_the_very_next_job(signed: OAuthKit) -> None:
    connection = signed.sign_in(scopes=["read", "write"])
    found = recipe(signed.as_kit(), signed.owner, [step(connection, "put", body={"name": "x"})])
    assert run(signed.owner, found).status == "succeeded"
    assert len(signed.provider.resource_calls) == 1
    connections.connection_update(
        actor=signed.owner, workspace=signed.workspace, connection_id=connection.id, scopes=["read"]
    )
    job = run(signed.owner, found)
    assert job.status == "failed" and "write" in (job.error or "")
    assert len(signed.provider.resource_calls) == 1


def test_rule_07_widening_an_oauth_connections_scope_sends_its_owner_to_the_provider(
    signed: OAuthKit,
) -> None:
    client = signed.browser()
    connection = signed.sign_in(scopes=["read"], client=client)
    with pytest.raises(ValidationError, match="needs signing in at the provider again"):
        connections.connection_update(
            actor=signed.owner,
            workspace=signed.workspace,
            connection_id=connection.id,
            scopes=["read", "write"],
        )
    page = client.post(
        f"/w/{signed.workspace.slug}/connections/{connection.id}/scopes",
        {"scope": ["read", "write"], "action": "get"},
    )
    assert page.status_code == 400 and "needs signing in at the provider again" in page.content.decode()
    assert Connection.objects.get(pk=connection.pk).granted_scopes == ["read"]
    # Sign in again with write ticked: the provider asks the person, and the connection then holds it.
    started = client.post(
        f"/w/{signed.workspace.slug}/oauth/start",
        {"connection": str(connection.id), "scope": ["read", "write"]},
    )
    assert "scope=read+write" in started["Location"]
    assert signed.come_back(client, signed.consent(started["Location"])).status_code == 302
    assert Connection.objects.get(pk=connection.pk).granted_scopes == ["read", "write"]
    job = run(signed.owner, recipe(signed.as_kit(), signed.owner, [step(connection, "post", body={"a": 1})]))
    assert job.status == "succeeded", job.error
