"""Bad input to connections through every interface gets a clear answer and writes nothing: an unknown
connector (API 400 naming the field, a message on the page, one line and a non-zero exit on the command
line), and a declarative connector whose document does not validate (each error named by its path)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from causeway.audit.models import AuditEvent
from causeway.connections import services as connections
from causeway.connections.models import Connection, CustomConnector
from testkit.personas import cast
from testkit.support import https_client

pytestmark = pytest.mark.django_db

BAD_DOCUMENT = {
    "key": "tickets",
    "name": "Tickets",
    "base_url": "https://tickets.example.com/api",
    "auth": ["oauth3"],
    "scopes": [{"key": "read", "description": "Read tickets."}],
    "actions": [
        {"key": "find", "name": "Find", "scopes": ["admin"], "request": {"method": "GET", "path": "/t"}},
        {
            "key": "open",
            "name": "Open",
            "request": {"method": "POST", "path": "https://elsewhere.example.com/t"},
        },
    ],
}


@pytest.fixture
def people() -> dict[str, Any]:
    found = cast("admin", "analyst").people()
    connections.connector_enable(actor=found["admin"], workspace=found["acme"], key="http", enabled=True)
    return found


def nothing_written() -> None:
    assert Connection.objects.count() == 0
    assert CustomConnector.objects.count() == 0
    assert not AuditEvent.objects.filter(action__in=["connection.created", "connector.defined"]).exists()


def test_an_unknown_connector_is_named_on_the_api_the_page_and_the_command_line(
    people: dict[str, Any], tmp_path: Any
) -> None:
    client = https_client()
    client.force_login(people["admin"])
    workspace = people["acme"]
    answer = client.post(
        f"/api/v1/workspaces/{workspace.id}/connections",
        {"kind": "personal", "connector": "nope", "name": "Mine", "auth_method": "none"},
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert answer.json()["errors"] == {"connector": ["there is no connector 'nope'"]}
    page = client.post(
        f"/w/{workspace.slug}/connections/new?connector=nope",
        {"connector": "nope", "auth_method": "none", "name": "Mine", "kind": "personal"},
    )
    assert page.status_code == 400
    assert "there is no connector &#x27;nope&#x27; enabled in this workspace" in page.content.decode()
    credentials = tmp_path / "credentials.json"
    credentials.write_text("{}")
    with pytest.raises(CommandError) as refused:
        call_command(
            "connections",
            "create",
            "--workspace",
            workspace.slug,
            "--connector",
            "nope",
            "--name",
            "Co",
            "--auth",
            "none",
            "--credentials-file",
            str(credentials),
            stdout=io.StringIO(),
        )
    assert str(refused.value) == "connector: there is no connector 'nope'"
    assert "\n" not in str(refused.value)
    nothing_written()


def test_a_declarative_document_that_does_not_validate_is_refused_naming_each_path(
    people: dict[str, Any],
) -> None:
    client = https_client()
    client.force_login(people["analyst"])
    answer = client.post(
        f"/api/v1/workspaces/{people['acme'].id}/custom-connectors",
        {"document": BAD_DOCUMENT},
        content_type="application/json",
    )
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert any(key.startswith("auth[0]") for key in errors), errors
    assert "actions[1].request.path" in errors
    # Once every part has its shape, the checks across parts are named by path as well.
    fixed = {**BAD_DOCUMENT, "auth": ["none"], "actions": BAD_DOCUMENT["actions"][:1]}
    answer = client.post(
        f"/api/v1/workspaces/{people['acme'].id}/custom-connectors",
        {"document": fixed},
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert "admin" in " ".join(answer.json()["errors"]["actions[0].scopes"])
    text = client.post(
        f"/api/v1/workspaces/{people['acme'].id}/custom-connectors",
        {"document": "key: [unclosed"},
        content_type="application/json",
    )
    assert text.status_code == 400 and "neither JSON nor YAML" in text.content.decode()
    nothing_written()


def test_a_file_the_command_line_cannot_read_is_named_in_one_line_and_writes_nothing(
    people: dict[str, Any], tmp_path: Any
) -> None:
    workspace = people["acme"]
    missing = tmp_path / "missing.json"
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{")
    create = ["connections", "create", "--workspace", workspace.slug, "--connector", "http", "--name", "Co"]
    for path, reason in ((missing, "No such file or directory"), (binary, "not UTF-8 text")):
        with pytest.raises(CommandError) as refused:
            call_command(*create, "--auth", "none", "--credentials-file", str(path), stdout=io.StringIO())
        assert str(refused.value) == f"credentials-file: cannot read {path}: {reason}"
        with pytest.raises(CommandError) as refused:
            call_command("connections", "define", "--workspace", workspace.slug, "--file", str(path))
        assert str(refused.value) == f"file: cannot read {path}: {reason}"
    # `-` reads standard input, as the other file options of the command line do.
    with pytest.raises(CommandError) as refused:
        call_command(*create, "--auth", "none", "--credentials-file", "-", stdin=io.StringIO("[1]"))
    assert str(refused.value) == "credentials: not a JSON object"
    nothing_written()
