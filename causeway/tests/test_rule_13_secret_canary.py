"""Rule 13 end to end: a canary secret set through the API, then carried through failing requests to a real
`causeway web` process and through a worker-side refused use, surfaces nowhere.

Nowhere means: no line of the web process's log (Django's and gunicorn's, access log included), no record
this process logged, no page or API answer, no audit event (every column, as the application reads it) and
no byte of the audit table as the database holds it. Each in every form the canary can take: raw,
URL-encoded, JSON-, HTML- and Python-escaped, decoded by each of those once or twice over, and base64 at
any alignment (found by decoding every base64-looking run).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

import httpx
import pytest
from django.db import connection

from causeway.audit.models import AuditEvent
from causeway.recipes.secrets import secret_use_for_destination
from causeway.vault.masking import attach_masking_filter, registry
from causeway.vault.secrets import SecretRefusedError
from causeway.workspaces.tokens import token_create
from testkit.support import (
    STRONG_PASSWORD,
    TEST_HOME,
    RunningServer,
    field_errors,
    make_user,
    make_workspace,
)

# Characters that URL-encoding, JSON and HTML each change; no slash, so that it fits in one path segment,
# and no single quote or backslash (which a Python repr in an error message would escape into a form no
# client sends).
CANARY = f'cnry:{uuid.uuid4().hex[:12]}+Vault "k" é=&?x'


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def canary_forms(value: str) -> set[str]:
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value)}
    forms |= {_lower_hex(form) for form in forms}
    for escaped in (json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
        forms |= {escaped, escaped.replace("/", "\\/")}
    # As a page shows it.
    forms |= {html.escape(value), html.escape(value, quote=False)}
    # As Python escapes it: Django logs every refused request's path this way.
    forms |= {value.encode("unicode_escape").decode("ascii"), repr(value)[1:-1], ascii(value)[1:-1]}
    return forms


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}")


def hidden_in_base64(text: str, value: bytes) -> list[str]:
    """The base64-looking runs of text that decode (at some alignment, in either alphabet) to value."""
    found = []
    for run in _BASE64_RUN.findall(text):
        standard = run.replace("-", "+").replace("_", "/")
        for start in range(4):
            piece = standard[start:]
            piece = piece[: len(piece) - len(piece) % 4]
            if value in base64.b64decode(piece, validate=False):
                found.append(run)
                break
    return found


def _python_unescape(text: str) -> str:
    # Arbitrary text (stored bytes read as latin-1) holds backslashes Python would not write: ignore them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape", errors="replace")


_DECODERS = (unquote, unquote_plus, html.unescape, _python_unescape, lambda t: t.replace("\\/", "/"))


def decoded_views(text: str) -> set[str]:
    """text, and text decoded once and twice by every decoder: a form nobody listed still shows up."""
    views = {text}
    for _ in range(2):
        views |= {decode(view) for view in views for decode in _DECODERS}
    return views


def assert_clean(where: str, text: str) -> None:
    for form in canary_forms(CANARY):
        assert form not in text, f"the canary ({form!r}) surfaced in {where}"
    for view in decoded_views(text):
        assert CANARY not in view, f"the canary surfaced in {where}, in a form that decodes to it"
    assert hidden_in_base64(text, CANARY.encode()) == [], f"the canary surfaced base64-encoded in {where}"


def assert_clean_bytes(where: str, data: bytes) -> None:
    for form in canary_forms(CANARY):
        assert form.encode() not in data, f"the canary ({form!r}) surfaced in {where}"
    assert_clean(where, data.decode("latin-1"))


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert found is not None, "the page carries a CSRF token"
    return found.group(1)


class WebLog:
    """What the web process writes to its log from now on; `until` waits for a marker line to arrive."""

    def __init__(self, server: RunningServer) -> None:
        port = urlsplit(server.url).port
        self.path = Path(TEST_HOME / f"web-{port}.log")
        self.start = self.path.stat().st_size

    def text(self) -> str:
        with self.path.open("rb") as log:
            log.seek(self.start)
            return log.read().decode("utf-8", errors="replace")

    def until(self, marker: str, timeout: float = 20.0) -> str:
        import time

        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if marker in text or time.monotonic() > deadline:
                assert marker in text, f"the web process did not log {marker} within {timeout}s"
                return text
            time.sleep(0.05)


@pytest.fixture
def worker_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """This process as a worker: every handler, caplog's too, carries the masking filter (as in Celery)."""
    caplog.set_level(logging.DEBUG)
    attach_masking_filter()
    yield caplog


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_rule_13_a_canary_secret_surfaces_nowhere_after_failing_requests(
    https_server: RunningServer, transactional_db: Any, worker_logs: pytest.LogCaptureFixture
) -> None:
    admin = make_user("admin@example.com")
    operator = make_user("operator@example.com")
    acme = make_workspace("Acme", members={admin: "admin", operator: "operator"})
    _, admin_token = token_create(actor=admin, name="canary", expires_in_days=1)
    _, operator_token = token_create(actor=operator, name="canary", expires_in_days=1)
    log = WebLog(https_server)
    base = https_server.url
    secrets_api = f"{base}/api/v1/workspaces/{acme.id}/secrets"
    answers: list[httpx.Response] = []

    with httpx.Client(verify=False, timeout=20) as http:  # noqa: S501  # nosec B501 - a test certificate
        as_admin = {"Authorization": f"Bearer {admin_token}"}
        as_operator = {"Authorization": f"Bearer {operator_token}"}

        def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
            answer = http.request(method, url, **kwargs)
            answers.append(answer)
            return answer

        created = call(
            "PUT",
            f"{secrets_api}/CANARY",
            headers=as_admin,
            json={"value": CANARY, "allowed_hosts": ["api.example.com"]},
        )
        assert created.status_code == 201
        assert created.json()["name"] == "CANARY"

        # In a request body that does not parse, and in one whose fields are wrong.
        broken = call(
            "PUT",
            f"{secrets_api}/OTHER",
            headers={**as_admin, "Content-Type": "application/json"},
            content=b'{"value": ' + json.dumps(CANARY).encode() + b", ",
        )
        assert broken.status_code in (400, 422)
        blob = base64.b64encode(b"x" + CANARY.encode()).decode()
        wrong = call(
            "PUT", f"{secrets_api}/OTHER", headers=as_admin, json={"value": 5, "note": CANARY, "blob": blob}
        )
        assert wrong.status_code == 422
        # In a page form, through a signed-in browser session: a value pasted into the name field.
        login = http.get(f"{base}/login")
        signed_in = http.post(
            f"{base}/login",
            data={
                "username": admin.email,
                "password": STRONG_PASSWORD,
                "csrfmiddlewaretoken": csrf_of(login.text),
            },
            headers={"Origin": base},
        )
        assert (signed_in.status_code, signed_in.headers["location"]) == (302, "/")
        vault_page = http.get(f"{base}/w/acme/vault")
        assert vault_page.status_code == 200
        page_form = call(
            "POST",
            f"{base}/w/acme/vault/set",
            data={
                "form": "new",
                "name": CANARY,
                "value": CANARY,
                "csrfmiddlewaretoken": csrf_of(vault_page.text),
            },
            headers={"Origin": base},
        )
        assert page_form.status_code == 400
        assert field_errors(page_form.text, "name")[0].startswith("a secret name starts with a letter")
        assert "[masked:CANARY]" in page_form.text
        http.cookies.clear()
        # As a query parameter, form-encoded and percent-encoded, on answers that fail.
        assert call(
            "GET", f"{base}/w/acme/no-such-page?api_key={quote_plus(CANARY)}", headers=as_admin
        ).status_code in (
            302,
            404,
        )
        since = call(
            "GET",
            f"{base}/api/v1/workspaces/{acme.id}/audit-events?since={quote(CANARY, safe='')}",
            headers=as_admin,
        )
        assert since.status_code == 422
        # As part of a URL path: escaped whole, and as a browser writes a path (leaving "+=&:" as they are).
        browser_path = quote(CANARY, safe=":+=&")
        assert call("GET", f"{base}/w/acme/{browser_path}").status_code == 404
        assert call("GET", f"{base}/api/v1/{quote(CANARY, safe='')}/x", headers=as_admin).status_code == 404
        assert call("DELETE", f"{secrets_api}/{quote(CANARY, safe='')}", headers=as_admin).status_code == 404
        assert call("GET", f"{base}/w/{quote(CANARY, safe='')}/vault").status_code in (302, 404)
        # Refused for lack of permission: the refusal is audited with the path it came on.
        denied = call("DELETE", f"{secrets_api}/{quote(CANARY, safe='')}", headers=as_operator)
        assert (denied.status_code, denied.json()["permission"]) == (403, "vault:secret:manage")
        # An API call that fails with a 400 whose message quotes the input.
        quoted = call(
            "PUT",
            f"{secrets_api}/OTHER",
            headers=as_admin,
            json={"value": "x-1234", "allowed_hosts": [CANARY]},
        )
        assert quoted.status_code == 400
        assert quoted.json()["detail"].startswith("allowed_hosts: ")
        assert "[masked:CANARY]" in quoted.json()["detail"]
        # As a bearer token and inside basic credentials.
        basic = base64.b64encode(f"user:{CANARY}".encode()).decode()
        assert (
            call("GET", secrets_api, headers={"Authorization": f"Bearer {CANARY}".encode()}).status_code
            == 401
        )
        assert call("GET", secrets_api, headers={"Authorization": f"Basic {basic}"}).status_code == 401

        marker = f"end-of-canary-{uuid.uuid4().hex}"
        # The access log keeps paths, not query strings: the marker travels as a path.
        assert http.get(f"{base}/{marker}").status_code == 404
        # The access log line is written after the answer, and after Django's own "Not Found" warning,
        # which names the marker too: wait for the access line itself.
        web_log = log.until("GET /" + marker)

    # Worker side, in a process that never saw the secret being set: a step tries to send it elsewhere.
    # (What this process logged so far was the test acting as an HTTP client, not as Causeway.)
    worker_logs.clear()
    registry.clear()
    worker = logging.getLogger("causeway.runs.worker")
    with pytest.raises(SecretRefusedError) as refused:
        secret_use_for_destination(
            actor=None,
            workspace_id=acme.id,
            name="CANARY",
            host="collector.evil.example",
            context={"job": "job-1", "step": "3"},
        )
    assert "may not be sent to collector.evil.example: it may go only to api.example.com" in str(
        refused.value
    )
    worker.error("step 3 failed: %s", refused.value)
    # What a careless connector might log once the refusal is reported:
    worker.warning("step 3 headers were %s", json.dumps({"Authorization": f"Bearer {CANARY}"}))
    worker.warning("step 3 basic credentials %s", basic)

    assert "GET /" + marker in web_log, "the access log is part of what is checked"
    assert "[masked:CANARY]" in web_log, "the canary reached the web process's log and was masked there"
    assert_clean("the web process's log", web_log)

    worker_text = "\n".join(record.getMessage() for record in worker_logs.records) + worker_logs.text
    assert "[masked:CANARY]" in worker_text
    assert_clean("this process's log records", worker_text)

    for answer in answers:
        assert_clean(f"the answer to {answer.request.method} {answer.request.url.path}", answer.text)
        assert_clean(f"the headers of {answer.request.url.path}", json.dumps(dict(answer.headers)))

    events = list(AuditEvent.objects.order_by("chain", "seq"))
    actions = [event.action for event in events]
    assert {"secret.created", "access.denied", "secret.use_refused"} <= set(actions)
    for event in events:
        readable = {
            field.attname: getattr(event, field.attname) for field in AuditEvent._meta.concrete_fields
        }
        assert_clean(f"audit event {event.action}", json.dumps(readable, default=str, ensure_ascii=False))
    refused_use = next(event for event in events if event.action == "secret.use_refused")
    assert refused_use.details == {"job": "job-1", "step": "3", "host": "collector.evil.example"}

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_auditevent")
        rows = cursor.fetchall()
    assert len(rows) == len(events)
    raw = b"".join(
        bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        for row in rows
        for value in row
    )
    assert_clean_bytes("the audit table's stored bytes", raw)
