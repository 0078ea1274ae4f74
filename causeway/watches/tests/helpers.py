"""Shared by the watches tests: a recipe whose failure reason would carry a secret, and the connections
a watcher is told through."""

from __future__ import annotations

from typing import Any

from causeway.connections import services as connections
from causeway.connections.tests.servers import Answer, Received
from causeway.runs.tests.helpers import Setting, definition


def echo_credential(got: Received) -> Answer:
    """A careless service that echoes the credential it was sent."""
    return Answer(body={"seen": got.headers.get("Authorization", "")})


def leaky_failure(service_url: str) -> dict[str, Any]:
    """A recipe that calls the service with the secret ERP_KEY and stops with what it answered: its
    failure reason would carry the secret, were it not masked."""
    return definition(
        {
            "id": "fetch",
            "type": "http",
            "method": "GET",
            "url": f"{service_url}/orders",
            "headers": {"Authorization": "Bearer {{ secret.ERP_KEY }}"},
        },
        {"id": "check", "type": "stop", "message": "refused with {{ steps.fetch.body.seen }}"},
    )


def connection(
    place: Setting, base_url: str, *, connector: str = "http", kind: str = "personal", token: str = ""
) -> Any:
    """An HTTP/REST connection (no auth, `write`) or a Slack one (a bearer token, `chat:write`), made by
    the place's Admin, its connector enabled."""
    connections.connector_enable(actor=place.admin, workspace=place.workspace, key=connector, enabled=True)
    slack = connector == "slack"
    return connections.connection_create(
        actor=place.admin,
        workspace=place.workspace,
        kind=kind,
        connector_key=connector,
        name=f"{connector} {kind}",
        auth_method="bearer" if slack else "none",
        settings={"base_url": base_url},
        credentials={"token": token} if slack else {},
        scopes=["chat:write"] if slack else ["write"],
    )
