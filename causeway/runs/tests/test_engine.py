"""The engine runs a job's steps in-process here: real local HTTP servers, a real database.

Local servers are reached only because an Admin allowed 127.0.0.1 through the workspace setting.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from causeway.audit.models import AuditEvent
from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.servers import Answer, Received, http_server
from causeway.recipes.secrets import secret_write
from causeway.recipes.services import lookup_row_get, recipe_create
from causeway.runs.engine import StepFailed, execute
from causeway.runs.models import Job, JobStep, SecretUse
from causeway.tests.at_rest import database_bytes, found_in
from testkit.factories import LookupTableFactory, ProjectFactory
from testkit.personas import cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(settings: Any) -> dict[str, Any]:
    settings.CAUSEWAY_STEP_RETRY_BASE_SECONDS = 0.01
    found = cast("admin")
    admin, workspace = found.people()["admin"], found.workspace
    outbound_hosts_set(actor=admin, workspace=workspace, hosts=["127.0.0.1"])
    project = ProjectFactory.create(actor=admin, workspace=workspace, name="Integrations")
    return {"admin": admin, "workspace": workspace, "project": project}


class Beats:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def make_job(acme: dict[str, Any], steps: list[dict[str, Any]], payload: Any = None, name: str = "R") -> Job:
    recipe = recipe_create(
        actor=acme["admin"],
        workspace=acme["workspace"],
        project=acme["project"],
        name=name,
        definition={"trigger": {"type": "manual"}, "steps": steps},
    )
    return Job.objects.create(
        workspace=acme["workspace"],
        recipe=recipe,
        version=recipe.current_version,
        environment=acme["project"].environment,
        trigger_type="manual",
        is_test=True,
        run_by_user=acme["admin"],
        trigger_payload=payload if payload is not None else {},
    )


def rows(job: Job) -> dict[str, JobStep]:
    return {row.path: row for row in JobStep.objects.filter(job=job).order_by("position")}


def test_map_steps_render_over_trigger_job_and_earlier_steps(acme: dict[str, Any]) -> None:
    job = make_job(
        acme,
        [
            {
                "id": "first",
                "type": "map",
                "fields": {"who": "{{ trigger.name|upper }}", "n": "{{ trigger.n * 2 }}"},
            },
            {
                "id": "second",
                "type": "map",
                "fields": {"text": "{{ steps.first.who }} x{{ steps.first.n }}", "job": "{{ job.id }}"},
            },
        ],
        payload={"name": "ada", "n": 21},
    )
    beats = Beats()
    execute(job, heartbeat=beats)
    found = rows(job)
    assert list(found) == ["first", "second"]
    assert found["first"].output == {"who": "ADA", "n": 42}
    assert found["second"].output == {"text": "ADA x42", "job": str(job.id)}
    assert all(
        r.status == "succeeded" and r.duration_ms is not None and r.attempts == 1 for r in found.values()
    )
    assert found["first"].input == {"fields": {"who": "{{ trigger.name|upper }}", "n": "{{ trigger.n * 2 }}"}}
    assert beats.count >= 2


def test_http_step_sends_the_request_and_records_status_headers_and_body(acme: dict[str, Any]) -> None:
    def answer(got: Received) -> Answer:
        return Answer(
            status=201,
            body={"seen": json.loads(got.body) if got.body else None, "path": got.path},
            headers={"X-Reply": "yes"},
        )

    with http_server(answer) as server:
        job = make_job(
            acme,
            [
                {
                    "id": "create",
                    "type": "http",
                    "method": "POST",
                    "url": server.url + "/items",
                    "headers": {"X-Who": "{{ trigger.who }}"},
                    "query": {"tag": "{{ trigger.tag }}"},
                    "body_type": "json",
                    "body": {"name": "{{ trigger.who }}", "tags": ["{{ trigger.tag }}"], "n": "{{ 1 + 1 }}"},
                },
                {"id": "plain", "type": "http", "url": server.url + "/text", "idempotency_key": False},
            ],
            payload={"who": "ada", "tag": "red"},
        )
        execute(job, heartbeat=Beats())
        first, second = server.received
    assert first.method == "POST"
    assert first.path == "/items?tag=red"
    assert first.headers["X-Who"] == "ada"
    assert first.headers["Idempotency-Key"] == f"{job.id}:create"
    assert "Idempotency-Key" not in second.headers
    found = rows(job)
    output = found["create"].output
    assert output["status"] == 201
    assert output["headers"]["x-reply"] == "yes"
    assert output["body"] == {"seen": {"name": "ada", "tags": ["red"], "n": 2}, "path": "/items?tag=red"}
    assert found["create"].input["body"] == {"name": "ada", "tags": ["red"], "n": 2}
    assert found["create"].input["headers"]["Idempotency-Key"] == f"{job.id}:create"


def test_http_text_answer_is_kept_as_text(acme: dict[str, Any]) -> None:
    with http_server(lambda got: Answer(body="plain words")) as server:
        job = make_job(acme, [{"id": "get", "type": "http", "url": server.url}])
        execute(job, heartbeat=Beats())
    assert rows(job)["get"].output["body"] == "plain words"


def test_a_4xx_fails_the_step_at_once_and_is_not_transient(acme: dict[str, Any]) -> None:
    with http_server(lambda got: Answer(status=404, body={"error": "nope"})) as server:
        job = make_job(acme, [{"id": "get", "type": "http", "url": server.url, "retries": 3}])
        with pytest.raises(StepFailed) as failed:
            execute(job, heartbeat=Beats())
        assert len(server.received) == 1
    assert failed.value.transient is False
    assert "HTTP 404" in failed.value.message
    row = rows(job)["get"]
    assert (row.status, row.attempts) == ("failed", 1)
    assert "HTTP 404" in row.error
    assert row.output["body"] == {"error": "nope"}


@pytest.mark.parametrize("status", [500, 503, 429])
def test_transient_answers_are_retried_with_back_off_then_succeed(acme: dict[str, Any], status: int) -> None:
    calls: list[int] = []

    def flaky(got: Received) -> Answer:
        calls.append(1)
        return Answer(status=status) if len(calls) < 3 else Answer(body={"ok": True})

    with http_server(flaky) as server:
        job = make_job(acme, [{"id": "get", "type": "http", "url": server.url, "retries": 2}])
        beats = Beats()
        execute(job, heartbeat=beats)
        keys = {r.headers["Idempotency-Key"] for r in server.received}
    row = rows(job)["get"]
    assert (row.status, row.attempts, row.output["body"]) == ("succeeded", 3, {"ok": True})
    assert keys == {f"{job.id}:get"}
    assert beats.count >= 4


def test_transient_failures_past_the_retries_fail_the_step_as_transient(acme: dict[str, Any]) -> None:
    with http_server(lambda got: Answer(status=502)) as server:
        job = make_job(acme, [{"id": "get", "type": "http", "url": server.url, "retries": 1}])
        with pytest.raises(StepFailed) as failed:
            execute(job, heartbeat=Beats())
        assert len(server.received) == 2
    assert failed.value.transient is True
    assert rows(job)["get"].attempts == 2


def test_a_refused_destination_fails_the_step(acme: dict[str, Any]) -> None:
    with http_server() as server:
        job = make_job(acme, [{"id": "get", "type": "http", "url": f"http://localhost:{server.port}/"}])
        with pytest.raises(StepFailed, match="loopback") as failed:
            execute(job, heartbeat=Beats())
        assert server.received == []
    assert failed.value.transient is False
    assert rows(job)["get"].status == "failed"


def test_lookup_write_then_read(acme: dict[str, Any]) -> None:
    table = LookupTableFactory.create(
        actor=acme["admin"],
        project=acme["project"],
        name="customers",
        columns=[{"name": "email", "type": "text"}, {"name": "visits", "type": "integer"}],
        key_column="email",
    )
    job = make_job(
        acme,
        [
            {
                "id": "save",
                "type": "lookup_write",
                "table": "customers",
                "key": "{{ trigger.email }}",
                "values": {"visits": "{{ trigger.visits + 1 }}"},
            },
            {"id": "load", "type": "lookup_read", "table": "customers", "key": "{{ trigger.email }}"},
            {"id": "none", "type": "lookup_read", "table": "customers", "key": "nobody@example.com"},
        ],
        payload={"email": "ada@example.com", "visits": 4},
    )
    execute(job, heartbeat=Beats())
    found = rows(job)
    assert found["load"].output == {"found": True, "row": {"email": "ada@example.com", "visits": 5}}
    assert found["none"].output == {"found": False, "row": None}
    assert lookup_row_get(table=table, key="ada@example.com").values["visits"] == 5  # type: ignore[union-attr]
    # A job's writes are in its history, not the audit log.
    assert not AuditEvent.objects.filter(action__startswith="lookup_row.").exists()


def test_a_missing_lookup_table_fails_the_step(acme: dict[str, Any]) -> None:
    job = make_job(acme, [{"id": "load", "type": "lookup_read", "table": "ghost", "key": "k"}])
    with pytest.raises(StepFailed, match="no lookup table named 'ghost'"):
        execute(job, heartbeat=Beats())


def test_condition_and_foreach_nest_and_name_their_steps_by_path(acme: dict[str, Any]) -> None:
    with http_server() as server:
        job = make_job(
            acme,
            [
                {
                    "id": "each",
                    "type": "foreach",
                    "items": "trigger.orders",
                    "as": "order",
                    "steps": [
                        {
                            "id": "big",
                            "type": "condition",
                            "if": "order.total > 100",
                            "then": [
                                {
                                    "id": "notify",
                                    "type": "http",
                                    "url": server.url + "/big/{{ order.id }}?i={{ loop.index }}",
                                }
                            ],
                            "else": [{"id": "small", "type": "map", "fields": {"id": "{{ order.id }}"}}],
                        },
                        {
                            "id": "inner",
                            "type": "foreach",
                            "items": "range(order.lines)",
                            "as": "line",
                            "steps": [
                                {"id": "mark", "type": "map", "fields": {"v": "{{ order.id }}-{{ line }}"}}
                            ],
                        },
                    ],
                },
                {"id": "after", "type": "map", "fields": {"count": "{{ steps.each|length }}"}},
            ],
            payload={"orders": [{"id": "a", "total": 500, "lines": 1}, {"id": "b", "total": 5, "lines": 2}]},
        )
        execute(job, heartbeat=Beats())
        assert server.recorder.paths() == ["/big/a?i=0"]
    found = rows(job)
    assert list(found) == [
        "each",
        "each[0].big",
        "each[0].notify",
        "each[0].inner",
        "each[0].inner[0].mark",
        "each[1].big",
        "each[1].small",
        "each[1].inner",
        "each[1].inner[0].mark",
        "each[1].inner[1].mark",
        "after",
    ]
    assert found["each[1].inner[1].mark"].output == {"v": "b-1"}
    assert found["each[0].big"].output == {"value": True, "branch": "then"}
    assert found["after"].output == {"count": 2}
    assert found["each"].output[1]["small"] == {"id": "b"}
    assert found["each"].input == {"items": "trigger.orders", "count": 2}


def test_stop_fails_the_job_with_its_message(acme: dict[str, Any]) -> None:
    job = make_job(
        acme,
        [
            {
                "id": "check",
                "type": "condition",
                "if": "not trigger.ok",
                "then": [{"id": "halt", "type": "stop", "message": "order {{ trigger.id }} is not ok"}],
            },
            {"id": "never", "type": "map", "fields": {"x": "1"}},
        ],
        payload={"ok": False, "id": 9},
    )
    with pytest.raises(StepFailed) as failed:
        execute(job, heartbeat=Beats())
    assert failed.value.message == "order 9 is not ok"
    assert failed.value.transient is False
    found = rows(job)
    assert found["halt"].status == "failed"
    assert found["halt"].error == "order 9 is not ok"
    assert "never" not in found


def test_a_template_error_fails_the_step_and_names_the_field(acme: dict[str, Any]) -> None:
    job = make_job(acme, [{"id": "m", "type": "map", "fields": {"x": "{{ trigger.__class__ }}"}}])
    with pytest.raises(StepFailed, match=r"fields\.x: access to '__class__' is not allowed"):
        execute(job, heartbeat=Beats())


def test_resume_skips_succeeded_steps_and_each_idempotency_key_reaches_the_server_once(
    acme: dict[str, Any],
) -> None:
    broken = threading.Event()
    broken.set()

    def answer(got: Received) -> Answer:
        if got.path.startswith("/second") and broken.is_set():
            return Answer(status=503)
        return Answer(body={"path": got.path})

    with http_server(answer) as server:
        job = make_job(
            acme,
            [
                {"id": "first", "type": "http", "method": "POST", "url": server.url + "/first"},
                {
                    "id": "each",
                    "type": "foreach",
                    "items": "[1, 2]",
                    "steps": [
                        {
                            "id": "call",
                            "type": "http",
                            "method": "POST",
                            "url": server.url + "/each/{{ item }}",
                        }
                    ],
                },
                {
                    "id": "second",
                    "type": "http",
                    "method": "POST",
                    "url": server.url + "/second",
                    "retries": 0,
                },
                {"id": "last", "type": "map", "fields": {"from_first": "{{ steps.first.body.path }}"}},
            ],
        )
        with pytest.raises(StepFailed) as failed:
            execute(job, heartbeat=Beats())
        assert failed.value.transient is True
        assert rows(job)["second"].status == "failed"
        broken.clear()
        execute(job, heartbeat=Beats())
        received = server.received
    keys = [r.headers["Idempotency-Key"] for r in received]
    assert keys.count(f"{job.id}:first") == 1
    assert keys.count(f"{job.id}:each[0].call") == 1
    assert keys.count(f"{job.id}:each[1].call") == 1
    assert keys.count(f"{job.id}:second") == 2  # the failed try, then the resumed one: the same key
    found = rows(job)
    assert found["second"].status == "succeeded"
    assert found["second"].attempts == 2
    assert found["first"].attempts == 1
    assert found["last"].output == {"from_first": "/first"}


def test_resume_after_a_worker_died_mid_loop(acme: dict[str, Any]) -> None:
    with http_server() as server:
        job = make_job(
            acme,
            [
                {
                    "id": "each",
                    "type": "foreach",
                    "items": "[1, 2, 3]",
                    "steps": [{"id": "call", "type": "http", "url": server.url + "/{{ item }}"}],
                }
            ],
        )
        execute(job, heartbeat=Beats())
        # As a worker that died during the last iteration leaves it: the loop and that step running.
        JobStep.objects.filter(job=job, path__in=["each", "each[2].call"]).update(status="running")
        execute(job, heartbeat=Beats())
        assert server.recorder.paths() == ["/1", "/2", "/3", "/3"]
    found = rows(job)
    assert found["each"].status == "succeeded"
    assert [item["call"]["body"]["path"] for item in found["each"].output] == ["/1", "/2", "/3"]


# Secrets


def canary_forms(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}


def assert_nowhere(canary: str, text: str) -> None:
    for form in canary_forms(canary):
        assert form not in text, form
    assert not found_in(text.encode(), canary)
    assert base64.b64encode(canary.encode()).decode()[:-4] not in text


@pytest.mark.django_db(transaction=True)
def test_rule_13_a_canary_secret_reaches_its_host_and_nothing_else(
    acme: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = f"Cnry{uuid.uuid4().hex}+k/="
    secret_write(
        actor=acme["admin"],
        workspace=acme["workspace"],
        name="API_TOKEN",
        value=canary,
        allowed_hosts=["127.0.0.1"],
    )

    def echo(got: Received) -> Answer:
        # A server that echoes what it was sent: the answer holds the secret too.
        return Answer(body={"headers": got.headers, "body": got.body.decode()})

    with http_server(echo) as server:
        job = make_job(
            acme,
            [
                {
                    "id": "call",
                    "type": "http",
                    "method": "POST",
                    "url": server.url + "/api",
                    "headers": {"Authorization": "Bearer {{ secret.API_TOKEN }}"},
                    "query": {"sig": "{{ secret.API_TOKEN }}"},
                    "body_type": "json",
                    "body": {"token": "{{ secret['API_TOKEN'] }}", "note": "plain"},
                },
                {
                    "id": "after",
                    "type": "map",
                    "fields": {"echo": "{{ steps.call.body.headers.Authorization }}"},
                },
            ],
        )
        execute(job, heartbeat=Beats())
        [got] = server.received
    assert got.headers["Authorization"] == f"Bearer {canary}"
    assert json.loads(got.body)["token"] == canary
    assert quote_plus(canary) in got.path

    history = JobStep.objects.filter(job=job)
    opened = json.dumps([[r.input, r.output, r.error] for r in history])
    assert "[masked:API_TOKEN]" in opened
    assert_nowhere(canary, opened)
    assert rows(job)["after"].output == {"echo": "Bearer [masked:API_TOKEN]"}
    uses = list(SecretUse.objects.filter(job=job).values())
    assert [(u["secret_name"], u["host"], u["allowed"], u["step_path"]) for u in uses] == [
        ("API_TOKEN", "127.0.0.1", True, "call")
    ]
    assert_nowhere(canary, json.dumps(uses, default=str))
    events = [
        json.dumps([e.details, e.target_label, e.actor_label, e.user_agent, e.action], default=str)
        for e in AuditEvent.objects.all()
    ]
    assert any("secret.used" in e for e in events)
    assert_nowhere(canary, "\n".join(events))
    assert_nowhere(canary, caplog.text)
    # At rest: the job's history, its secret uses and the audit log hold no plaintext.
    stored = database_bytes()
    assert found_in(stored, "API_TOKEN")  # positive control: the name is stored in plain (SecretUse)
    assert not found_in(stored, canary)
    assert not found_in(stored, "[masked:API_TOKEN]")  # history is sealed, masked text included


def test_rule_13_a_canary_echoed_in_a_failing_answer_stays_out_of_history_and_errors(
    acme: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = f"Cnry{uuid.uuid4().hex}"
    secret_write(
        actor=acme["admin"],
        workspace=acme["workspace"],
        name="KEY",
        value=canary,
        allowed_hosts=["127.0.0.1"],
    )

    def refuse(got: Received) -> Answer:
        status = 400 if got.path.startswith("/bad") else 503
        return Answer(status=status, body=f"denied key {got.headers.get('X-Key')}")

    with http_server(refuse) as server:
        for path, transient in (("/bad", False), ("/busy", True)):
            job = make_job(
                acme,
                [
                    {
                        "id": "call",
                        "type": "http",
                        "url": server.url + path,
                        "retries": 1,
                        "headers": {"X-Key": "{{ secret.KEY }}"},
                    }
                ],
                name=f"R{path}",
            )
            with pytest.raises(StepFailed) as failed:
                execute(job, heartbeat=Beats())
            assert failed.value.transient is transient
            row = rows(job)["call"]
            assert row.output["body"] == "denied key [masked:KEY]"
            assert_nowhere(canary, json.dumps([row.input, row.output, row.error, failed.value.message]))
        assert all(r.headers["X-Key"] == canary for r in server.received)
    assert_nowhere(canary, caplog.text)


def test_a_secret_whose_allowed_hosts_exclude_the_destination_is_refused_and_recorded(
    acme: dict[str, Any],
) -> None:
    canary = f"Cnry{uuid.uuid4().hex}"
    secret_write(
        actor=acme["admin"],
        workspace=acme["workspace"],
        name="GH",
        value=canary,
        allowed_hosts=["api.github.com"],
    )
    with http_server() as server:
        job = make_job(
            acme,
            [
                {
                    "id": "call",
                    "type": "http",
                    "url": server.url,
                    "headers": {"Authorization": "{{ secret.GH }}"},
                }
            ],
        )
        with pytest.raises(StepFailed, match=r"may not be sent to 127\.0\.0\.1") as failed:
            execute(job, heartbeat=Beats())
        assert server.received == []
    assert failed.value.transient is False
    [use] = SecretUse.objects.filter(job=job)
    assert (use.secret_name, use.host, use.allowed, use.step_path) == ("GH", "127.0.0.1", False, "call")
    assert AuditEvent.objects.filter(action="secret.use_refused").count() == 1
    row = rows(job)["call"]
    assert row.status == "failed"
    assert canary not in (row.error or "")


def test_an_unknown_secret_is_refused_and_recorded(acme: dict[str, Any]) -> None:
    with http_server() as server:
        job = make_job(
            acme, [{"id": "call", "type": "http", "url": server.url, "headers": {"X": "{{ secret.NOPE }}"}}]
        )
        with pytest.raises(StepFailed, match="no secret named 'NOPE'"):
            execute(job, heartbeat=Beats())
        assert server.received == []
    assert SecretUse.objects.get(job=job).allowed is False


def _in_caller(steps: list[dict[str, Any]], within: float = 30) -> bool:
    from causeway.recipes.definition import definition_load
    from causeway.runs.engine import runs_in_caller

    return runs_in_caller(definition_load({"trigger": {"type": "webhook"}, "steps": steps}), within)


def _http(**settings: Any) -> dict[str, Any]:
    return {"id": f"call{uuid.uuid4().hex[:6]}", "type": "http", "url": "https://example.com", **settings}


def test_light_steps_and_single_try_calls_within_the_wait_run_in_the_callers_thread() -> None:
    light = [
        {"id": "shape", "type": "map", "fields": {"a": "{{ trigger.a }}"}},
        {"id": "pick", "type": "condition", "if": "{{ steps.shape.a }}", "then": [], "else": []},
        {"id": "answer", "type": "respond", "body": {"a": "{{ steps.shape.a }}"}},
    ]
    assert _in_caller(light)
    assert _in_caller([{"id": "halt", "type": "stop", "message": "no"}], within=1)
    assert _in_caller([_http(retries=0, timeout_seconds=10), _http(retries=0, timeout_seconds=20)], within=30)
    # The calls' time-outs add up past the wait: the caller would wait longer than the recipe says.
    assert not _in_caller([_http(retries=0, timeout_seconds=10), _http(retries=0, timeout_seconds=21)])
    assert not _in_caller([_http(retries=0, timeout_seconds=30)], within=1)
    # Inside a condition's branches, every call counts.
    branch = {
        "id": "pick",
        "type": "condition",
        "if": "{{ 1 }}",
        "then": [_http(retries=0, timeout_seconds=20)],
    }
    assert _in_caller([branch], within=20)
    assert not _in_caller([{**branch, "else": [_http(retries=0, timeout_seconds=20)]}], within=30)


def test_retried_calls_loops_connector_actions_and_calls_after_the_answer_run_in_a_job_thread() -> None:
    # A retry may wait out the target's Retry-After, up to a minute.
    assert not _in_caller([_http(retries=1, timeout_seconds=1)], within=300)
    assert not _in_caller([{"id": "each", "type": "foreach", "items": "{{ trigger.items }}", "steps": []}])
    assert not _in_caller(
        [{"id": "act", "type": "connector", "connection": "c", "action": "get"}], within=300
    )
    # The answer is sent as soon as the respond step has run; a call after it must not hold it back.
    answered_then_called = [
        {"id": "answer", "type": "respond", "body": {}},
        _http(retries=0, timeout_seconds=1),
    ]
    assert not _in_caller(answered_then_called)
    assert _in_caller(list(reversed(answered_then_called)))
