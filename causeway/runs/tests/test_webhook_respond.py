"""Webhooks that answer their caller with the job's result, through a real `causeway web` over HTTPS."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from causeway.connections.outbound import outbound_hosts_set
from causeway.connections.tests.servers import Answer, Received, http_server
from causeway.recipes.services import project_create, recipe_create
from causeway.runs import webhooks
from causeway.runs.models import Job, WebhookEndpoint
from causeway.runs.tests.trigger_helpers import people
from causeway.runs.triggers import recipe_start
from testkit.support import jobs_seen, poll_until

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def respond_recipe(
    place: dict[str, Any], steps: list[dict[str, Any]], **trigger: Any
) -> tuple[WebhookEndpoint, str]:
    admin, workspace = place["admin"], place["acme"]
    outbound_hosts_set(actor=admin, workspace=workspace, hosts=["127.0.0.1"])
    project = project_create(actor=admin, workspace=workspace, name=f"Answers {uuid.uuid4().hex[:6]}")
    recipe = recipe_create(
        actor=admin,
        workspace=workspace,
        project=project,
        name="Answers",
        definition={"trigger": {"type": "webhook", "respond": True, **trigger}, "steps": steps},
    )
    recipe_start(actor=admin, recipe=recipe)
    secret = webhooks.webhook_secret_rotate(actor=admin, recipe=recipe)
    return WebhookEndpoint.objects.get(recipe=recipe), secret


def post(server: Any, endpoint: WebhookEndpoint, secret: str, payload: dict[str, Any]) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        webhooks.SIGNATURE_HEADER: webhooks.sign(secret, int(time.time()), body),
    }
    with httpx.Client(base_url=server.url, verify=False, timeout=60) as http:  # noqa: S501  # nosec B501
        return http.post(f"/hooks/{endpoint.token}", content=body, headers=headers)


@pytest.fixture
def place(transactional_db: None) -> dict[str, Any]:
    return people()


@pytest.fixture
def held() -> Iterator[tuple[Any, threading.Event]]:
    """A local service that holds every call until the test lets it go."""
    release = threading.Event()

    def answer(got: Received) -> Answer:
        release.wait(60)
        return Answer(body={"late": True})

    with http_server(answer) as server:
        yield server, release
        release.set()


def test_webhook_respond_step_answers_the_caller_with_status_headers_and_body_mapped_from_earlier_steps(
    place: dict[str, Any],
    https_server: Any,
) -> None:
    with http_server() as target:
        endpoint, secret = respond_recipe(
            place,
            [
                {"id": "shape", "type": "map", "fields": {"email": "{{ trigger.email | lower }}"}},
                {
                    "id": "send",
                    "type": "http",
                    "method": "POST",
                    "url": target.url + "/contacts",
                    "body_type": "json",
                    "body": {"email": "{{ steps.shape.email }}"},
                },
                {
                    "id": "answer",
                    "type": "respond",
                    "status": "{{ 201 if steps.send.status == 200 else 502 }}",
                    "headers": {"X-Contact": "{{ steps.shape.email }}"},
                    "body": {"created": "{{ steps.shape.email }}", "upstream": "{{ steps.send.status }}"},
                },
            ],
        )
        answer = post(https_server, endpoint, secret, {"email": "Ada@Example.COM"})
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"created": "ada@example.com", "upstream": 200}
    assert answer.headers["X-Contact"] == "ada@example.com"
    assert answer.headers["Content-Type"] == "application/json"
    job = Job.objects.get(pk=answer.headers["X-Causeway-Job"])
    # The answer is also the job's history: the respond step's row holds what was sent.
    finished = poll_until(
        lambda: Job.objects.filter(pk=job.pk, status="succeeded").first(),
        seconds=60,
        what="the job to succeed",
        saw=lambda: jobs_seen([job]),
    )
    assert finished.steps.get(path="answer").output["body"] == {"created": "ada@example.com", "upstream": 200}


def test_webhook_without_a_respond_step_answers_with_the_last_steps_output(
    place: dict[str, Any], https_server: Any
) -> None:
    endpoint, secret = respond_recipe(
        place, [{"id": "shape", "type": "map", "fields": {"total": "{{ trigger.a + trigger.b }}"}}]
    )
    answer = post(https_server, endpoint, secret, {"a": 2, "b": 40})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"total": 42}
    assert Job.objects.get(pk=answer.headers["X-Causeway-Job"]).status == "succeeded"


def test_webhook_past_its_respond_timeout_answers_202_with_the_jobs_url_and_the_job_goes_on(
    place: dict[str, Any], https_server: Any, held: tuple[Any, threading.Event]
) -> None:
    slow, release = held
    endpoint, secret = respond_recipe(
        place,
        [{"id": "wait", "type": "http", "method": "POST", "url": slow.url + "/slow", "retries": 0}],
        respond_timeout_seconds=1,
    )
    answer = post(https_server, endpoint, secret, {"n": 1})
    assert answer.status_code == 202, answer.text
    job = Job.objects.get(pk=answer.json()["job"])
    assert answer.json()["url"].endswith(f"/api/v1/workspaces/{job.workspace_id}/jobs/{job.id}")
    assert job.status in ("queued", "running")
    release.set()
    done = poll_until(
        lambda: Job.objects.filter(pk=job.pk, status="succeeded").first(),
        seconds=60,
        what="the job to succeed",
        saw=lambda: jobs_seen([job]),
    )
    assert done.steps.get(path="wait").output["body"] == {"late": True}


def test_webhook_whose_job_fails_answers_500_without_the_reason(
    place: dict[str, Any], https_server: Any
) -> None:
    endpoint, secret = respond_recipe(
        place, [{"id": "halt", "type": "stop", "message": "no {{ trigger.n }}"}]
    )
    answer = post(https_server, endpoint, secret, {"n": 7})
    assert answer.status_code == 500, answer.text
    assert answer.json()["status"] == "failed"
    assert "no 7" not in answer.text
    assert Job.objects.get(pk=answer.json()["job"]).error == "no 7"


def test_webhook_respond_step_may_not_set_cookies_or_redirect(
    place: dict[str, Any], https_server: Any
) -> None:
    endpoint, secret = respond_recipe(
        place,
        [{"id": "answer", "type": "respond", "headers": {"Set-Cookie": "session=stolen"}, "body": {"a": 1}}],
    )
    refused = post(https_server, endpoint, secret, {})
    assert refused.status_code == 500
    assert "set-cookie" not in {name.lower() for name in refused.headers}
    job = Job.objects.get(pk=refused.json()["job"])
    assert "not a header a recipe may set" in (job.error or "")

    endpoint, secret = respond_recipe(
        place, [{"id": "answer", "type": "respond", "status": "302", "body": ""}]
    )
    redirect = post(https_server, endpoint, secret, {})
    assert redirect.status_code == 500
    assert "location" not in {name.lower() for name in redirect.headers}


def test_webhook_whose_steps_cannot_outlast_the_wait_is_answered_while_every_job_thread_is_busy(
    place: dict[str, Any], https_server: Any
) -> None:
    from django.conf import settings

    release = threading.Event()
    arrived: list[float] = []

    def hold(got: Received) -> Answer:
        arrived.append(got.at)
        release.wait(60)
        return Answer(body={"late": True})

    with http_server(hold) as slow:
        busy, busy_secret = respond_recipe(
            place,
            [{"id": "wait", "type": "http", "method": "POST", "url": slow.url + "/slow", "retries": 0}],
            respond_timeout_seconds=1,
        )
        quick, quick_secret = respond_recipe(
            place,
            [{"id": "shape", "type": "map", "fields": {"total": "{{ trigger.a + trigger.b }}"}}],
            respond_timeout_seconds=10,
        )
        callers = [
            threading.Thread(target=post, args=(https_server, busy, busy_secret, {"n": n}))
            for n in range(settings.JOB_THREADS)
        ]
        try:
            for caller in callers:
                caller.start()
            # Every job thread of the web process now waits on the held calls.
            poll_until(lambda: len(arrived) >= settings.JOB_THREADS, seconds=60, what="every job thread busy")
            answer = post(https_server, quick, quick_secret, {"a": 2, "b": 40})
            assert len(arrived) == settings.JOB_THREADS
        finally:
            release.set()
            for caller in callers:
                caller.join(60)
    # Answered by the job, run in the call's own thread, not the 202 of a job left queued behind the others.
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"total": 42}
    job = Job.objects.get(pk=answer.headers["X-Causeway-Job"])
    # Claimed, leased and finished as any job is, its history written.
    assert job.status == "succeeded"
    assert job.attempts == 1
    assert job.lease_expires_at is None
    assert job.steps.get(path="shape").output == {"total": 42}
