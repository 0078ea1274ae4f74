"""Poll triggers: one job per new item, found by its key; never one item twice, also when pollers race."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection

from causeway.connections.outbound import outbound_hosts_set
from causeway.runs.models import Job, PolledItem, TriggerState
from causeway.runs.tests.trigger_helpers import people, started_recipe
from causeway.runs.triggers import poll_items, poll_tick, trigger_status

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


class Source:
    """A local HTTP source whose answer the test sets; it counts the calls it gets."""

    def __init__(self) -> None:
        self.status = 200
        self.answer: Any = {"data": {"items": []}}
        self.calls: list[dict[str, str]] = []
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                source.calls.append(dict(self.headers))
                body = json.dumps(source.answer).encode()
                self.send_response(source.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/orders"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def items(self, *keys: int) -> None:
        self.answer = {"data": {"items": [{"id": key, "total": key * 10} for key in keys]}}


@pytest.fixture
def source() -> Iterator[Source]:
    running = Source()
    yield running
    running.server.shutdown()
    running.server.server_close()


def polling(source: Source, *, allow: bool = True, **extra: Any) -> tuple[dict[str, Any], Any]:
    found = people()
    if allow:
        # The Admin's setting that lets recipes call a host that resolves to a private address (rule 20).
        outbound_hosts_set(actor=found["admin"], workspace=found["acme"], hosts=["127.0.0.1"])
    trigger = {"type": "poll", "url": source.url, "items": "data.items", "key": "id", "interval_seconds": 60}
    recipe = started_recipe(found["admin"], found["acme"], trigger | extra, name="Orders")
    return found, recipe


def payloads(recipe: Any) -> list[Any]:
    return sorted((job.trigger_payload for job in Job.objects.filter(recipe=recipe)), key=lambda p: p["id"])


@pytest.mark.django_db
def test_poll_cursor_first_poll_starts_one_job_per_item_then_only_new_ones(source: Source) -> None:
    _, recipe = polling(source)
    source.items(3, 1, 2)
    first = poll_tick(now=T0)
    assert len(first) == 3
    assert {job.trigger_type for job in first} == {"poll"}
    assert payloads(recipe) == [{"id": 1, "total": 10}, {"id": 2, "total": 20}, {"id": 3, "total": 30}]
    assert TriggerState.objects.get(recipe=recipe).cursor == "3"
    # Items 2 and 3 again, and a new 4 and 10: only the new ones start jobs.
    source.items(10, 4, 3, 2)
    second = poll_tick(now=T0 + timedelta(seconds=61))
    assert sorted(job.trigger_payload["id"] for job in second) == [4, 10]
    assert TriggerState.objects.get(recipe=recipe).cursor == "10"
    assert poll_tick(now=T0 + timedelta(seconds=122)) == []
    assert len(source.calls) == 3
    assert Job.objects.filter(recipe=recipe).count() == 5
    assert PolledItem.objects.filter(recipe=recipe).count() == 5


@pytest.mark.django_db
def test_poll_cursor_waits_for_the_interval_between_polls(source: Source) -> None:
    polling(source)
    source.items(1)
    assert len(poll_tick(now=T0)) == 1
    source.items(1, 2)
    assert poll_tick(now=T0 + timedelta(seconds=30)) == []
    assert len(source.calls) == 1
    assert len(poll_tick(now=T0 + timedelta(seconds=60))) == 1


@pytest.mark.django_db
def test_poll_cursor_keys_are_stored_only_as_blind_indexes(source: Source) -> None:
    _, recipe = polling(source)
    source.answer = {"data": {"items": [{"id": "order-canary-7731"}]}}
    poll_tick(now=T0)
    [item] = PolledItem.objects.filter(recipe=recipe)
    assert "order-canary-7731" not in item.key_index
    with connection.cursor() as cursor:
        cursor.execute("SELECT cursor FROM runs_triggerstate")
        [(stored,)] = cursor.fetchall()
    assert b"order-canary-7731" not in bytes(stored)


@pytest.mark.django_db(transaction=True)
def test_poll_cursor_never_starts_one_item_twice_when_pollers_race(source: Source) -> None:
    _, recipe = polling(source)
    items = [{"id": key} for key in range(1, 9)]
    started: list[Job] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def poller() -> None:
        try:
            state = TriggerState.objects.get_or_create(
                recipe=recipe, defaults={"workspace_id": recipe.workspace_id}
            )[0]
            barrier.wait(timeout=10)
            started.extend(poll_items(recipe=recipe, state=state, items=items, key="id", now=T0))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=poller) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(started) == 8
    assert sorted(job.trigger_payload["id"] for job in Job.objects.filter(recipe=recipe)) == list(range(1, 9))


@pytest.mark.django_db(transaction=True)
def test_poll_cursor_two_concurrent_ticks_poll_once(source: Source) -> None:
    _, recipe = polling(source)
    source.items(1, 2)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def beat() -> None:
        try:
            barrier.wait(timeout=10)
            poll_tick(now=T0)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(source.calls) == 1
    assert Job.objects.filter(recipe=recipe).count() == 2


@pytest.mark.django_db
def test_poll_errors_are_kept_for_the_recipe_readers_and_cleared_by_success(source: Source) -> None:
    found, recipe = polling(source)
    source.status = 500
    source.answer = {"error": "internal detail-canary-5521"}
    assert poll_tick(now=T0) == []
    status = trigger_status(actor=found["operator"], recipe=recipe)
    assert status.trigger_type == "poll"
    assert status.last_error == "127.0.0.1 answered HTTP 500"
    assert "detail-canary-5521" not in (status.last_error or "")
    source.status = 200
    source.answer = {"data": {"nothing": []}}
    poll_tick(now=T0 + timedelta(seconds=60))
    assert (
        trigger_status(actor=found["operator"], recipe=recipe).last_error
        == "no list at 'data.items' in the answer of 127.0.0.1"
    )
    source.items(1)
    assert len(poll_tick(now=T0 + timedelta(seconds=120))) == 1
    status = trigger_status(actor=found["operator"], recipe=recipe)
    assert status.last_error is None and status.last_error_at is None


@pytest.mark.django_db
def test_rule_20_poll_of_a_private_host_is_refused_unless_an_admin_allowed_it(source: Source) -> None:
    found, recipe = polling(source, allow=False)
    source.items(1)
    assert poll_tick(now=T0) == []
    assert source.calls == []
    assert "refused" in (trigger_status(actor=found["operator"], recipe=recipe).last_error or "")
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_poll_headers_carry_a_secret_only_to_its_allowed_hosts(source: Source) -> None:
    from causeway.recipes.secrets import secret_write

    found = people()
    outbound_hosts_set(actor=found["admin"], workspace=found["acme"], hosts=["127.0.0.1"])
    secret_write(
        actor=found["admin"],
        workspace=found["acme"],
        name="SHOP",
        value="shop-canary-0451",
        allowed_hosts=["127.0.0.1"],
    )
    secret_write(
        actor=found["admin"],
        workspace=found["acme"],
        name="ELSEWHERE",
        value="else-canary-9",
        allowed_hosts=["api.example.com"],
    )
    trigger = {"type": "poll", "url": source.url, "items": "data.items", "interval_seconds": 60}
    good = started_recipe(
        found["admin"],
        found["acme"],
        trigger | {"headers": {"Authorization": "Bearer {{ secret.SHOP }}"}},
        name="Good",
    )
    source.items(1)
    assert len(poll_tick(now=T0)) == 1
    assert [call.get("Authorization") for call in source.calls] == ["Bearer shop-canary-0451"]
    bad = started_recipe(
        found["admin"], found["acme"], trigger | {"headers": {"X-Key": "{{ secret.ELSEWHERE }}"}}, name="Bad"
    )
    assert poll_tick(now=T0 + timedelta(seconds=60)) == []
    assert len(source.calls) == 2  # the good recipe's second poll; the bad one sent nothing
    error = trigger_status(actor=found["operator"], recipe=bad).last_error or ""
    assert error.startswith("headers not sent: secret 'ELSEWHERE' may not be sent to 127.0.0.1")
    assert "else-canary-9" not in error
    assert Job.objects.filter(recipe=good).count() == 1
