"""Calls to a collection's endpoints over real HTTPS, against a real `causeway web` and `causeway worker`."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from causeway.apiplat import services
from causeway.apiplat.models import ApiCall
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.servers import Answer, Received, http_server
from causeway.recipes.models import Project
from causeway.recipes.services import project_create, recipe_create
from causeway.runs.history import run_by
from causeway.runs.models import Job
from causeway.runs.tests.trigger_helpers import people
from causeway.runs.triggers import recipe_start
from causeway.workspaces.models import ApiToken
from testkit.support import process_env, start_worker

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

ORDER_SCHEMA = {
    "type": "object",
    "required": ["sku", "quantity"],
    "properties": {
        "sku": {"type": "string", "minLength": 3},
        "quantity": {"type": "integer", "minimum": 1},
    },
}

ANSWER_STEPS = [
    {"id": "shape", "type": "map", "fields": {"total": "{{ trigger.body.quantity * 3 }}"}},
    {
        "id": "answer",
        "type": "respond",
        "status": "201",
        "headers": {"X-Order": "{{ trigger.path.shop }}"},
        "body": {
            "shop": "{{ trigger.path.shop }}",
            "sku": "{{ trigger.body.sku }}",
            "total": "{{ steps.shape.total }}",
            "channel": "{{ trigger.headers['x-channel'] }}",
            "note": "{{ trigger.query.note | default('') }}",
            "declared": "{{ trigger.query | length }}",
        },
    },
]


@pytest.fixture
def place(transactional_db: None) -> dict[str, Any]:
    return people()


def published(place: dict[str, Any], steps: list[dict[str, Any]], **endpoint: Any) -> dict[str, Any]:
    """A started recipe behind `POST /shops/{shop}/orders` of a new collection, and a client with a key."""
    admin, workspace = place["admin"], place["acme"]
    tag = uuid.uuid4().hex[:6]
    project = project_create(actor=admin, workspace=workspace, name=f"Orders {tag}")
    recipe = recipe_create(
        actor=admin,
        workspace=workspace,
        project=project,
        name="Take an order",
        definition={"trigger": {"type": "api_endpoint"}, "steps": steps},
    )
    recipe_start(actor=admin, recipe=recipe)
    collection = services.collection_create(
        actor=admin, workspace=workspace, project=project.id, name=f"Orders {tag}", slug=f"orders-{tag}"
    )
    found = services.endpoint_create(
        actor=admin,
        collection=collection,
        method="POST",
        path="/shops/{shop}/orders",
        recipe=recipe.id,
        request_schema=ORDER_SCHEMA,
        query_parameters=["note"],
        headers=["X-Channel"],
        **endpoint,
    )
    client = services.client_create(
        actor=admin, workspace=workspace, name=f"Shop front {tag}", collection_ids=[str(collection.id)]
    )
    key, secret = services.client_key_issue(actor=admin, client=client, name="prod", expires_in_days=30)
    base = f"/apis/{workspace.slug}/dev/{collection.slug}"
    return {
        "collection": collection,
        "endpoint": found,
        "client": client,
        "key": key,
        "secret": secret,
        "base": base,
        "recipe": recipe,
    }


def call(
    server: Any, path: str, secret: str | None, *, json: Any = None, method: str = "POST", **kwargs: Any
) -> httpx.Response:
    headers = {"X-Channel": "web", **kwargs.pop("headers", {})}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    with httpx.Client(base_url=server.url, verify=False, timeout=60) as http:  # noqa: S501  # nosec B501
        return http.request(method, path, json=json, headers=headers, **kwargs)


@pytest.fixture(scope="module")
def worker(
    tmp_path_factory: pytest.TempPathFactory, django_db_setup: Any, django_db_blocker: Any
) -> Iterator[Any]:
    """A real worker beside the web process: jobs past their caller's wait go on wherever they run."""
    with django_db_blocker.unblock():
        env = process_env()
    process = start_worker(env, Path(tmp_path_factory.mktemp("apiplat-worker")))
    yield process
    process.kill_group()


