"""`causeway apis`: collections, endpoints, clients and keys from the command line, one-line refusals."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from causeway.apiplat.models import ApiClient, ApiCollection, ApiEndpoint
from causeway.recipes.services import project_create, recipe_create
from causeway.workspaces.models import ApiToken, TokenKind
from causeway.workspaces.tokens import token_verify
from testkit.personas import cast

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("apis", *args, stdout=out, stderr=err)
    return out.getvalue()


@pytest.fixture
def place() -> dict[str, Any]:
    people = cast("admin").people()
    project = project_create(actor=people["admin"], workspace=people["acme"], name="Orders")
    recipe = recipe_create(
        actor=people["admin"],
        workspace=people["acme"],
        project=project,
        name="Take",
        definition={"trigger": {"type": "api_endpoint"}, "steps": []},
    )
    return {**people, "project": project, "recipe": recipe}


def test_a_collection_an_endpoint_a_client_and_a_key_made_listed_and_revoked(place: dict[str, Any]) -> None:
    assert run("create", "--workspace", "acme", str(place["project"].id), "Orders", "orders").startswith(
        "Created API collection Orders"
    )
    collection = ApiCollection.objects.get(slug="orders")
    schema = json.dumps({"type": "object", "required": ["sku"]})
    added = run(
        "endpoint-add", "--workspace", "acme", str(collection.id), "post", "/orders/{id}",
        str(place["recipe"].id), "--request-schema", schema, "--header", "X-Channel",
    )  # fmt: skip
    assert added.startswith("Added POST /orders/{id}")
    endpoint = ApiEndpoint.objects.get(collection=collection)
    assert (endpoint.request_schema, endpoint.headers) == (
        {"type": "object", "required": ["sku"]},
        ["x-channel"],
    )
    assert "POST /orders/{id}" in run("list", "--workspace", "acme")
    run(
        "client-create",
        "--workspace",
        "acme",
        "Shop",
        "--collection",
        str(collection.id),
        "--source",
        "10.0.0.0/8",
    )
    client = ApiClient.objects.get(service_account__name="Shop")
    assert client.allowed_sources == ["10.0.0.0/8"]
    assert "Shop" in run("clients", "--workspace", "acme")
    secret = run("key", "--workspace", "acme", str(client.id), "--name", "prod", "--days", "30").strip()
    assert secret.startswith("cwak_")
    key = ApiToken.objects.get(service_account=client.service_account, kind=TokenKind.API_KEY)
    assert token_verify(secret) is None  # a key is no management token
    assert token_verify(secret, kinds=frozenset({TokenKind.API_KEY})) == key
    assert run("revoke", "--workspace", "acme", str(client.id), str(key.id)) == "Key prod revoked.\n"
    assert token_verify(secret, kinds=frozenset({TokenKind.API_KEY})) is None
    assert run(
        "rename", "--workspace", "acme", str(collection.id), "Orders v2", "--description", "Take orders"
    ) == ("Renamed API collection Orders to Orders v2.\n")
    collection.refresh_from_db()
    assert (collection.name, collection.description, collection.slug) == (
        "Orders v2",
        "Take orders",
        "orders",
    )
    changed = run(
        "endpoint-change", "--workspace", "acme", str(collection.id), str(endpoint.id),
        "put", "/orders/{id}/lines", str(place["recipe"].id), "--timeout", "10",
    )  # fmt: skip
    assert changed.startswith("Changed PUT /orders/{id}/lines")
    endpoint.refresh_from_db()
    # Every field is given again, as when adding: what is left out takes its default.
    assert (endpoint.method, endpoint.path, endpoint.timeout_seconds, endpoint.headers) == (
        "PUT",
        "/orders/{id}/lines",
        10,
        [],
    )
    run("endpoint-remove", "--workspace", "acme", str(collection.id), str(endpoint.id))
    run("delete", "--workspace", "acme", str(collection.id))
    assert not ApiCollection.objects.exists()


def test_bad_input_is_one_line_and_changes_nothing(place: dict[str, Any]) -> None:
    with pytest.raises(CommandError, match="slug"):
        run("create", "--workspace", "acme", str(place["project"].id), "Orders", "Not A Slug")
    run("create", "--workspace", "acme", str(place["project"].id), "Orders", "orders")
    collection = ApiCollection.objects.get()
    with pytest.raises(CommandError, match="request-schema"):
        run("endpoint-add", "--workspace", "acme", str(collection.id), "POST", "/x", str(place["recipe"].id),
            "--request-schema", "{not json")  # fmt: skip
    with pytest.raises(CommandError, match="path"):
        run("endpoint-add", "--workspace", "acme", str(collection.id), "POST", "x", str(place["recipe"].id))
    with pytest.raises(CommandError, match="allowed_sources"):
        run("client-create", "--workspace", "acme", "Shop", "--source", "somewhere")
    with pytest.raises(CommandError, match="not found"):
        run("delete", "--workspace", "acme", "00000000-0000-0000-0000-000000000000")
    with pytest.raises(CommandError, match="name"):
        run("rename", "--workspace", "acme", str(collection.id), " ")
    run("endpoint-add", "--workspace", "acme", str(collection.id), "POST", "/x", str(place["recipe"].id))
    endpoint = ApiEndpoint.objects.get()
    with pytest.raises(CommandError, match="GET endpoint takes no body"):
        run("endpoint-change", "--workspace", "acme", str(collection.id), str(endpoint.id), "GET", "/x",
            str(place["recipe"].id), "--request-schema", '{"type": "object"}')  # fmt: skip
    assert ApiCollection.objects.get().name == "Orders"
    assert ApiEndpoint.objects.get().method == "POST"
    run("endpoint-remove", "--workspace", "acme", str(collection.id), str(endpoint.id))
    assert not ApiEndpoint.objects.exists()
    assert not ApiClient.objects.exists()
