"""Webhook calls: a correctly signed call starts a job; anything else is refused, audited, and starts none."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from causeway.audit.models import AuditEvent, Outcome
from causeway.recipes.services import recipe_stop
from causeway.runs import webhooks
from causeway.runs.models import Job, WebhookDelivery, WebhookEndpoint
from causeway.runs.tasks import purge_webhook_deliveries
from causeway.runs.tests.trigger_helpers import people, started_recipe
from testkit.support import https_client

HEADER = "HTTP_X_CAUSEWAY_SIGNATURE"


@pytest.fixture
def hooked(db: Any) -> dict[str, Any]:
    found = people()
    recipe = started_recipe(found["admin"], found["acme"], {"type": "webhook"})
    endpoint = WebhookEndpoint.objects.get(recipe=recipe)
    return {**found, "recipe": recipe, "endpoint": endpoint, "secret": endpoint.signing_secret}


def call(endpoint: WebhookEndpoint, body: bytes, signature: str | None, key: str | None = None) -> Any:
    extra = {HEADER: signature} if signature is not None else {}
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return https_client().post(f"/hooks/{endpoint.token}", body, content_type="application/json", **extra)


def refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="webhook.refused").order_by("seq"))


def test_webhook_endpoint_is_made_when_the_recipe_starts(hooked: dict[str, Any]) -> None:
    endpoint = hooked["endpoint"]
    assert len(endpoint.token) >= 43  # 32 random bytes, URL-safe
    assert endpoint.signing_secret.startswith("whsec_")
    assert AuditEvent.objects.filter(action="webhook.created", workspace_id=hooked["acme"].id).count() == 1


def test_webhook_good_signature_starts_a_job_with_the_body_as_payload(hooked: dict[str, Any]) -> None:
    body = json.dumps({"order": 42, "status": "paid"}).encode()
    response = call(hooked["endpoint"], body, webhooks.sign(hooked["secret"], int(time.time()), body))
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job"])
    assert job.recipe_id == hooked["recipe"].id
    assert job.trigger_type == "webhook"
    assert job.trigger_payload == {"order": 42, "status": "paid"}
    assert job.run_by_user_id is None and job.run_by_service_account_id is None
    assert refusals() == []


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing", "missing X-Causeway-Signature header"),
        ("malformed", "malformed"),
        ("wrong secret", "does not match"),
        ("stale", "tolerance"),
        ("future", "tolerance"),
        ("other body", "does not match"),
    ],
)
def test_webhook_bad_signatures_are_refused_401_and_audited(
    hooked: dict[str, Any], case: str, reason: str
) -> None:
    body = json.dumps({"order": 42}).encode()
    now = int(time.time())
    signature = {
        "missing": None,
        "malformed": "sha256=abcdef",
        "wrong secret": webhooks.sign("whsec_not-the-secret", now, body),
        "stale": webhooks.sign(hooked["secret"], now - 301, body),
        # A minute past the tolerance: a loaded machine may take seconds between signing and checking,
        # which brings a time only just past it back within.
        "future": webhooks.sign(hooked["secret"], now + 360, body),
        # A captured signature replayed with another body.
        "other body": webhooks.sign(hooked["secret"], now, json.dumps({"order": 1}).encode()),
    }[case]
    response = call(hooked["endpoint"], body, signature)
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert Job.objects.count() == 0
    [event] = refusals()
    assert event.outcome == Outcome.DENIED
    assert event.workspace_id == hooked["acme"].id
    assert event.target_id == str(hooked["recipe"].id)
    assert reason in event.details["reason"]
    recorded = json.dumps(event.details) + event.target_label + event.user_agent
    assert "order" not in recorded
    if signature:
        assert signature not in recorded and signature.split("v1=")[-1] not in recorded
    assert hooked["secret"] not in recorded


def test_webhook_replayed_signature_with_another_body_is_refused(hooked: dict[str, Any]) -> None:
    first = json.dumps({"amount": 10}).encode()
    signature = webhooks.sign(hooked["secret"], int(time.time()), first)
    assert call(hooked["endpoint"], first, signature).status_code == 202
    forged = json.dumps({"amount": 10_000}).encode()
    assert call(hooked["endpoint"], forged, signature).status_code == 401
    assert Job.objects.count() == 1
    assert len(refusals()) == 1


def test_webhook_same_signed_call_sent_three_times_starts_one_job_and_the_repeats_are_refused(
    hooked: dict[str, Any],
) -> None:
    body = json.dumps({"amount": 10}).encode()
    signature = webhooks.sign(hooked["secret"], int(time.time()), body)
    answers = [call(hooked["endpoint"], body, signature) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [202, 409, 409]
    assert "received before" in answers[1].json()["detail"]
    assert Job.objects.count() == 1
    assert WebhookDelivery.objects.count() == 1
    # Refused like any other bad call: the first at once, the second counted into its interval's event.
    [event] = refusals()
    assert "received before" in event.details["reason"]
    assert signature.split("v1=")[-1] not in json.dumps(event.details)


def test_webhook_retry_with_the_same_idempotency_key_and_a_new_signature_answers_the_same_job(
    hooked: dict[str, Any],
) -> None:
    body = json.dumps({"event": "evt_1"}).encode()
    now = int(time.time())
    first = call(hooked["endpoint"], body, webhooks.sign(hooked["secret"], now, body), key="evt_1")
    assert first.status_code == 202
    retry = call(hooked["endpoint"], body, webhooks.sign(hooked["secret"], now + 1, body), key="evt_1")
    assert retry.status_code == 200
    assert retry.json() == first.json()
    # The same call sent again with its key is a retry too, not a replay.
    again = call(hooked["endpoint"], body, webhooks.sign(hooked["secret"], now, body), key="evt_1")
    assert (again.status_code, again.json()) == (200, first.json())
    assert Job.objects.count() == 1
    # Another key is another event; the key is kept as a blind index, not as sent.
    other = call(hooked["endpoint"], body, webhooks.sign(hooked["secret"], now + 2, body), key="evt_2")
    assert other.status_code == 202
    assert other.json() != first.json()
    assert Job.objects.count() == 2
    assert not WebhookDelivery.objects.filter(idempotency_index__contains="evt_").exists()
    assert refusals() == []
    # A captured call whose key was changed, left out or swapped for another known key is still the
    # same signature: refused.
    for key in ("evt_3", None, "evt_2"):
        replayed = call(hooked["endpoint"], body, webhooks.sign(hooked["secret"], now, body), key=key)
        assert replayed.status_code == 409
    assert Job.objects.count() == 2


@pytest.mark.parametrize("key", ["", "a" * 256, "spaced key", "caf\u00e9"])
def test_webhook_idempotency_key_must_be_1_to_255_visible_ascii_characters(
    hooked: dict[str, Any], key: str
) -> None:
    body = b"{}"
    answer = call(hooked["endpoint"], body, webhooks.sign(hooked["secret"], int(time.time()), body), key=key)
    assert answer.status_code == 400
    assert "Idempotency-Key" in answer.json()["detail"]
    assert Job.objects.count() == 0


def test_webhook_deliveries_are_forgotten_once_they_cannot_come_back(hooked: dict[str, Any]) -> None:
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False) as clock:
        body = b"{}"
        plain = webhooks.sign(hooked["secret"], int(time.time()), body)
        assert call(hooked["endpoint"], body, plain).status_code == 202
        keyed = webhooks.sign(hooked["secret"], int(time.time()), b"[]")
        first = call(hooked["endpoint"], b"[]", keyed, key="evt_9")
        assert first.status_code == 400, "a key names a job only once one was started"
        keyed = webhooks.sign(hooked["secret"], int(time.time()), b'{"k": 1}')
        first = call(hooked["endpoint"], b'{"k": 1}', keyed, key="evt_9")
        assert first.status_code == 202
        clock.shift(timedelta(seconds=webhooks.TOLERANCE_SECONDS))
        assert purge_webhook_deliveries() == 0
        clock.shift(timedelta(seconds=1))
        # The plain call's signature is past its tolerance, so a replay is refused by its time alone.
        assert purge_webhook_deliveries() == 1
        assert call(hooked["endpoint"], body, plain).status_code == 401
        # The key is remembered for its own, longer window.
        again = webhooks.sign(hooked["secret"], int(time.time()), b'{"k": 1}')
        assert call(hooked["endpoint"], b'{"k": 1}', again, key="evt_9").json() == first.json()
        clock.shift(timedelta(seconds=settings.WEBHOOK_IDEMPOTENCY_SECONDS))
        assert purge_webhook_deliveries() == 1
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_webhook_same_signed_call_sent_at_once_by_many_connections_starts_one_job(https_server: Any) -> None:
    found = people()
    recipe = started_recipe(found["admin"], found["acme"], {"type": "webhook"})
    endpoint = WebhookEndpoint.objects.get(recipe=recipe)
    body = b'{"burst": true}'
    headers = {"X-Causeway-Signature": webhooks.sign(endpoint.signing_secret, int(time.time()), body)}
    start = threading.Barrier(8)

    def send(_: int) -> int:
        with httpx.Client(base_url=https_server.url, verify=False, timeout=60) as http:  # noqa: S501  # nosec B501
            start.wait()
            return http.post(f"/hooks/{endpoint.token}", content=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(send, range(8)))
    assert statuses == [202] + [409] * 7
    assert Job.objects.filter(recipe=recipe).count() == 1


def test_webhook_unknown_token_and_stopped_recipe_answer_404(hooked: dict[str, Any]) -> None:
    body = b"{}"
    signature = webhooks.sign(hooked["secret"], int(time.time()), body)
    client = https_client()
    unknown = client.post("/hooks/" + "A" * 43, body, content_type="application/json", **{HEADER: signature})
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Not found"}
    recipe_stop(actor=hooked["admin"], recipe=hooked["recipe"])
    assert call(hooked["endpoint"], body, signature).status_code == 404
    assert Job.objects.count() == 0
    assert refusals() == []


def test_webhook_body_must_be_a_json_object_and_not_too_large(hooked: dict[str, Any]) -> None:
    now = int(time.time())
    for body in (b"not json", b"[1, 2]"):
        response = call(hooked["endpoint"], body, webhooks.sign(hooked["secret"], now, body))
        assert response.status_code == 400
    big = b'{"x": "' + b"a" * webhooks.MAX_BODY_BYTES + b'"}'
    assert call(hooked["endpoint"], big, webhooks.sign(hooked["secret"], now, big)).status_code == 413
    assert Job.objects.count() == 0


def test_webhook_needs_no_csrf_token_but_only_post(hooked: dict[str, Any]) -> None:
    from django.test import Client

    body = b"{}"
    strict = Client(enforce_csrf_checks=True)
    signature = webhooks.sign(hooked["secret"], int(time.time()), body)
    response = strict.post(
        f"/hooks/{hooked['endpoint'].token}",
        body,
        content_type="application/json",
        secure=True,
        **{HEADER: signature},
    )
    assert response.status_code == 202
    assert strict.get(f"/hooks/{hooked['endpoint'].token}", secure=True).status_code == 405


def test_webhook_rotated_secret_replaces_the_old_one_at_once(hooked: dict[str, Any]) -> None:
    new = webhooks.webhook_secret_rotate(actor=hooked["admin"], recipe=hooked["recipe"])
    assert new != hooked["secret"]
    body = b'{"a": 1}'
    now = int(time.time())
    assert call(hooked["endpoint"], body, webhooks.sign(hooked["secret"], now, body)).status_code == 401
    assert call(hooked["endpoint"], body, webhooks.sign(new, now, body)).status_code == 202
    [event] = AuditEvent.objects.filter(action="webhook.secret_rotated")
    assert new not in json.dumps(event.details)


@pytest.mark.django_db(transaction=True)
def test_webhook_token_never_reaches_the_access_log(https_server: Any) -> None:
    found = people()
    recipe = started_recipe(found["admin"], found["acme"], {"type": "webhook"})
    endpoint = WebhookEndpoint.objects.get(recipe=recipe)
    body = b'{"ping": true}'
    signature = webhooks.sign(endpoint.signing_secret, int(time.time()), body)
    with httpx.Client(base_url=https_server.url, verify=False) as http:  # noqa: S501  # nosec B501
        accepted = http.post(
            f"/hooks/{endpoint.token}", content=body, headers={"X-Causeway-Signature": signature}
        )
        refused = http.post(
            f"/hooks/{endpoint.token}", content=body, headers={"X-Causeway-Signature": "t=1,v1=00"}
        )
        unknown = http.post("/hooks/" + "B" * 43, content=body)
    assert (accepted.status_code, refused.status_code, unknown.status_code) == (202, 401, 404)
    deadline = time.monotonic() + 10
    logs = ""
    while time.monotonic() < deadline:
        logs = https_server.log_path.read_text()
        if logs.count("/hooks/[redacted]") >= 3:
            break
        time.sleep(0.1)
    assert logs.count("/hooks/[redacted]") >= 3
    assert endpoint.token not in logs
    assert "B" * 43 not in logs
    assert endpoint.signing_secret not in logs