def test_a_valid_call_is_answered_with_the_recipes_respond_step(
    place: dict[str, Any], https_server: Any, worker: Any
) -> None:
    api = published(place, ANSWER_STEPS)
    answer = call(
        https_server,
        api["base"] + "/shops/north/orders",
        api["secret"],
        json={"sku": "ABC-1", "quantity": 4},
        params={"note": "gift"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json() == {
        "shop": "north",
        "sku": "ABC-1",
        "total": 12,
        "channel": "web",
        "note": "gift",
        "declared": 1,
    }
    assert answer.headers["X-Order"] == "north"
    job = Job.objects.get(pk=answer.headers["X-Causeway-Job"])
    assert job.trigger_type == "api_endpoint"
    # The job names the client whose call started it.
    assert job.run_by_service_account_id == api["client"].service_account_id
    assert run_by(job) == f"service account {api['client'].service_account.name}"
    recorded = ApiCall.objects.get(job=job)
    assert (recorded.status, recorded.client_id, recorded.environment) == (201, api["client"].id, "dev")


def test_a_body_that_breaks_the_schema_is_400_naming_each_field_and_starts_no_job(
    place: dict[str, Any], https_server: Any
) -> None:
    api = published(place, ANSWER_STEPS)
    before = Job.objects.count()
    answer = call(
        https_server, api["base"] + "/shops/north/orders", api["secret"], json={"sku": "A", "quantity": 0}
    )
    assert answer.status_code == 400, answer.text
    fields = {error["field"] for error in answer.json()["errors"]}
    assert fields == {"sku", "quantity"}
    unknown = call(
        https_server, api["base"] + "/shops/north/orders", api["secret"], json={"sku": "ABC", "quantity": 2},
        params={"notes": "typo"},
    )  # fmt: skip
    assert unknown.status_code == 400
    assert unknown.json()["errors"] == [
        {"field": "query.notes", "message": "not a query parameter of this endpoint"}
    ]
    missing = call(https_server, api["base"] + "/shops/north/orders", api["secret"], json={"quantity": 2})
    assert missing.status_code == 400
    assert [e["field"] for e in missing.json()["errors"]] == ["sku"]
    not_json = call(
        https_server,
        api["base"] + "/shops/north/orders",
        api["secret"],
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert not_json.status_code == 400
    assert Job.objects.count() == before


def test_a_deeply_nested_body_is_400_with_a_message_and_starts_no_job(
    place: dict[str, Any], https_server: Any
) -> None:
    api = published(place, ANSWER_STEPS)
    before = Job.objects.count()
    path = api["base"] + "/shops/north/orders"
    json_type = {"Content-Type": "application/json"}
    # Deeper than any parser walks, and deep enough to parse but past the platform's own bound.
    for depth in (100_000, 200):
        answer = call(
            https_server, path, api["secret"], content=b"[" * depth + b"]" * depth, headers=json_type
        )
        assert answer.status_code == 400, (depth, answer.text)
        assert answer.json()["errors"] == [{"field": "(body)", "message": "the body nests deeper than 64"}]
    assert Job.objects.count() == before


def test_a_client_without_access_and_unknown_paths_are_404_and_a_wrong_method_405(
    place: dict[str, Any], https_server: Any
) -> None:
    api = published(place, ANSWER_STEPS)
    other = published(place, ANSWER_STEPS)
    # Another collection's client, with a good key: the collection does not exist for it.
    refused = call(
        https_server, api["base"] + "/shops/north/orders", other["secret"], json={"sku": "ABC", "quantity": 1}
    )
    assert refused.status_code == 404, refused.text
    # The other workspace's name in the path, with this key.
    foreign = api["base"].replace(place["acme"].slug, place["other"].slug, 1)
    assert call(https_server, foreign + "/shops/n/orders", api["secret"], json={}).status_code == 404
    assert call(https_server, api["base"] + "/nowhere", api["secret"], json={}).status_code == 404
    assert call(https_server, api["base"] + "/shops/n/orders", api["secret"], method="GET").status_code == 405
    unknown_job = call(https_server, api["base"] + f"/_jobs/{uuid.uuid4()}", api["secret"], method="GET")
    assert unknown_job.status_code == 404
    assert call(https_server, api["base"].replace("/dev/", "/qa/") + "/x", api["secret"]).status_code == 404


def test_a_missing_expired_or_revoked_key_is_401_and_a_management_token_is_no_key(
    place: dict[str, Any], https_server: Any
) -> None:
    api = published(place, ANSWER_STEPS)
    path, good = api["base"] + "/shops/north/orders", {"sku": "ABC", "quantity": 1}
    assert call(https_server, path, None, json=good).status_code == 401
    assert call(https_server, path, "cwak_000000000000_forged", json=good).status_code == 401
    ApiToken.objects.filter(pk=api["key"].pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert call(https_server, path, api["secret"], json=good).status_code == 401
    _, second = services.client_key_issue(
        actor=place["admin"], client=api["client"], name="second", expires_in_days=1
    )
    assert call(https_server, path, second, json=good).status_code == 201
    live = services.client_keys(actor=place["admin"], client=api["client"]).get(
        revoked_at__isnull=True, expires_at__gt=timezone.now()
    )
    services.client_key_revoke(actor=place["admin"], client=api["client"], key=live)
    assert call(https_server, path, second, json=good).status_code == 401
    # An API key is no management token.
    with httpx.Client(base_url=https_server.url, verify=False, timeout=30) as http:  # noqa: S501  # nosec B501
        management = http.get(
            f"/api/v1/workspaces/{place['acme'].id}/jobs", headers={"Authorization": f"Bearer {second}"}
        )
    assert management.status_code == 401


def test_a_call_from_outside_the_clients_allow_list_is_403(place: dict[str, Any], https_server: Any) -> None:
    api = published(place, ANSWER_STEPS)
    services.client_update(actor=place["admin"], client=api["client"], allowed_sources=["10.9.0.0/16"])
    path, good = api["base"] + "/shops/north/orders", {"sku": "ABC", "quantity": 1}
    assert call(https_server, path, api["secret"], json=good).status_code == 403
    services.client_update(actor=place["admin"], client=api["client"], allowed_sources=["127.0.0.0/8"])
    assert call(https_server, path, api["secret"], json=good).status_code == 201


@pytest.fixture
def held() -> Iterator[tuple[Any, threading.Event]]:
    release = threading.Event()

    def answer(got: Received) -> Answer:
        release.wait(60)
        return Answer(body={"late": True})

    with http_server(answer) as server:
        yield server, release
        release.set()


def test_past_its_time_out_a_call_is_202_with_a_link_the_client_may_follow(
    place: dict[str, Any], https_server: Any, held: tuple[Any, threading.Event]
) -> None:
    slow, release = held
    outbound_hosts_set(actor=place["admin"], workspace=place["acme"], hosts=["127.0.0.1"])
    api = published(
        place,
        [{"id": "wait", "type": "http", "method": "POST", "url": slow.url + "/slow", "retries": 0}],
        timeout_seconds=1,
    )
    answer = call(
        https_server, api["base"] + "/shops/n/orders", api["secret"], json={"sku": "ABC", "quantity": 1}
    )
    assert answer.status_code == 202, answer.text
    link = answer.json()["url"]
    assert link == api["base"] + f"/_jobs/{answer.json()['job']}"
    followed = call(https_server, link, api["secret"], method="GET")
    assert followed.status_code == 200
    assert followed.json()["job"] == answer.json()["job"]
    other = published(place, ANSWER_STEPS)
    assert call(https_server, link, other["secret"], method="GET").status_code == 404
    release.set()


def test_each_environment_runs_its_own_copy_and_an_unstarted_copy_is_503(
    place: dict[str, Any], https_server: Any
) -> None:
    api = published(place, ANSWER_STEPS)
    prod = api["base"].replace("/dev/", "/prod/") + "/shops/north/orders"
    # Nothing was promoted to PROD: its copy of the recipe does not exist yet.
    answer = call(https_server, prod, api["secret"], json={"sku": "ABC", "quantity": 1})
    assert answer.status_code == 503, answer.text
    assert "PROD" in answer.json()["detail"]
    assert Project.objects.filter(family=api["collection"].project.family).count() == 3


def test_endpoints_refuse_recipes_of_other_triggers_bad_paths_and_bad_schemas(place: dict[str, Any]) -> None:
    api = published(place, ANSWER_STEPS)
    admin, workspace = place["admin"], place["acme"]
    manual = recipe_create(
        actor=admin,
        workspace=workspace,
        project=api["collection"].project,
        name="By hand",
        definition={"trigger": {"type": "manual"}, "steps": []},
    )
    with pytest.raises(ValidationError):
        services.endpoint_create(
            actor=admin, collection=api["collection"], method="POST", path="/hand", recipe=manual.id
        )
    for bad in (
        {"headers": ["Authorization"]},
        {"query_parameters": ["bad name"]},
        {"path": "no-slash"},
        {"path": "/_jobs/x"},
        {"path": "/a/{x}/{x}"},
        {"request_schema": {"type": 3}},
    ):
        arguments = {"method": "POST", "path": "/other", "recipe": api["recipe"].id, **bad}
        with pytest.raises(ValidationError):
            services.endpoint_create(actor=admin, collection=api["collection"], **arguments)
    with pytest.raises(ValidationError):
        services.endpoint_create(
            actor=admin,
            collection=api["collection"],
            method="POST",
            path="/ref",
            recipe=api["recipe"].id,
            request_schema={"$ref": "http://127.0.0.1:9/elsewhere.json"},
        )
