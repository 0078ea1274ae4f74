"""The recipe's Webhook page: its editors see the URL and rotate the signing secret, shown this once."""

from __future__ import annotations

from typing import Any

import pytest

from causeway.audit.models import AuditEvent
from causeway.runs.models import WebhookEndpoint
from causeway.runs.tests.trigger_helpers import people, started_recipe
from causeway.workspaces.tests.helpers import fast_hashing, sign_in  # noqa: F401
from testkit.support import https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture
def hooked() -> dict[str, Any]:
    found = people()
    recipe = started_recipe(found["admin"], found["acme"], {"type": "webhook"})
    return {**found, "recipe": recipe, "endpoint": WebhookEndpoint.objects.get(recipe=recipe)}


def page(hooked: dict[str, Any], suffix: str = "") -> str:
    return f"/w/acme/recipes/{hooked['recipe'].id}/webhook{suffix}"


def test_webhook_page_shows_the_url_to_editors_and_never_the_secret(hooked: dict[str, Any]) -> None:
    for who in ("admin", "analyst"):
        response = sign_in(https_client(), hooked[who]).get(page(hooked))
        assert response.status_code == 200
        text = response.content.decode()
        assert f"/hooks/{hooked['endpoint'].token}" in text
        assert hooked["endpoint"].signing_secret not in text
        assert response["Cache-Control"].startswith("max-age=0")


def test_webhook_page_refuses_readers_outsiders_and_anonymous(hooked: dict[str, Any]) -> None:
    token = hooked["endpoint"].token
    operator = sign_in(https_client(), hooked["operator"])
    for response in (operator.get(page(hooked)), operator.post(page(hooked, "/rotate"))):
        assert response.status_code == 403
        assert token not in response.content.decode()
    assert b"recipe:edit" in operator.get(page(hooked)).content
    outsider = sign_in(https_client(), hooked["outsider"])
    assert outsider.get(page(hooked)).status_code == 404
    assert outsider.get(f"/w/other/recipes/{hooked['recipe'].id}/webhook").status_code == 404
    anonymous = https_client().get(page(hooked))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login")
    assert AuditEvent.objects.filter(action="webhook.secret_rotated").count() == 0


def test_webhook_rotation_shows_the_new_secret_once_and_is_audited(hooked: dict[str, Any]) -> None:
    admin = sign_in(https_client(), hooked["admin"])
    old = hooked["endpoint"].signing_secret
    response = admin.post(page(hooked, "/rotate"))
    assert response.status_code == 200
    new = WebhookEndpoint.objects.get(pk=hooked["endpoint"].pk).signing_secret
    assert new != old
    assert new in response.content.decode()
    assert new not in admin.get(page(hooked)).content.decode()
    [event] = AuditEvent.objects.filter(action="webhook.secret_rotated")
    assert event.workspace_id == hooked["acme"].id
    assert event.actor_label == "admin@example.com"
    assert new not in str(event.details) and old not in str(event.details)


def test_webhook_page_of_a_recipe_without_a_webhook_trigger_says_so(hooked: dict[str, Any]) -> None:
    other = started_recipe(hooked["admin"], hooked["acme"], {"type": "manual"}, name="By hand")
    response = sign_in(https_client(), hooked["admin"]).get(f"/w/acme/recipes/{other.id}/webhook")
    assert response.status_code == 200
    assert b'id="not-webhook"' in response.content


def test_recipe_page_links_editors_to_the_webhook_page(hooked: dict[str, Any]) -> None:
    recipe_page = f"/w/acme/recipes/{hooked['recipe'].id}"
    admin = sign_in(https_client(), hooked["admin"]).get(recipe_page)
    assert admin.status_code == 200
    assert page(hooked).encode() in admin.content
    operator = sign_in(https_client(), hooked["operator"]).get(recipe_page)
    assert operator.status_code == 200
    assert page(hooked).encode() not in operator.content
