"""Connectors' webhook triggers, through the HTTP/REST connector's `signed_webhook` (HMAC-SHA256 under the
recipe's signing secret): a call signed as the trigger says starts one job; anything else is refused 401
with its reason, audited, and starts none. Calls go over HTTPS through Django's test client, as the other
webhook tests' do, to `/hooks/connector/<token>`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from causeway.audit.models import AuditEvent, Outcome
from causeway.connections import services as connections
from causeway.connections.models import ConnectionUse
from causeway.logfilters import redact_url_secrets
from causeway.recipes.services import recipe_save, recipe_stop
from causeway.runs import webhooks
from causeway.runs.models import Job, TriggerState, WebhookDelivery, WebhookEndpoint
from causeway.runs.tests.trigger_helpers import people as cast_people
from causeway.runs.tests.trigger_helpers import started_recipe
from causeway.runs.triggers import poll_tick, recipe_start, trigger_status
from causeway.tests.at_rest import database_bytes, found_in
from testkit.support import https_client

pytestmark = pytest.mark.django_db

SECRET_HEADER = "HTTP_X_SIGNATURE_256"


def _sign(secret: str, message: bytes, encoding: str = "hex") -> str:
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


@pytest.fixture
def people() -> dict[str, Any]:
    found = cast_people()
    connections.connector_enable(actor=found["admin"], workspace=found["acme"], key="http", enabled=True)
    return found


def hooked(people: dict[str, Any], owner: str = "admin", **given: Any) -> dict[str, Any]:
    connection = connections.connection_create(
        actor=people[owner],
        workspace=people["acme"],
        kind="personal",
        connector_key="http",
        name=f"Shop of {owner}",
        auth_method="none",
        settings={"base_url": "https://shop.example.com"},
    )
    trigger = {
        "type": "connector",
        "connection": str(connection.id),
        "trigger": "signed_webhook",
        "input": given,
    }
    recipe = started_recipe(people[owner], people["acme"], trigger)
    endpoint = WebhookEndpoint.objects.get(recipe=recipe)
    return {
        "recipe": recipe,
        "endpoint": endpoint,
        "secret": endpoint.signing_secret,
        "connection": connection,
    }


def post(endpoint: WebhookEndpoint, body: bytes, **headers: str) -> Any:
    return https_client().post(
        f"/hooks/connector/{endpoint.token}", body, content_type="application/json", **headers
    )


def refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="webhook.refused").order_by("seq"))


def test_connector_webhook_signed_call_starts_a_job_with_the_body_and_headers(people: dict[str, Any]) -> None:
    hook = hooked(people)
    body = json.dumps({"order": 42}).encode()
    answer = post(
        hook["endpoint"],
        body,
        HTTP_X_SIGNATURE_256="sha256=" + _sign(hook["secret"], body),
        HTTP_X_SHOP_TOPIC="orders/paid",
    )
    assert answer.status_code == 202, answer.content
    job = Job.objects.get(pk=answer.json()["job"])
    assert (job.recipe_id, job.trigger_type) == (hook["recipe"].id, "webhook")
    assert job.trigger_payload["body"] == {"order": 42}
    headers = job.trigger_payload["headers"]
    assert headers["x-shop-topic"] == "orders/paid"
    assert "x-signature-256" not in headers
    # Its jobs run for the person who saved the version, as a poll's do.
    assert job.version.created_by_id == people["admin"].id
    assert refusals() == []


def test_connector_webhook_url_is_shown_on_the_page_api_and_cli(people: dict[str, Any]) -> None:
    hook = hooked(people)
    token = hook["endpoint"].token
    info = webhooks.webhook_info(actor=people["admin"], recipe=hook["recipe"])
    assert info.path == f"/hooks/connector/{token}"
    assert info.trigger_is_webhook and info.connector_signed
    client = https_client()
    client.force_login(people["admin"])
    page = client.get(f"/w/{people['acme'].slug}/recipes/{hook['recipe'].id}/webhook")
    assert page.status_code == 200
    assert f"/hooks/connector/{token}" in page.content.decode()
    assert 'id="connector-signed"' in page.content.decode()
    api = client.get(f"/api/v1/workspaces/{people['acme'].id}/recipes/{hook['recipe'].id}/webhook")
    assert api.status_code == 200
    assert api.json()["url"].endswith(f"/hooks/connector/{token}") and api.json()["connector_signed"] is True
    out = StringIO()
    call_command("recipes", "webhook", "--workspace", people["acme"].slug, str(hook["recipe"].id), stdout=out)
    assert f"/hooks/connector/{token}" in out.getvalue() and "the trigger's connector" in out.getvalue()
    assert hook["secret"] not in page.content.decode() + api.content.decode() + out.getvalue()
    # Logs never carry the token of a connector webhook's URL.
    assert token not in redact_url_secrets(f"POST /hooks/connector/{token} HTTP/1.1")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing", "missing X-Signature-256 header"),
        ("no prefix", "malformed X-Signature-256 header"),
        ("wrong secret", "does not match"),
        ("other body", "does not match"),
    ],
)
def test_connector_webhook_bad_signatures_are_refused_401_audited_and_start_no_job(
    people: dict[str, Any], case: str, reason: str
) -> None:
    hook = hooked(people)
    body = json.dumps({"order": 42}).encode()
    signature = {
        "missing": None,
        "no prefix": _sign(hook["secret"], body),
        "wrong secret": "sha256=" + _sign("not-the-secret", body),
        "other body": "sha256=" + _sign(hook["secret"], b'{"order": 1}'),
    }[case]
    answer = post(hook["endpoint"], body, **({SECRET_HEADER: signature} if signature else {}))
    assert answer.status_code == 401
    assert reason in answer.json()["detail"]
    assert Job.objects.count() == 0
    [event] = refusals()
    assert event.outcome == Outcome.DENIED
    assert (event.workspace_id, event.target_id) == (people["acme"].id, str(hook["recipe"].id))
    assert reason in event.details["reason"]
    recorded = json.dumps(event.details) + event.target_label
    assert hook["secret"] not in recorded and "order" not in recorded
    if signature:
        assert signature not in recorded


def test_connector_webhook_signed_timestamp_outside_the_tolerance_is_refused_and_a_replay_is_refused(
    people: dict[str, Any],
) -> None:
    hook = hooked(people, timestamp_header="X-Timestamp", tolerance_seconds=60)
    body = b'{"event": "paid"}'

    def signed(at: int) -> dict[str, str]:
        message = f"{at}.".encode() + body
        return {SECRET_HEADER: "sha256=" + _sign(hook["secret"], message), "HTTP_X_TIMESTAMP": str(at)}

    now = int(time.time())
    stale = post(hook["endpoint"], body, **signed(now - 120))
    assert stale.status_code == 401 and "60-second tolerance" in stale.json()["detail"]
    unsigned_time = {**signed(now), "HTTP_X_TIMESTAMP": str(now - 1)}
    assert post(hook["endpoint"], body, **unsigned_time).status_code == 401
    missing = {SECRET_HEADER: signed(now)[SECRET_HEADER]}
    assert "X-Timestamp" in post(hook["endpoint"], body, **missing).json()["detail"]
    assert Job.objects.count() == 0
    fresh = signed(now)
    assert post(hook["endpoint"], body, **fresh).status_code == 202
    replayed = post(hook["endpoint"], body, **fresh)
    assert replayed.status_code == 409 and "received before" in replayed.json()["detail"]
    assert Job.objects.count() == 1
    # The first refusal of the interval is audited at once; the others are counted into its closing event.
    [event] = refusals()
    assert "tolerance" in event.details["reason"]


def test_connector_webhook_delivery_id_starts_one_job_and_a_retry_is_answered_with_it(
    people: dict[str, Any],
) -> None:
    hook = hooked(people, delivery_id_header="X-Delivery", signature_prefix="", encoding="base64")
    body = b'{"n": 1}'
    signature = _sign(hook["secret"], body, "base64")
    first = post(hook["endpoint"], body, **{SECRET_HEADER: signature, "HTTP_X_DELIVERY": "d-1"})
    assert first.status_code == 202
    retry = post(hook["endpoint"], body, **{SECRET_HEADER: signature, "HTTP_X_DELIVERY": "d-1"})
    assert (retry.status_code, retry.json()) == (200, first.json())
    other = post(hook["endpoint"], body, **{SECRET_HEADER: signature, "HTTP_X_DELIVERY": "d-2"})
    assert other.status_code == 202 and other.json() != first.json()
    assert post(hook["endpoint"], body, **{SECRET_HEADER: signature}).status_code == 401
    assert Job.objects.count() == 2
    # Kept as a digest: the provider's ids are not stored as sent.
    assert not WebhookDelivery.objects.filter(signature_digest__contains="d-1").exists()


def test_connector_webhook_provider_secret_set_replaces_the_old_and_is_never_shown(
    people: dict[str, Any], tmp_path: Path
) -> None:
    hook = hooked(people)
    body = b'{"n": 1}'
    issued = "shpss_provider-issued-9f3a7c"
    client = https_client()
    client.force_login(people["admin"])
    url = f"/api/v1/workspaces/{people['acme'].id}/recipes/{hook['recipe'].id}/webhook/secret"
    answer = client.put(url, {"secret": issued}, content_type="application/json")
    assert answer.status_code == 200, answer.content
    assert issued not in answer.content.decode()
    assert (
        post(hook["endpoint"], body, **{SECRET_HEADER: "sha256=" + _sign(hook["secret"], body)}).status_code
        == 401
    )
    assert post(hook["endpoint"], body, **{SECRET_HEADER: "sha256=" + _sign(issued, body)}).status_code == 202
    [event] = AuditEvent.objects.filter(action="webhook.secret_set")
    assert issued not in json.dumps(event.details)
    # The page's form sets it too, and says what is wrong under the field.
    page = f"/w/{people['acme'].slug}/recipes/{hook['recipe'].id}/webhook/secret"
    short = client.post(page, {"secret": "short"})
    assert short.status_code == 400 and "8 to 512 characters" in short.content.decode()
    assert client.post(page, {"secret": issued + "-2"}).status_code == 200
    assert post(hook["endpoint"], body, **{SECRET_HEADER: "sha256=" + _sign(issued, body)}).status_code == 401
    bad = client.put(url, {"secret": "has a space"}, content_type="application/json")
    assert bad.status_code == 422 and "secret" in bad.content.decode()
    # The command line reads it from a file, never from its arguments.
    secret_file = tmp_path / "secret"
    secret_file.write_text(issued + "-3\n")
    slug, recipe_id = people["acme"].slug, str(hook["recipe"].id)
    call_command(
        "recipes", "webhook-secret", "--workspace", slug, recipe_id, "--secret-file", str(secret_file)
    )
    # (Another body: with no timestamp or delivery id, the same body is taken once while remembered.)
    later = b'{"n": 2}'
    assert (
        post(hook["endpoint"], later, **{SECRET_HEADER: "sha256=" + _sign(issued + "-3", later)}).status_code
        == 202
    )
    # An Operator may not edit the recipe: refused, nothing changed.
    operator = https_client()
    operator.force_login(people["operator"])
    assert (
        operator.put(url, {"secret": "operator-secret"}, content_type="application/json").status_code == 403
    )
    assert (
        post(
            hook["endpoint"], body, **{SECRET_HEADER: "sha256=" + _sign("operator-secret", body)}
        ).status_code
        == 401
    )


def test_connector_webhook_secret_cannot_be_set_on_causeways_own_webhook(people: dict[str, Any]) -> None:
    recipe = started_recipe(people["admin"], people["acme"], {"type": "webhook"}, name="Own")
    client = https_client()
    client.force_login(people["admin"])
    url = f"/api/v1/workspaces/{people['acme'].id}/recipes/{recipe.id}/webhook/secret"
    answer = client.put(url, {"secret": "chosen-by-me-123"}, content_type="application/json")
    assert answer.status_code == 409
    assert "connector's webhook trigger" in json.dumps(answer.json())
    with pytest.raises(CommandError, match="connector's webhook trigger"):
        call_command(
            "recipes",
            "webhook-secret",
            "--workspace",
            people["acme"].slug,
            str(recipe.id),
            "--secret-file",
            "/dev/null",
        )


def test_rule_06_connector_webhook_of_a_revoked_connection_starts_nothing_and_says_why(
    people: dict[str, Any],
) -> None:
    hook = hooked(people)
    body = b'{"n": 1}'
    signature = {SECRET_HEADER: "sha256=" + _sign(hook["secret"], body)}
    connections.connector_enable(actor=people["admin"], workspace=people["acme"], key="http", enabled=False)
    answer = post(hook["endpoint"], body, **signature)
    assert answer.status_code == 503
    assert "disabled" not in answer.content.decode()
    assert Job.objects.count() == 0
    status = trigger_status(actor=people["admin"], recipe=hook["recipe"])
    assert status.last_error and "disabled" in status.last_error
    connections.connector_enable(actor=people["admin"], workspace=people["acme"], key="http", enabled=True)
    assert post(hook["endpoint"], body, **signature).status_code == 202
    assert trigger_status(actor=people["admin"], recipe=hook["recipe"]).last_error is None


def test_rule_06_connector_webhook_never_uses_someone_elses_personal_connection(
    people: dict[str, Any],
) -> None:
    hook = hooked(people, owner="analyst")
    # The Admin saves a version (so its jobs would run for the Admin) naming the Analyst's connection.
    definition = hook["recipe"].current_version.definition
    recipe_save(actor=people["admin"], recipe=hook["recipe"], definition=definition, message="mine now")
    with pytest.raises(Exception, match="someone else's personal connection"):
        recipe_start(actor=people["admin"], recipe=hook["recipe"])
    body = b'{"n": 1}'
    # The version still started is the Analyst's own: its calls are taken for the Analyst.
    answer = post(hook["endpoint"], body, **{SECRET_HEADER: "sha256=" + _sign(hook["secret"], body)})
    assert answer.status_code == 202
    assert Job.objects.get().version.created_by_id == people["analyst"].id
    assert not ConnectionUse.objects.filter(on_behalf_of=people["admin"], outcome="succeeded").exists()


def test_connector_webhook_of_a_stopped_recipe_or_the_wrong_path_is_not_found(people: dict[str, Any]) -> None:
    hook = hooked(people)
    own = started_recipe(people["admin"], people["acme"], {"type": "webhook"}, name="Own")
    own_token = WebhookEndpoint.objects.get(recipe=own).token
    body = b'{"n": 1}'
    signature = {SECRET_HEADER: "sha256=" + _sign(hook["secret"], body)}
    assert (
        https_client()
        .post(f"/hooks/connector/{own_token}", body, content_type="application/json")
        .status_code
        == 404
    )
    assert (
        https_client()
        .post(f"/hooks/{hook['endpoint'].token}", body, content_type="application/json")
        .status_code
        == 404
    )
    recipe_stop(actor=people["admin"], recipe=hook["recipe"])
    assert post(hook["endpoint"], body, **signature).status_code == 404
    assert Job.objects.count() == 0


def test_connector_webhook_trigger_is_not_polled(people: dict[str, Any]) -> None:
    hook = hooked(people)
    assert poll_tick() == []
    state = TriggerState.objects.filter(recipe=hook["recipe"]).first()
    assert state is None or (state.last_error is None and state.last_polled_at is None)


@pytest.mark.django_db(transaction=True)
def test_rule_13_a_providers_webhook_secret_surfaces_nowhere(
    people: dict[str, Any], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A canary set as a connector webhook's signing secret (API and command line), then used to check
    accepted, refused and replayed calls, is in no answer, page, log record, audit event, job, nor any
    byte of the database."""
    canary = f"whk-cnry/{uuid.uuid4().hex[:12]}+s=&k"
    caplog.set_level(logging.DEBUG)
    hook = hooked(people, delivery_id_header="X-Delivery")
    client = https_client()
    client.force_login(people["admin"])
    api = f"/api/v1/workspaces/{people['acme'].id}/recipes/{hook['recipe'].id}/webhook"
    texts: list[str] = []
    answer = client.put(f"{api}/secret", {"secret": canary}, content_type="application/json")
    assert answer.status_code == 200
    texts.append(answer.content.decode())
    secret_file = tmp_path / "secret"
    secret_file.write_text(canary)
    out = StringIO()
    slug, recipe_id = people["acme"].slug, str(hook["recipe"].id)
    call_command(
        "recipes",
        "webhook-secret",
        "--workspace",
        slug,
        recipe_id,
        "--secret-file",
        str(secret_file),
        stdout=out,
    )
    call_command("recipes", "webhook", "--workspace", slug, recipe_id, stdout=out)
    texts.append(out.getvalue())
    body = b'{"n": 1}'
    good = {SECRET_HEADER: "sha256=" + _sign(canary, body), "HTTP_X_DELIVERY": "d-1"}
    calls = [
        post(hook["endpoint"], body, **good),
        post(hook["endpoint"], body, **good),
        post(hook["endpoint"], b'{"n": 2}', **good),
        post(
            hook["endpoint"],
            body,
            **{SECRET_HEADER: "sha256=" + _sign("wrong", body), "HTTP_X_DELIVERY": "d-2"},
        ),
    ]
    assert [c.status_code for c in calls] == [202, 200, 401, 401]
    texts += [c.content.decode() for c in calls]
    texts.append(client.get(api).content.decode())
    texts.append(client.get(f"/w/{slug}/recipes/{recipe_id}/webhook").content.decode())
    texts += [json.dumps(e.details, default=str) + e.target_label for e in AuditEvent.objects.all()]
    texts += [json.dumps([j.trigger_payload, j.error]) for j in Job.objects.all()]
    texts.append("\n".join(r.getMessage() for r in caplog.records))
    for text in texts:
        assert canary not in text and quote(canary) not in text and json.dumps(canary)[1:-1] not in text
    stored = database_bytes()
    # A positive control: the connection's name is stored as it is, so the scan does read the committed rows.
    assert found_in(stored, "Shop of admin") != []
    assert found_in(stored, canary) == []
