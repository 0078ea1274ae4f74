"""The webhook and trigger API: editors get the URL and rotate the secret (shown once); readers see state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from causeway.audit.models import AuditEvent
from causeway.runs.models import WebhookEndpoint
from causeway.runs.tests.trigger_helpers import people, started_recipe
from causeway.workspaces.tests.helpers import bearer, fast_hashing  # noqa: F401
from testkit.support import https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

API = "/api/v1"


@pytest.fixture
def hooked() -> dict[str, Any]:
    found = people()
    recipe = started_recipe(found["admin"], found["acme"], {"type": "webhook"})
    return {**found, "recipe": recipe, "endpoint": WebhookEndpoint.objects.get(recipe=recipe)}


def caller(user: Any) -> Any:
    return https_client(**bearer(user))


def path(hooked: dict[str, Any], suffix: str, workspace: str = "acme") -> str:
    return f"{API}/workspaces/{hooked[workspace].id}/recipes/{hooked['recipe'].id}/{suffix}"


def test_webhook_api_gives_editors_the_url_and_never_the_secret(hooked: dict[str, Any]) -> None:
    response = caller(hooked["admin"]).get(path(hooked, "webhook"))
    assert response.status_code == 200
    body = response.json()
    assert body["url"].endswith(f"/hooks/{hooked['endpoint'].token}")
    assert body["active"] is True and body["trigger_is_webhook"] is True
    assert body["signature_header"] == "X-Causeway-Signature"
    assert "signing_secret" not in body
    assert hooked["endpoint"].signing_secret not in response.content.decode()


def test_webhook_api_rotate_returns_the_secret_once(hooked: dict[str, Any]) -> None:
    analyst = caller(hooked["analyst"])
    rotated = analyst.post(path(hooked, "webhook/rotate"))
    assert rotated.status_code == 200
    secret = rotated.json()["signing_secret"]
    assert secret == WebhookEndpoint.objects.get(pk=hooked["endpoint"].pk).signing_secret
    assert secret not in analyst.get(path(hooked, "webhook")).content.decode()
    [event] = AuditEvent.objects.filter(action="webhook.secret_rotated")
    assert secret not in json.dumps(event.details)


def test_webhook_api_refuses_readers_and_outsiders(hooked: dict[str, Any]) -> None:
    operator = caller(hooked["operator"])
    for response in (operator.get(path(hooked, "webhook")), operator.post(path(hooked, "webhook/rotate"))):
        assert response.status_code == 403
        assert response.json()["permission"] == "recipe:edit"
    outsider = caller(hooked["outsider"])
    assert outsider.get(path(hooked, "webhook")).status_code == 404
    assert outsider.get(path(hooked, "webhook", workspace="other")).status_code == 404
    assert outsider.post(path(hooked, "webhook/rotate", workspace="other")).status_code == 404
    assert https_client().get(path(hooked, "webhook")).status_code == 401
    assert AuditEvent.objects.filter(action="webhook.secret_rotated").count() == 0


def test_trigger_api_shows_readers_the_state_of_the_trigger(hooked: dict[str, Any]) -> None:
    response = caller(hooked["operator"]).get(path(hooked, "trigger"))
    assert response.status_code == 200
    assert response.json()["trigger_type"] == "webhook"
    assert response.json()["last_error"] is None
    assert caller(hooked["outsider"]).get(path(hooked, "trigger", workspace="other")).status_code == 404
