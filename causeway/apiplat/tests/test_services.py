"""Building the API platform: who may bind a recipe to an endpoint, what a recipe or project an API uses
answers when deleted (page and API), and how limits count a refused call."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from causeway.access.errors import Forbidden
from causeway.apiplat import calls, selectors, services
from causeway.apiplat.limits import limits_check
from causeway.apiplat.models import ApiCall, ApiEndpoint, ApiRefusals
from causeway.audit.models import AuditEvent
from causeway.audit.refusals import counts_forget_all
from causeway.recipes.models import Project, Recipe
from causeway.recipes.services import project_create, recipe_create
from causeway.runs.tasks import purge_job_history
from causeway.runs.tests.trigger_helpers import people
from causeway.workspaces.tests.helpers import bearer, fast_hashing  # noqa: F401
from testkit.personas import builder
from testkit.support import https_client, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

API_TRIGGER = {"trigger": {"type": "api_endpoint"}, "steps": []}


@pytest.fixture
def place() -> dict[str, Any]:
    found = people()
    admin, workspace = found["admin"], found["acme"]
    project = project_create(actor=admin, workspace=workspace, name="Orders")
    recipe = recipe_create(
        actor=admin, workspace=workspace, project=project, name="Take an order", definition=API_TRIGGER
    )
    collection = services.collection_create(
        actor=admin, workspace=workspace, project=project.id, name="Orders", slug="orders"
    )
    return {**found, "project": project, "recipe": recipe, "collection": collection}


def test_binding_a_recipe_to_an_endpoint_needs_the_permission_to_change_the_recipe(
    place: dict[str, Any],
) -> None:
    # May change the project (and so its collections) and read its recipes, but not change them.
    reader = builder(
        place["acme"],
        make_user("binder@example.com"),
        perms=["project:view", "project:edit", "folder:view", "recipe:view"],
        role_name="Project editor",
    ).user
    with pytest.raises(Forbidden):
        services.endpoint_create(
            actor=reader, collection=place["collection"], method="POST", path="/o", recipe=place["recipe"].id
        )
    assert not ApiEndpoint.objects.filter(collection=place["collection"]).exists()
    # With recipe:edit the same binding is made.
    editor = builder(
        place["acme"],
        make_user("editor@example.com"),
        perms=["project:view", "project:edit", "folder:view", "recipe:view", "recipe:edit"],
        role_name="Recipe editor",
    ).user
    made = services.endpoint_create(
        actor=editor, collection=place["collection"], method="POST", path="/o", recipe=place["recipe"].id
    )
    assert made.recipe_id == place["recipe"].id


def _api(user: Any, workspace: Any) -> Any:
    return https_client(**bearer(user)), f"/api/v1/workspaces/{workspace.id}"


def test_deleting_a_recipe_an_endpoint_runs_is_refused_409_naming_the_endpoint(place: dict[str, Any]) -> None:
    admin, workspace, recipe = place["admin"], place["acme"], place["recipe"]
    services.endpoint_create(
        actor=admin, collection=place["collection"], method="POST", path="/orders/{id}", recipe=recipe.id
    )
    http, base = _api(admin, workspace)
    answer = http.delete(f"{base}/recipes/{recipe.id}")
    assert answer.status_code == 409, answer.content
    assert "API endpoint POST /orders/{id}" in json.dumps(answer.json())
    page = https_client()
    page.force_login(admin)
    shown = page.post(f"/w/{workspace.slug}/recipes/{recipe.id}/delete")
    assert shown.status_code == 409
    assert "API endpoint POST /orders/{id}" in shown.content.decode()
    assert Recipe.objects.filter(pk=recipe.pk).exists()
    # Once the endpoint is removed, the recipe goes.
    endpoint = ApiEndpoint.objects.get(recipe=recipe)
    services.endpoint_delete(actor=admin, endpoint=endpoint)
    assert http.delete(f"{base}/recipes/{recipe.id}").status_code == 204


def test_deleting_a_project_that_publishes_a_collection_is_refused_409_naming_it(
    place: dict[str, Any],
) -> None:
    admin, workspace = place["admin"], place["acme"]
    project = project_create(actor=admin, workspace=workspace, name="Empty but published")
    services.collection_create(actor=admin, workspace=workspace, project=project.id, name="Bare", slug="bare")
    http, base = _api(admin, workspace)
    answer = http.delete(f"{base}/projects/{project.id}")
    assert answer.status_code == 409, answer.content
    assert "API collection Bare" in json.dumps(answer.json())
    page = https_client()
    page.force_login(admin)
    shown = page.post(f"/w/{workspace.slug}/projects/{project.id}/delete")
    assert shown.status_code == 409
    assert "API collection Bare" in shown.content.decode()
    assert Project.objects.filter(family=project.family).count() == 3


def _owner(name: str, *, rate: int | None = None, quota: int | None = None) -> Any:
    return SimpleNamespace(id=name, rate_per_second=rate, quota_per_day=quota)


def test_a_call_refused_for_one_limit_counts_against_no_other() -> None:
    counts_forget_all()
    now = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    endpoint = _owner("endpoint-1", quota=10)
    greedy, patient = _owner("client-greedy", quota=2), _owner("client-patient")
    verdicts = [limits_check(client=greedy, endpoint=endpoint, now=now) for _ in range(6)]
    assert [v.exceeded for v in verdicts] == [False, False, True, True, True, True]
    assert verdicts[2].headers["Retry-After"] == verdicts[2].headers["RateLimit-Reset"]
    # The greedy client's four refused calls left the endpoint's quota alone: eight more calls fit.
    others = [limits_check(client=patient, endpoint=endpoint, now=now) for _ in range(9)]
    assert [v.exceeded for v in others] == [False] * 8 + [True]
    assert others[7].headers["RateLimit-Remaining"] == "0"
    counts_forget_all()


def test_a_request_schema_is_compiled_once_per_endpoint_and_again_when_it_changes(
    place: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = services.endpoint_create(
        actor=place["admin"],
        collection=place["collection"],
        method="POST",
        path="/cached",
        recipe=place["recipe"].id,
        request_schema={"type": "object", "required": ["a"]},
    )
    compiled: list[Any] = []
    real = calls.validator

    def counting(schema: Any) -> Any:
        compiled.append(schema)
        return real(schema)

    monkeypatch.setattr(calls, "validator", counting)
    for _ in range(3):
        assert [e["field"] for e in calls._field_errors(endpoint, {})] == ["a"]
    assert len(compiled) == 1
    endpoint.request_schema = {"type": "object", "required": ["b"]}
    assert [e["field"] for e in calls._field_errors(endpoint, {})] == ["b"]
    assert len(compiled) == 2


def test_beats_daily_purge_forgets_api_calls_past_their_retention(
    place: dict[str, Any], settings: Any
) -> None:
    settings.API_CALL_RETENTION_DAYS = 30
    admin, workspace = place["admin"], place["acme"]
    endpoint = services.endpoint_create(
        actor=admin, collection=place["collection"], method="GET", path="/kept", recipe=place["recipe"].id
    )
    client = services.client_create(actor=admin, workspace=workspace, name="Caller")
    now = timezone.now()
    at = {"workspace": workspace, "endpoint": endpoint, "client": client, "environment": "dev"}
    old = ApiCall.objects.create(status=200, latency_ms=1.0, at=now - timedelta(days=31), **at)
    kept = ApiCall.objects.create(status=200, latency_ms=1.0, at=now - timedelta(days=29), **at)
    ApiRefusals.objects.create(day=(now - timedelta(days=32)).date(), count=7, **at)
    recent = ApiRefusals.objects.create(day=now.date(), count=2, **at)
    purged = purge_job_history()
    assert purged["api_calls"] == 2
    assert list(ApiCall.objects.filter(endpoint=endpoint)) == [kept]
    assert list(ApiRefusals.objects.filter(endpoint=endpoint)) == [recent]
    assert not ApiCall.objects.filter(pk=old.pk).exists()


def _queries(action: Any, *, on: str = "") -> int:
    """How many queries `action` makes (only those naming `on`, such as a table's prefix)."""
    with CaptureQueriesContext(connection) as captured:
        action()
    return sum(1 for query in captured.captured_queries if on in query["sql"])


def _grow(place: dict[str, Any], count: int, tag: str) -> list[str]:
    """`count` collections, each with an endpoint that a client of its own called, and refusals; their ids."""
    admin, workspace = place["admin"], place["acme"]
    ids = []
    for n in range(count):
        name = f"C{tag}{n}"
        made = services.collection_create(
            actor=admin, workspace=workspace, project=place["project"].id, name=name, slug=name.lower()
        )
        endpoint = services.endpoint_create(
            actor=admin, collection=made, method="GET", path="/x", recipe=place["recipe"].id
        )
        client = services.client_create(
            actor=admin, workspace=workspace, name=f"Client {tag}{n}", collection_ids=[str(made.id)]
        )
        at = {"workspace": workspace, "endpoint": endpoint, "client": client, "environment": "dev"}
        ApiCall.objects.create(status=200, latency_ms=1.0, at=timezone.now(), **at)
        ApiRefusals.objects.create(day=timezone.now().date(), count=1, **at)
        ids.append(str(made.id))
    return ids


def _usage_of(place: dict[str, Any], count: int, tag: str) -> Any:
    """A collection with `count` endpoints, each called by `count` clients."""
    admin, workspace = place["admin"], place["acme"]
    made = services.collection_create(
        actor=admin, workspace=workspace, project=place["project"].id, name=f"U{tag}", slug=f"u{tag}"
    )
    clients = [
        services.client_create(actor=admin, workspace=workspace, name=f"Caller {tag}{n}")
        for n in range(count)
    ]
    for n in range(count):
        endpoint = services.endpoint_create(
            actor=admin, collection=made, method="GET", path=f"/e{n}", recipe=place["recipe"].id
        )
        for client in clients:
            at = {"workspace": workspace, "endpoint": endpoint, "client": client, "environment": "dev"}
            ApiCall.objects.create(status=200, latency_ms=1.0, at=timezone.now(), **at)
            ApiRefusals.objects.create(day=timezone.now().date(), count=1, **at)
    return made


def test_listing_collections_choosing_them_and_usage_take_as_many_queries_for_five_as_for_one(
    place: dict[str, Any],
) -> None:
    admin, workspace = place["admin"], place["acme"]
    http = https_client(**bearer(admin))

    def cli() -> None:
        call_command("apis", "list", "--workspace", workspace.slug, stdout=io.StringIO())

    def api() -> None:
        assert http.get(f"/api/v1/workspaces/{workspace.id}/api-collections").status_code == 200

    def choose(ids: list[str]) -> int:
        client = services.client_create(actor=admin, workspace=workspace, name=f"Chooser {len(ids)}")
        return _queries(lambda: services.client_update(actor=admin, client=client, collection_ids=ids))

    one = _grow(place, 1, "a")
    # The API's own bookkeeping (a token's last use, a periodic check) varies from call to call: only
    # the queries of the API platform's and the recipes' tables are compared.
    listed = (_queries(cli), _queries(api, on="apiplat_"), _queries(api, on="recipes_"))
    five = _grow(place, 5, "b")
    assert (_queries(cli), _queries(api, on="apiplat_"), _queries(api, on="recipes_")) == listed
    assert choose(five) == choose(one)
    small, large = _usage_of(place, 1, "s"), _usage_of(place, 5, "l")
    assert len(selectors.collection_usage(collection=large)) == 25
    assert _queries(lambda: selectors.collection_usage(collection=large)) == _queries(
        lambda: selectors.collection_usage(collection=small)
    )


def test_the_api_renames_a_collection_and_changes_an_endpoint_as_the_pages_do(place: dict[str, Any]) -> None:
    admin, workspace, collection, recipe = place["admin"], place["acme"], place["collection"], place["recipe"]
    http, base = _api(admin, workspace)
    url = f"{base}/api-collections/{collection.id}"
    renamed = http.patch(url, {"name": "Orders v2"}, content_type="application/json")
    assert renamed.status_code == 200, renamed.content
    assert (renamed.json()["name"], renamed.json()["slug"]) == ("Orders v2", "orders")
    described = http.patch(url, {"description": "Take and track orders"}, content_type="application/json")
    assert (described.json()["name"], described.json()["description"]) == (
        "Orders v2",
        "Take and track orders",
    )
    # The base path is not a field: changing it is refused, not ignored.
    assert http.patch(url, {"slug": "elsewhere"}, content_type="application/json").status_code == 422
    services.collection_create(
        actor=admin, workspace=workspace, project=place["project"].id, name="B", slug="b"
    )
    taken = http.patch(url, {"name": "B"}, content_type="application/json")
    assert taken.status_code == 409, taken.content

    first = services.endpoint_create(
        actor=admin, collection=collection, method="POST", path="/o", recipe=recipe.id
    )
    services.endpoint_create(actor=admin, collection=collection, method="GET", path="/o", recipe=recipe.id)
    endpoint_url = f"{url}/endpoints/{first.id}"
    body = {
        "method": "PUT",
        "path": "/orders/{order_id}",
        "recipe_id": str(recipe.id),
        "request_schema": {"type": "object", "required": ["qty"]},
        "timeout_seconds": 10,
    }
    changed = http.put(endpoint_url, body, content_type="application/json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["method"], changed.json()["path"], changed.json()["timeout_seconds"]) == (
        "PUT",
        "/orders/{order_id}",
        10,
    )
    stored = ApiEndpoint.objects.get(pk=first.pk)
    assert (stored.method, stored.path, stored.request_schema) == (
        "PUT",
        "/orders/{order_id}",
        body["request_schema"],
    )
    # Another endpoint's method and path: 409, and the endpoint stays as it was.
    clash = http.put(
        endpoint_url,
        {**body, "method": "GET", "path": "/o", "request_schema": None},
        content_type="application/json",
    )
    assert clash.status_code == 409, clash.content
    # A recipe that is not the collection's project's: 400 naming the field.
    other_project = project_create(actor=admin, workspace=workspace, name="Elsewhere")
    other = recipe_create(
        actor=admin, workspace=workspace, project=other_project, name="Other", definition=API_TRIGGER
    )
    wrong = http.put(endpoint_url, {**body, "recipe_id": str(other.id)}, content_type="application/json")
    assert wrong.status_code == 400 and "recipe_id" in json.dumps(wrong.json())
    assert ApiEndpoint.objects.get(pk=first.pk).path == "/orders/{order_id}"
    # Another workspace's id answers as if it did not exist.
    missing = http.put(f"{url}/endpoints/{uuid.uuid4()}", body, content_type="application/json")
    assert missing.status_code == 404
    assert list(
        AuditEvent.objects.filter(action__in=["api_collection.changed", "api_endpoint.changed"])
        .order_by("occurred_at", "chain", "seq")
        .values_list("action", flat=True)
    ) == ["api_collection.changed", "api_collection.changed", "api_endpoint.changed"]
