"""A flood of bad API tokens: throttled per source, answered cheaply, audited once per interval."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from causeway.access.services import (
    service_account_create,
    service_account_token_create,
    service_account_token_revoke,
)
from causeway.audit.models import PLATFORM_CHAIN, AuditEvent
from causeway.audit.tasks import flush_refusals
from causeway.workspaces import tokens
from testkit.support import https_client, make_user, make_workspace, poll_until

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.9"
COLLEAGUE = "198.51.100.7"
START = datetime(2031, 5, 4, 12, 0, 15, tzinfo=UTC)


@pytest.fixture
def clock(settings: Any) -> Iterator[Any]:
    settings.THROTTLE_API_AUTH_FAILURES = 3
    settings.THROTTLE_INTERVAL_SECONDS = 60
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def good_token(db: Any) -> str:
    user = make_user("ada@example.com")
    _, secret = tokens.token_create(actor=user, name="laptop", expires_in_days=30)
    return secret


def get_me(address: str, token: str) -> Any:
    return https_client(REMOTE_ADDR=address).get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_api_bad_token_flood_is_throttled_and_audited_once_per_interval_with_its_count(
    clock: Any, good_token: str
) -> None:
    before = AuditEvent.objects.count()
    answers = [get_me(ATTACKER, f"cw_guess{n:04d}_{'x' * 40}") for n in range(200)]
    assert [answer.status_code for answer in answers] == [401] * 3 + [429] * 197
    assert answers[3]["Retry-After"] == "45"
    assert "too many refused calls" in answers[3].json()["detail"]
    # A good token from another address is served as ever.
    assert get_me(COLLEAGUE, good_token).status_code == 200
    # From the throttled address even a good token waits: the token is not looked at.
    assert get_me(ATTACKER, good_token).status_code == 429

    # Bad tokens were not audited at all before; now the flood wrote two events during its interval.
    assert AuditEvent.objects.count() == before + 2
    [failed] = events("api.auth_failed")
    assert failed.chain == PLATFORM_CHAIN
    assert failed.ip_address == ATTACKER
    assert failed.outcome == "denied"
    assert failed.details == {
        "reason": "unknown, expired or revoked token",
        "path": "/api/v1/me",
        "source": ATTACKER,
    }
    [throttled] = events("api.auth_throttled")
    assert throttled.details == {"limit": 3, "interval_seconds": 60, "source": ATTACKER}

    clock.shift(timedelta(seconds=45))
    assert flush_refusals() == 2
    assert [event.details.get("count") for event in events("api.auth_failed")] == [None, 2]
    assert [event.details.get("count") for event in events("api.auth_throttled")] == [None, 197]
    assert {event.ip_address for event in events("api.auth_failed")} == {ATTACKER}
    assert AuditEvent.objects.count() == before + 4
    # The next interval starts afresh.
    assert get_me(ATTACKER, good_token).status_code == 200


def test_api_throttled_call_is_answered_before_its_token_is_looked_up(clock: Any, good_token: str) -> None:
    for n in range(4):
        get_me(ATTACKER, f"cw_guess{n:04d}_{'x' * 40}")
    with CaptureQueriesContext(connection) as queries:
        answer = get_me(ATTACKER, good_token)
    assert answer.status_code == 429
    touched = " ".join(query["sql"] for query in queries.captured_queries).lower()
    for table in ("workspaces_apitoken", "audit_auditevent"):
        assert table not in touched


@pytest.mark.parametrize("kind", ["revoked", "expired", "service account's revoked"])
def test_api_revoked_and_expired_tokens_count_as_failures(clock: Any, kind: str) -> None:
    user = make_user("ada@example.com")
    if kind == "service account's revoked":
        workspace = make_workspace("Acme", members={user: "admin"})
        robot = service_account_create(actor=user, workspace=workspace, name="robot")
        token, secret = service_account_token_create(
            actor=user, workspace=workspace, account=robot, name="ci", expires_in_days=30
        )
        service_account_token_revoke(actor=user, workspace=workspace, token=token)
    else:
        token, secret = tokens.token_create(actor=user, name="laptop", expires_in_days=1)
        if kind == "revoked":
            tokens.token_revoke(actor=user, token=token)
        else:
            clock.shift(timedelta(days=2))
    answers = [get_me(ATTACKER, secret).status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    assert len(events("api.auth_failed")) == 1


@pytest.mark.django_db(transaction=True)
def test_api_failures_counted_by_one_web_process_throttle_the_address_in_every_other(
    https_server: Any, settings: Any
) -> None:
    """The running server and this test are two web processes sharing the counts (database or Redis)."""
    bad = {"Authorization": f"Bearer cw_guess_{'x' * 40}"}
    spare = 20  # seconds left in the interval, so a loaded machine still asks below before it ends
    with httpx.Client(base_url=https_server.url, verify=False, timeout=30) as http:  # noqa: S501  # nosec B501

        def throttled_with_time_to_spare() -> httpx.Response | None:
            answer = http.get("/api/v1/me", headers=bad)
            if answer.status_code == 429 and int(answer.headers["Retry-After"]) >= spare:
                return answer
            return None

        answer = poll_until(
            throttled_with_time_to_spare,
            seconds=2 * settings.THROTTLE_INTERVAL_SECONDS + 30,
            what="the server to throttle this address with time to spare in its interval",
            interval=0.02,
        )
    # This process has refused nothing itself, yet the address is throttled here too.
    here = https_client(REMOTE_ADDR="127.0.0.1").get("/api/v1/me", HTTP_AUTHORIZATION=bad["Authorization"])
    assert here.status_code == 429
    assert int(here["Retry-After"]) <= int(answer.headers["Retry-After"])
