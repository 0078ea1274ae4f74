"""The API platform's building pages: collections, endpoints, clients and keys, through their forms.

Each refusal is shown beside its field and changes nothing; each change is the service's (audited)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from causeway.apiplat import services
from causeway.apiplat.models import ApiClient, ApiCollection, ApiEndpoint
from causeway.audit.models import AuditEvent
from causeway.recipes.services import project_create, recipe_create
from causeway.runs.tests.trigger_helpers import people
from causeway.workspaces.models import ApiToken, TokenKind
from testkit.support import https_client

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def place() -> dict[str, Any]:
    found = people()
    admin, workspace = found["admin"], found["acme"]
    project = project_create(actor=admin, workspace=workspace, name="Shop")
    recipe = recipe_create(
        actor=admin,
        workspace=workspace,
        project=project,
        name="Answer",
        definition={"trigger": {"type": "api_endpoint"}, "steps": []},
    )
    page = https_client()
    page.force_login(admin)
    return {**found, "project": project, "recipe": recipe, "page": page}


def test_a_collection_is_made_renamed_and_deleted_through_its_pages(place: dict[str, Any]) -> None:
    page, workspace = place["page"], place["acme"]
    project_id = str(place["project"].id)
    new = f"/w/{workspace.slug}/apis/new"
    refused = page.post(new, {"project_id": project_id, "name": "Shop", "slug": "No!"})
    assert refused.status_code == 400
    assert "lower-case letters" in refused.content.decode()
    assert not ApiCollection.objects.filter(workspace=workspace).exists()
    made = page.post(
        f"/w/{workspace.slug}/apis/new",
        {"project_id": str(place["project"].id), "name": "Shop", "slug": "shop", "description": "orders"},
    )
    collection = ApiCollection.objects.get(workspace=workspace, slug="shop")
    assert made.status_code == 302
    assert made["Location"] == f"/w/{workspace.slug}/apis/{collection.pk}"
    shown = page.get(f"/w/{workspace.slug}/apis/{collection.pk}")
    assert 'id="endpoint-form"' in shown.content.decode()
    assert 'data-confirm="Delete this collection' in shown.content.decode()
    renamed = page.post(
        f"/w/{workspace.slug}/apis/{collection.pk}/edit", {"name": "Shop API", "description": "all orders"}
    )
    assert renamed.status_code == 302
    collection.refresh_from_db()
    assert (collection.name, collection.description, collection.slug) == ("Shop API", "all orders", "shop")
    event = AuditEvent.objects.filter(action="api_collection.changed").get()
    assert event.details == {"changed": ["description", "name"]}
    assert page.post(f"/w/{workspace.slug}/apis/{collection.pk}/delete").status_code == 302
    assert not ApiCollection.objects.filter(pk=collection.pk).exists()


def test_an_endpoint_is_added_changed_and_removed_through_the_collections_page(place: dict[str, Any]) -> None:
    page, workspace, admin = place["page"], place["acme"], place["admin"]
    collection = services.collection_create(
        actor=admin, workspace=workspace, project=place["project"].id, name="Shop", slug="shop"
    )
    url = f"/w/{workspace.slug}/apis/{collection.pk}"
    form = {
        "method": "POST",
        "path": "/orders/{order_id}",
        "recipe_id": str(place["recipe"].id),
        "request_schema": "{not json",
        "query_parameters": "note, gift",
        "headers": "X-Channel",
        "timeout_seconds": "10",
        "quota_per_day": "500",
    }
    refused = page.post(f"{url}/endpoints", form)
    assert refused.status_code == 400
    assert "not JSON" in refused.content.decode()
    for bad, named in (({"path": "/_jobs/x"}, "a path such as"), ({"timeout_seconds": "abc"}, "from 1 to")):
        answer = page.post(f"{url}/endpoints", {**form, "request_schema": "", **bad})
        assert answer.status_code == 400
        assert named in answer.content.decode()
    assert not ApiEndpoint.objects.filter(collection=collection).exists()
    added = page.post(f"{url}/endpoints", {**form, "request_schema": json.dumps({"type": "object"})})
    assert added.status_code == 302
    endpoint = ApiEndpoint.objects.get(collection=collection)
    assert (endpoint.query_parameters, endpoint.headers, endpoint.quota_per_day) == (
        ["note", "gift"],
        ["x-channel"],
        500,
    )
    # The same method and path again: refused for what is stored.
    assert page.post(f"{url}/endpoints", {**form, "request_schema": ""}).status_code == 409
    prefix = f"e{endpoint.pk.hex[:8]}"
    changed = page.post(
        f"{url}/endpoints/{endpoint.pk}/edit",
        {f"{prefix}-{key}": value for key, value in {**form, "request_schema": "", "method": "PUT"}.items()},
    )
    assert changed.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.method, endpoint.request_schema) == ("PUT", None)
    event = AuditEvent.objects.filter(action="api_endpoint.changed").get()
    assert event.details["changed"] == ["method", "request_schema"]
    assert page.post(f"{url}/endpoints/{endpoint.pk}/delete").status_code == 302
    assert not ApiEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_a_client_is_made_with_a_key_shown_once_changed_given_a_key_and_its_key_revoked(
    place: dict[str, Any],
) -> None:
    page, workspace, admin = place["page"], place["acme"], place["admin"]
    collection = services.collection_create(
        actor=admin, workspace=workspace, project=place["project"].id, name="Shop", slug="shop"
    )
    url = f"/w/{workspace.slug}/api-clients"
    form = {
        "name": "Shop front",
        "collection_ids": [str(collection.pk)],
        "allowed_sources": "10.0.0.0/8\n192.0.2.7",
        "key_name": "prod",
        "expires_in_days": "30",
    }
    refused = page.post(f"{url}/new", {**form, "allowed_sources": "nowhere"})
    assert refused.status_code == 400
    assert "is not an address or network" in refused.content.decode()
    no_key = page.post(f"{url}/new", {**form, "expires_in_days": "0"})
    assert no_key.status_code == 400
    assert not ApiClient.objects.filter(workspace=workspace).exists()
    made = page.post(f"{url}/new", form)
    assert made.status_code == 200
    client = ApiClient.objects.get(workspace=workspace)
    key = ApiToken.objects.get(service_account=client.service_account, kind=TokenKind.API_KEY)
    shown = made.content.decode()
    secret = shown.split('id="key-secret">', 1)[1].split("<", 1)[0]
    assert secret.startswith(f"cwak_{key.prefix}_")
    assert client.allowed_sources == ["10.0.0.0/8", "192.0.2.7/32"]
    assert list(client.collections.all()) == [collection]
    assert secret not in page.get(url).content.decode()
    prefix = f"c{client.pk.hex[:8]}"
    edit = {f"{prefix}-allowed_sources": "", f"{prefix}-rate_per_second": "5"}
    changed = page.post(f"{url}/{client.pk}/edit", edit)
    assert changed.status_code == 302
    client.refresh_from_db()
    assert (client.allowed_sources, client.rate_per_second, list(client.collections.all())) == ([], 5, [])
    second = page.post(
        f"{url}/{client.pk}/keys",
        {f"k{client.pk.hex[:8]}-name": "second", f"k{client.pk.hex[:8]}-expires_in_days": "7"},
    )
    assert second.status_code == 200
    assert 'id="key-secret">cwak_' in second.content.decode()
    assert page.post(f"{url}/{client.pk}/keys/{key.pk}/revoke").status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
