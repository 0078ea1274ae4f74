"""Rate limits and quotas, counted once for all web processes: two real `causeway web` processes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from causeway.apiplat import selectors, services
from causeway.apiplat.models import ApiCall, ApiRefusals
from causeway.apiplat.tests.test_calls import ANSWER_STEPS, call, published
from causeway.audit.refusals import counts_forget_all
from causeway.runs.tests.trigger_helpers import people
from testkit.support import _start_web, process_env, stop_server

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

GOOD = {"sku": "ABC", "quantity": 1}


@pytest.fixture
def place(transactional_db: None) -> Iterator[dict[str, Any]]:
    counts_forget_all()
    yield people()
    counts_forget_all()


@pytest.fixture
def second_server(https_server: Any, django_db_blocker: Any) -> Iterator[Any]:
    with django_db_blocker.unblock():
        env = process_env()
    server, log = _start_web(env)
    yield server
    stop_server(server, log)


def test_an_endpoints_daily_quota_is_shared_by_two_web_processes_then_429_with_retry_after(
    place: dict[str, Any], https_server: Any, second_server: Any
) -> None:
    api = published(place, ANSWER_STEPS, quota_per_day=3)
    path = api["base"] + "/shops/north/orders"
    answers = [
        call(server, path, api["secret"], json=GOOD) for server in (https_server, second_server, https_server)
    ]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    assert answers[0].headers["RateLimit-Policy"] == "3;w=86400"
    refused = call(second_server, path, api["secret"], json=GOOD)
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 86_400
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["RateLimit-Reset"]) == int(refused.headers["Retry-After"])
    # Another client meets the same endpoint's quota; the first client's own limits are its own.
    other_client = services.client_create(
        actor=place["admin"],
        workspace=place["acme"],
        name="Second shop",
        collection_ids=[str(api["collection"].id)],
    )
    _, other_key = services.client_key_issue(
        actor=place["admin"], client=other_client, name="k", expires_in_days=1
    )
    assert call(https_server, path, other_key, json=GOOD).status_code == 429


def test_a_clients_daily_quota_counts_across_processes_and_lifting_it_lets_calls_through(
    place: dict[str, Any], https_server: Any, second_server: Any
) -> None:
    api = published(place, ANSWER_STEPS)
    services.client_update(actor=place["admin"], client=api["client"], quota_per_day=2)
    path = api["base"] + "/shops/north/orders"
    assert call(https_server, path, api["secret"], json=GOOD).status_code == 201
    assert call(second_server, path, api["secret"], json=GOOD).status_code == 201
    refused = call(https_server, path, api["secret"], json=GOOD)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    # A call refused for its limit never reached the recipe: no job.
    assert "X-Causeway-Job" not in refused.headers
    services.client_update(
        actor=place["admin"], client=api["client"], quota_per_day=None, rate_per_second=1000
    )
    passed = call(second_server, path, api["secret"], json=GOOD)
    assert passed.status_code == 201
    assert passed.headers["RateLimit-Policy"] == "1000;w=1"


FORGING_STEPS = [
    {
        "id": "answer",
        "type": "respond",
        "status": "200",
        "headers": {"ratelimit-remaining": "999", "Retry-After": "0", "x-causeway-job": "forged"},
        "body": {"ok": True},
    }
]


def test_refused_calls_are_tallied_not_recorded_and_the_platforms_headers_win(
    place: dict[str, Any], https_server: Any
) -> None:
    api = published(place, FORGING_STEPS)
    services.client_update(actor=place["admin"], client=api["client"], quota_per_day=2)
    path = api["base"] + "/shops/north/orders"
    first = call(https_server, path, api["secret"], json=GOOD)
    assert first.status_code == 200, first.text
    # The recipe's own RateLimit-*, Retry-After and job headers never reach the caller.
    assert first.headers["RateLimit-Remaining"] == "1"
    assert first.headers.get_list("RateLimit-Remaining") == ["1"]
    assert first.headers["X-Causeway-Job"] != "forged"
    assert call(https_server, path, api["secret"], json=GOOD).status_code == 200
    refused = [call(https_server, path, api["secret"], json=GOOD) for _ in range(4)]
    assert {r.status_code for r in refused} == {429}
    # One row per answered call; the four refusals are one day's tally, and usage counts them as errors.
    assert ApiCall.objects.filter(client=api["client"]).count() == 2
    assert ApiRefusals.objects.get(client=api["client"]).count == 4
    (usage,) = selectors.collection_usage(collection=api["collection"])
    assert (usage.calls, usage.errors) == (6, 4)


def test_asking_about_a_job_counts_against_the_clients_limits(
    place: dict[str, Any], https_server: Any
) -> None:
    api = published(place, ANSWER_STEPS)
    services.client_update(actor=place["admin"], client=api["client"], quota_per_day=2)
    started = call(https_server, api["base"] + "/shops/north/orders", api["secret"], json=GOOD)
    assert started.status_code == 201, started.text
    link = api["base"] + f"/_jobs/{started.headers['X-Causeway-Job']}"
    asked = call(https_server, link, api["secret"], method="GET")
    assert asked.status_code == 200, asked.text
    assert asked.headers["RateLimit-Remaining"] == "0"
    again = call(https_server, link, api["secret"], method="GET")
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) >= 1
