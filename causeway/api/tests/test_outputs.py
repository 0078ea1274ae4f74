"""API answers are built by their output schemas from the objects themselves; no answer carries a
secret's value (rule 13), whichever way it is encoded."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote

import pytest

from causeway.access import services as access_services
from causeway.api.api import api
from causeway.apiplat import services as apiplat
from causeway.connections import services as connections
from causeway.connections.oauth_profiles import oauth_profile_create
from causeway.recipes import services as recipes
from causeway.recipes.secrets import secret_write
from causeway.runs.tests.factories import make_job, make_step
from causeway.vault.masking import registry
from causeway.workspaces.tests.helpers import bearer, fast_hashing  # noqa: F401
from testkit.factories import LookupTableFactory
from testkit.support import https_client, make_user, make_workspace

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

CANARY = "sk_live_outputs-canary-5Xq9"
MANUAL = {
    "trigger": {"type": "manual"},
    "steps": [{"id": "get", "type": "http", "method": "GET", "url": "https://api.example.com/x"}],
}


@pytest.fixture(autouse=True)
def _empty_mask_registry() -> Any:
    registry.clear()
    yield
    registry.clear()


def _encodings(value: str) -> list[str]:
    return [value, quote(value, safe=""), base64.b64encode(value.encode()).decode(), json.dumps(value)[1:-1]]


def _get_operations() -> list[str]:
    document = api.get_openapi_schema()
    return [path for path, operations in document["paths"].items() if "get" in operations]


def test_rule_13_no_api_answer_carries_a_canary_secret() -> None:
    admin = make_user("admin@example.com", staff=True)
    acme = make_workspace("Acme", members={admin: "admin"})
    secret_write(actor=admin, workspace=acme, name="CANARY", value=CANARY, allowed_hosts=["api.example.com"])
    project = recipes.project_create(actor=admin, workspace=acme, name="Billing")
    recipe = recipes.recipe_create(
        actor=admin, workspace=acme, project=project, name="Sync", definition=MANUAL
    )
    hook = recipes.recipe_create(
        actor=admin, workspace=acme, project=project, name="Hook", definition={"trigger": {"type": "webhook"}}
    )
    table = LookupTableFactory.create(
        actor=admin,
        project=project,
        name="Keys",
        columns=[{"name": "k", "type": "text"}, {"name": "v", "type": "text"}],
        key_column="k",
    )
    group = access_services.group_create(actor=admin, workspace=acme, name="Ops")
    # Job history written without masking, as a worker that had not yet learnt the secret would have.
    job = make_job(recipe, by=admin, status="failed", error=f"refused: {CANARY}", payload={"token": CANARY})
    make_step(job, "get", 0, input={"authorization": CANARY}, output={"echo": CANARY}, error=CANARY)
    connections.connector_enable(actor=admin, workspace=acme, key="http", enabled=True)
    mine = connections.connection_create(
        actor=admin,
        workspace=acme,
        kind="personal",
        connector_key="http",
        name="Mine",
        auth_method="bearer",
        settings={"base_url": "https://api.example.com"},
        credentials={"token": CANARY},
    )
    profile = oauth_profile_create(
        actor=admin,
        workspace=acme,
        connector_key="oauth2",
        display_name="IdP",
        client_id="cid",
        client_secret=CANARY,
        authorize_url="https://id.example.com/authorize",
        token_url="https://id.example.com/token",
    )
    answering = recipes.recipe_create(
        actor=admin,
        workspace=acme,
        project=project,
        name="Answer",
        definition={"trigger": {"type": "api_endpoint"}},
    )
    collection = apiplat.collection_create(
        actor=admin, workspace=acme, project=project.id, name="API", slug="api"
    )
    apiplat.endpoint_create(actor=admin, collection=collection, method="GET", path="/", recipe=answering.id)
    api_client = apiplat.client_create(
        actor=admin, workspace=acme, name="Caller", collection_ids=[str(collection.id)]
    )
    apiplat.client_key_issue(actor=admin, client=api_client, name="k", expires_in_days=1)
    ids = {
        "collection_id": collection.id,
        "client_id": api_client.id,
        "connection_id": mine.id,
        "profile_id": profile.id,
        "connector_key": "http",
        "workspace_id": acme.id,
        "recipe_id": recipe.id,
        "job_id": job.id,
        "group_id": group.id,
        "table_id": table.id,
        "project_id": project.id,
        "number": 1,
    }
    query = {
        "/workspaces/{workspace_id}/recipes/{recipe_id}/explain": "?permission=recipe:view",
        "/workspaces/{workspace_id}/recipes/{recipe_id}/diff": "?from=1&to=1",
    }
    client = https_client(**bearer(admin))
    answers: dict[str, Any] = {}
    for path in _get_operations():
        path = path.removeprefix("/api/v1")
        wanted = re.findall(r"{(\w+)}", path)
        missing = [name for name in wanted if name not in ids]
        assert not missing, f"{path}: give this test an object for {missing}"
        url = "/api/v1" + path.format(**ids) + query.get(path, "")
        if "{recipe_id}/webhook" in path or "{recipe_id}/trigger" in path:
            url = url.replace(str(recipe.id), str(hook.id))
        answers[url] = client.get(url)

    ok = [url for url, answer in answers.items() if answer.status_code == 200]
    assert len(ok) == len(answers), {url: a.status_code for url, a in answers.items() if url not in ok}
    for url, answer in answers.items():
        body = answer.content.decode()
        for shape in _encodings(CANARY):
            assert shape not in body, f"{url} carries the secret"
    job_answer = answers[f"/api/v1/workspaces/{acme.id}/jobs/{job.id}"].json()
    assert job_answer["error"] == "refused: [masked:CANARY]"
    assert job_answer["steps"][0]["output"] == {"echo": "[masked:CANARY]"}
