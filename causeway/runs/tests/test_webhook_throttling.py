"""A flood of badly signed webhook calls: throttled per source, answered cheaply, audited per interval."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from causeway.audit.models import PLATFORM_CHAIN, AuditEvent
from causeway.audit.tasks import flush_refusals
from causeway.runs import webhooks
from causeway.runs.models import Job, WebhookEndpoint
from causeway.runs.tests.trigger_helpers import people, started_recipe
from testkit.support import https_client

ATTACKER = "203.0.113.9"
SENDER = "198.51.100.7"
# Ten seconds into an interval of a minute: a throttled source is told to come back in 50 s.
START = datetime(2031, 5, 4, 12, 0, 10, tzinfo=UTC)
UNSIGNED = "t=1,v1=" + "0" * 64


@pytest.fixture
def hooked(db: Any, settings: Any) -> dict[str, Any]:
    settings.THROTTLE_WEBHOOK_REFUSALS = 3
    settings.THROTTLE_INTERVAL_SECONDS = 60
    found = people()
    recipe = started_recipe(found["admin"], found["acme"], {"type": "webhook"})
    endpoint = WebhookEndpoint.objects.get(recipe=recipe)
    return {**found, "recipe": recipe, "endpoint": endpoint, "secret": endpoint.signing_secret}


@pytest.fixture
def clock(hooked: dict[str, Any]) -> Iterator[Any]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def post(address: str, endpoint: WebhookEndpoint, body: bytes, signature: str | None) -> Any:
    extra = {"HTTP_X_CAUSEWAY_SIGNATURE": signature} if signature is not None else {}
    return https_client(REMOTE_ADDR=address).post(
        f"/hooks/{endpoint.token}", body, content_type="application/json", **extra
    )


def events(action: str, address: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, ip_address=address).order_by("occurred_at", "seq"))


def test_webhook_flood_from_one_source_is_throttled_and_audited_once_per_interval_with_its_count(
    hooked: dict[str, Any], clock: Any
) -> None:
    endpoint, acme = hooked["endpoint"], hooked["acme"]
    before = AuditEvent.objects.count()
    answers = [post(ATTACKER, endpoint, b'{"n": 1}', None if n % 2 else UNSIGNED) for n in range(200)]
    assert [answer.status_code for answer in answers] == [401] * 3 + [429] * 197
    throttled = answers[3]
    assert throttled["Retry-After"] == "50"
    assert "too many refused calls" in throttled.json()["detail"]
    assert Job.objects.count() == 0

    # Meanwhile another source is answered as ever: signed calls start jobs, unsigned ones are refused.
    body = json.dumps({"order": 42}).encode()
    signed = webhooks.sign(hooked["secret"], int(START.timestamp()), body)
    assert post(SENDER, endpoint, body, signed).status_code == 202
    assert post(SENDER, endpoint, body, None).status_code == 401

    # During the interval the flood wrote two events: its first refusal, and its first throttled call.
    assert AuditEvent.objects.count() == before + 2 + 1
    [refused] = events("webhook.refused", ATTACKER)
    assert refused.workspace_id == acme.id
    assert refused.target_id == str(hooked["recipe"].id)
    assert refused.details == {
        "reason": "signature timestamp outside the 5-minute tolerance (check the clock)",
        "source": ATTACKER,
    }
    [first_throttled] = events("webhook.throttled", ATTACKER)
    assert first_throttled.chain == PLATFORM_CHAIN
    assert first_throttled.details == {"limit": 3, "interval_seconds": 60, "source": ATTACKER}

    # Once the interval has closed, one more event each carries the count of the calls not yet recorded.
    clock.shift(timedelta(seconds=50))
    assert flush_refusals() == 2
    refused_events = events("webhook.refused", ATTACKER)
    assert [event.details.get("count") for event in refused_events] == [None, 2]
    aggregate = refused_events[1]
    assert aggregate.workspace_id == acme.id
    assert (aggregate.target_type, aggregate.target_id, aggregate.target_label) == (
        refused.target_type,
        refused.target_id,
        refused.target_label,
    )
    assert aggregate.outcome == "denied"
    assert aggregate.details["first_seq"] == refused.seq
    assert aggregate.details["interval_start"] == "2031-05-04T12:00:00+00:00"
    assert aggregate.details["interval_end"] == "2031-05-04T12:01:00+00:00"
    assert [event.details.get("count") for event in events("webhook.throttled", ATTACKER)] == [None, 196]
    # The other source's one refusal needs no aggregate; a second flush writes nothing.
    assert len(events("webhook.refused", SENDER)) == 1
    assert flush_refusals() == 0
    assert AuditEvent.objects.count() == before + 4 + 1

    # The next interval starts afresh.
    assert post(ATTACKER, endpoint, b"{}", None).status_code == 401


def test_webhook_throttled_call_is_answered_before_any_lookup_check_or_audit_write(
    hooked: dict[str, Any], clock: Any
) -> None:
    endpoint = hooked["endpoint"]
    for _ in range(3):
        post(ATTACKER, endpoint, b"{}", UNSIGNED)
    # The first throttled call of the interval is recorded; the ones after it only count.
    assert post(ATTACKER, endpoint, b"{}", UNSIGNED).status_code == 429
    with CaptureQueriesContext(connection) as queries:
        signed = webhooks.sign(hooked["secret"], int(START.timestamp()), b"{}")
        answer = post(ATTACKER, endpoint, b"{}", signed)
    assert answer.status_code == 429
    touched = " ".join(query["sql"] for query in queries.captured_queries).lower()
    for table in ("runs_webhookendpoint", "audit_auditevent", "audit_auditchainhead", "runs_job"):
        assert table not in touched
    assert Job.objects.count() == 0, "not even a correctly signed call gets through while throttled"


def test_webhook_refusals_of_a_closed_interval_are_written_by_the_sources_next_refusal(
    hooked: dict[str, Any], clock: Any
) -> None:
    endpoint = hooked["endpoint"]
    for _ in range(3):
        assert post(ATTACKER, endpoint, b"{}", UNSIGNED).status_code == 401
    clock.shift(timedelta(minutes=5))
    # No flush ran; the source's next refusal first writes what the closed interval owes, then itself.
    assert post(ATTACKER, endpoint, b"{}", None).status_code == 401
    refused = events("webhook.refused", ATTACKER)
    assert [event.details.get("count") for event in refused] == [None, 2, None]
    assert refused[2].details["reason"] == "missing X-Causeway-Signature header"
    assert flush_refusals() == 0


def test_webhook_refusals_are_counted_per_source_and_an_ipv6_source_by_its_64(
    hooked: dict[str, Any], clock: Any
) -> None:
    endpoint = hooked["endpoint"]
    for host in range(3):
        assert post(f"2001:db8:1:2::{host + 1}", endpoint, b"{}", UNSIGNED).status_code == 401
    # Another address of the same /64 is the same source; another /64 is not.
    assert post("2001:db8:1:2:ffff::9", endpoint, b"{}", UNSIGNED).status_code == 429
    assert post("2001:db8:1:3::1", endpoint, b"{}", UNSIGNED).status_code == 401
    assert post(SENDER, endpoint, b"{}", UNSIGNED).status_code == 401
    sources = [event.details["source"] for event in AuditEvent.objects.filter(action="webhook.refused")]
    assert sorted(sources) == sorted(["2001:db8:1:2::/64", "2001:db8:1:3::/64", SENDER])
