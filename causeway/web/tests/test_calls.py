"""Machine calls skip the page middleware, and their answers keep every security header a page's carry."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.contrib.sessions.models import Session

from causeway.audit.models import AuditEvent
from causeway.runs import webhooks
from causeway.runs.models import Job, WebhookEndpoint
from causeway.runs.tests.trigger_helpers import people, started_recipe
from causeway.workspaces.tests.helpers import fast_hashing, sign_in  # noqa: F401
from testkit.support import https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

SECURITY_HEADERS = (
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "X-Frame-Options",
    "Content-Security-Policy",
)


@pytest.fixture
def hooked() -> dict[str, Any]:
    found = people()
    recipe = started_recipe(found["admin"], found["acme"], {"type": "webhook"})
    return {**found, "endpoint": WebhookEndpoint.objects.get(recipe=recipe)}


def signed(endpoint: WebhookEndpoint, body: bytes) -> dict[str, str]:
    return {"HTTP_X_CAUSEWAY_SIGNATURE": webhooks.sign(endpoint.signing_secret, int(time.time()), body)}


def _policy(value: str) -> set[str]:
    return {part.strip() for part in value.split(";")}


def test_call_answers_carry_the_security_headers_of_a_page(hooked: dict[str, Any]) -> None:
    client = https_client()
    page = client.get("/login")
    endpoint = hooked["endpoint"]
    body = b'{"order": 1}'
    answers = [
        client.post(
            f"/hooks/{endpoint.token}", body, content_type="application/json", **signed(endpoint, body)
        ),
        client.post(f"/hooks/{endpoint.token}", body, content_type="application/json"),
        client.post("/hooks/" + "C" * 43, body, content_type="application/json"),
        client.post("/hooks/connector/" + "C" * 43, body, content_type="application/json"),
    ]
    assert [answer.status_code for answer in answers] == [202, 401, 404, 404]
    for answer in answers:
        for name in SECURITY_HEADERS[:-1]:
            assert answer[name] == page[name], name
        assert _policy(answer["Content-Security-Policy"]) == _policy(page["Content-Security-Policy"])
        assert len(answer["X-Request-ID"]) == 32
        assert answer["Cache-Control"].startswith("max-age=0")


def test_a_refused_call_is_audited_with_its_request_id(hooked: dict[str, Any]) -> None:
    answer = https_client().post(f"/hooks/{hooked['endpoint'].token}", b"{}", content_type="application/json")
    assert answer.status_code == 401
    event = AuditEvent.objects.get(action="webhook.refused")
    assert event.request_id == answer["X-Request-ID"]


def test_a_call_with_a_session_cookie_neither_reads_nor_renews_the_session(hooked: dict[str, Any]) -> None:
    client = sign_in(https_client(), hooked["admin"])
    before = Session.objects.get().expire_date
    endpoint = hooked["endpoint"]
    body = json.dumps({"order": 2}).encode()
    answer = client.post(
        f"/hooks/{endpoint.token}", body, content_type="application/json", **signed(endpoint, body)
    )
    assert answer.status_code == 202
    assert "Set-Cookie" not in answer.headers and "Vary" not in answer.headers
    assert Session.objects.get().expire_date == before
    job = Job.objects.get(pk=answer.json()["job"])
    # The trigger, not the signed-in person, ran it.
    assert job.run_by_user_id is None


def test_a_call_to_an_unknown_host_is_refused_as_a_page_request_is(hooked: dict[str, Any]) -> None:
    client = https_client(HTTP_HOST="attacker.example")
    endpoint = hooked["endpoint"]
    body = b'{"order": 3}'
    answer = client.post(
        f"/hooks/{endpoint.token}", body, content_type="application/json", **signed(endpoint, body)
    )
    assert answer.status_code == 400
    assert client.post("/login").status_code == 400
    assert not Job.objects.exists()


@pytest.mark.parametrize("path", ["/hooks/{token}/", "/hooks/{token}/extra"])
def test_only_the_call_paths_take_the_short_way(hooked: dict[str, Any], path: str) -> None:
    endpoint = hooked["endpoint"]
    answer = https_client().post(path.format(token=endpoint.token), b"{}", content_type="application/json")
    assert answer.status_code == 404
    assert not Job.objects.exists()


def test_a_call_by_another_method_is_refused_by_the_whole_middleware(hooked: dict[str, Any]) -> None:
    answer = https_client().get(f"/hooks/{hooked['endpoint'].token}")
    assert answer.status_code == 405
    assert answer["X-Frame-Options"] == "DENY"


def test_calls_to_api_collections_take_the_short_way_by_any_method(hooked: dict[str, Any]) -> None:
    client = sign_in(https_client(), hooked["admin"])
    page = client.get("/login")
    before = Session.objects.get().expire_date
    answers = [
        client.get("/apis/acme/dev/no-such-api"),
        client.post("/apis/acme/dev/no-such-api/orders/1", b"{}", content_type="application/json"),
        client.delete("/apis/acme/prod/no-such-api/orders/1"),
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500 and answer["Content-Type"] == "application/json"
        assert "Set-Cookie" not in answer.headers and "Vary" not in answer.headers
        for name in SECURITY_HEADERS[:-1]:
            assert answer[name] == page[name], name
        assert _policy(answer["Content-Security-Policy"]) == _policy(page["Content-Security-Policy"])
    assert Session.objects.get().expire_date == before
