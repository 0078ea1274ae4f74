"""The counting behind throttles and aggregated refusals: sources, shared counts, intervals, events."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection

from causeway.audit import context, refusals
from causeway.audit.models import AuditEvent, RefusalTally
from causeway.audit.verify import verify_chains

START = datetime(2031, 5, 4, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("address", "source"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("not an address", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_a_source_is_an_address_or_an_ipv6_addresses_64(address: str | None, source: str) -> None:
    assert refusals.source_of(address) == source


@pytest.fixture
def from_attacker(settings: Any) -> Iterator[Any]:
    settings.THROTTLE_INTERVAL_SECONDS = 60
    token = context.activate(context.RequestContext(request_id="test", ip_address="203.0.113.9"))
    with time_machine.travel(START, tick=False) as clock:
        yield clock
    context.deactivate(token)


@pytest.mark.django_db
def test_aggregate_event_names_the_target_exactly_as_the_first_event_did(from_attacker: Any) -> None:
    # Text is escaped as it is recorded; the aggregate is recorded from what was sent, not from the
    # escaped copy, so it does not escape it twice.
    target = ("recipe", "4f1c", "Orders \\ Returns\n")
    for _ in range(3):
        refusals.refusal_record(refusals.WEBHOOK_SIGNATURES, action="webhook.refused", target=target)
    from_attacker.shift(timedelta(minutes=1))
    assert refusals.refusals_flush() == 1
    first, aggregate = AuditEvent.objects.filter(action="webhook.refused").order_by("seq")
    assert first.target_label == "Orders \\\\ Returns\\u000a"
    assert aggregate.target_label == first.target_label
    assert aggregate.details["count"] == 2
    assert not RefusalTally.objects.exists()
    assert verify_chains().ok


@pytest.mark.django_db
def test_a_lost_count_writes_no_aggregate_and_says_so(
    from_attacker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    refusals.refusal_record(refusals.API_TOKENS, action="api.auth_failed")
    refusals.refusal_record(refusals.API_TOKENS, action="api.auth_failed")
    refusals.counts_forget_all()
    from_attacker.shift(timedelta(minutes=1))
    with caplog.at_level(logging.WARNING, logger="causeway.audit.refusals"):
        assert refusals.refusals_flush() == 0
    assert "was lost" in caplog.text
    assert AuditEvent.objects.filter(action="api.auth_failed").count() == 1
    assert not RefusalTally.objects.exists()


@pytest.mark.django_db
def test_a_count_restarted_within_its_interval_does_not_record_the_first_refusal_twice(
    from_attacker: Any,
) -> None:
    refusals.refusal_record(refusals.API_TOKENS, action="api.auth_failed")
    refusals.counts_forget_all()
    refusals.refusal_record(refusals.API_TOKENS, action="api.auth_failed")
    assert AuditEvent.objects.filter(action="api.auth_failed").count() == 1
    assert RefusalTally.objects.count() == 1


@pytest.mark.django_db
def test_throttle_counts_only_refusals_and_lifts_when_the_interval_ends(
    from_attacker: Any, settings: Any
) -> None:
    settings.THROTTLE_API_AUTH_FAILURES = 2
    refusals.throttle_check(refusals.API_TOKENS)
    refusals.throttle_check(refusals.API_TOKENS)
    refusals.refusal_record(refusals.API_TOKENS, action="api.auth_failed")
    refusals.throttle_check(refusals.API_TOKENS)
    refusals.refusal_record(refusals.API_TOKENS, action="api.auth_failed")
    from_attacker.shift(timedelta(seconds=59, microseconds=500_000))
    with pytest.raises(refusals.Throttled) as throttled:
        refusals.throttle_check(refusals.API_TOKENS)
    assert throttled.value.retry_after == 1
    # Another kind of refusal has its own allowance.
    refusals.throttle_check(refusals.WEBHOOK_SIGNATURES)
    from_attacker.shift(timedelta(seconds=1))
    refusals.throttle_check(refusals.API_TOKENS)


@pytest.mark.django_db(transaction=True)
def test_shared_counts_lose_no_increment_and_give_each_number_once_under_concurrency() -> None:
    now = datetime.now(tz=UTC)
    counts = refusals._counts()
    start = threading.Barrier(8)

    def add_many(_: int) -> list[int]:
        try:
            start.wait()
            expires_at = now + timedelta(minutes=1)
            return [counts.add("test:race", now=now, expires_at=expires_at) for _ in range(25)]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        seen = [value for values in pool.map(add_many, range(8)) for value in values]
    assert sorted(seen) == list(range(1, 201)), "every count returned once: exactly one caller sees 1"
    assert counts.get("test:race") == 200
