"""HTTP/REST: any JSON or text API under one base URL, with no auth, an API key, Basic or a bearer token.

Reading (GET) needs the `read` scope; changing (POST, PUT, PATCH, DELETE) needs `write`. A path is
always joined under the connection's base URL, so a recipe cannot send the connection's credentials to
another host by writing a full URL or climbing out with `..`.

Its `signed_webhook` trigger receives calls signed with HMAC-SHA256 under the recipe's webhook signing
secret, as most providers sign theirs: the header that carries the signature, its prefix and encoding,
and optionally a signed timestamp header (checked within a tolerance) and a delivery id header (each id
starts one job) are the recipe's to set.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from causeway.connections.sdk import (
    API_KEY,
    BASIC,
    BEARER,
    NO_AUTH,
    Accept,
    Action,
    ActionFailed,
    ActionInput,
    ActionOutput,
    Call,
    Connector,
    Delivery,
    Refuse,
    Scope,
    Trigger,
    Verdict,
    retry_after_seconds,
    signed_with,
)

TRANSIENT = frozenset({408, 425, 429}) | frozenset(range(500, 600))
MAX_BODY = 1024 * 1024


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(title="Base URL", description="such as https://api.example.com/v1")
    test_path: str = Field(default="", title="Path to test the connection with", description="empty: /")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return base_url(value)

    @field_validator("test_path")
    @classmethod
    def _relative(cls, value: str) -> str:
        return _checked_path(value)


def base_url(value: str) -> str:
    """An http or https URL with a host and nothing that belongs elsewhere, without its final slash."""
    try:
        url = httpx.URL(value.strip())
    except (httpx.InvalidURL, TypeError):
        raise ValueError("not a URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an http or https URL with a host")
    if url.userinfo:
        raise ValueError("credentials belong in the connection's auth fields, not in the URL")
    if url.query or url.fragment:
        raise ValueError("must not have a query or a fragment")
    return str(url).rstrip("/")


def _checked_path(value: str) -> str:
    text = value.strip()
    if "://" in text or text.startswith("//") or "\\" in text:
        raise ValueError("a path under the base URL, not a full URL")
    if any(part == ".." for part in text.split("?")[0].split("/")):
        raise ValueError("a path may not climb out of the base URL with ..")
    return text


class ReadInput(ActionInput):
    path: str = Field(default="", title="Path", description="under the base URL, such as /users")
    query: dict[str, str] = Field(default_factory=dict, title="Query parameters")
    headers: dict[str, str] = Field(default_factory=dict, title="Headers")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _checked_path(value)


class WriteInput(ReadInput):
    body: JsonValue = Field(default=None, title="Body (JSON)")


class Answer(ActionOutput):
    status: int
    headers: dict[str, str]
    body: JsonValue


def _url(call: Call, path: str) -> str:
    settings = call.settings
    assert isinstance(settings, Settings)
    return settings.base_url + ("/" + path.lstrip("/") if path else "")


def _answer(response: httpx.Response) -> Answer:
    content = response.content[:MAX_BODY]
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    text = content.decode(response.encoding or "utf-8", errors="replace")
    body: Any = text
    if (kind == "application/json" or kind.endswith("+json")) and text.strip():
        try:
            body = json.loads(text)
        except ValueError:
            body = text
    answer = Answer(status=response.status_code, headers=dict(response.headers.items()), body=body)
    if response.status_code >= 400:
        raise ActionFailed(
            f"{response.url.host} answered HTTP {response.status_code}",
            transient=response.status_code in TRANSIENT,
            output=answer.model_dump(mode="json"),
            retry_after=retry_after_seconds(response.headers.get("retry-after"))
            if response.status_code in (429, 503)
            else None,
        )
    return answer


def _sender(method: str) -> Any:
    def send(call: Call, given: Any) -> Answer:
        body = getattr(given, "body", None)
        response = call.request(
            method,
            _url(call, given.path),
            headers=given.headers,
            params=given.query,
            json=body if body is not None else None,
        )
        return _answer(response)

    return send


def _test(call: Call) -> str:
    settings = call.settings
    assert isinstance(settings, Settings)
    response = call.request("GET", _url(call, settings.test_path))
    if response.status_code in (401, 403):
        raise ActionFailed(f"the credentials were refused (HTTP {response.status_code})")
    if response.status_code >= 500:
        raise ActionFailed(f"the server failed (HTTP {response.status_code})", transient=True)
    return f"{response.url.host} answered HTTP {response.status_code}"


_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
# Headers of a call kept out of the job's trigger: they carry credentials or only describe the transport.
_NOT_PASSED = frozenset({"authorization", "cookie", "proxy-authorization", "content-length", "host"})


def _header_name(value: str) -> str:
    text = value.strip()
    if text and not _HEADER_NAME.match(text):
        raise ValueError("a header name: letters, digits and -")
    return text


class SignedWebhook(ActionInput):
    signature_header: str = Field(
        default="X-Signature-256",
        title="Signature header",
        description="the header that carries the signature",
    )
    signature_prefix: str = Field(
        default="sha256=",
        max_length=20,
        title="Signature prefix",
        description="written before the digest; may be empty",
    )
    encoding: Literal["hex", "base64"] = Field(default="hex", title="Digest encoding")
    timestamp_header: str = Field(
        default="",
        title="Timestamp header",
        description="a header carrying the Unix time of signing, signed as <time><separator><body>; "
        "empty: the body alone is signed",
    )
    timestamp_separator: str = Field(default=".", max_length=4, title="Separator after the time")
    tolerance_seconds: int = Field(
        default=300,
        ge=30,
        le=3600,
        title="Tolerance (seconds)",
        description="how far the signed time may be from now",
    )
    delivery_id_header: str = Field(
        default="",
        title="Delivery id header",
        description="a header naming each delivery: each id starts one job",
    )

    @field_validator("signature_header", "timestamp_header", "delivery_id_header")
    @classmethod
    def _header(cls, value: str) -> str:
        return _header_name(value)

    @field_validator("signature_header")
    @classmethod
    def _required(cls, value: str) -> str:
        if not value:
            raise ValueError("the header that carries the signature is required")
        return value


def _received_body(body: bytes, content_type: str) -> Any:
    text = body.decode("utf-8", errors="replace")
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json") or not kind:
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _verify_signed(delivery: Delivery, given: SignedWebhook) -> Verdict:
    sent = delivery.header(given.signature_header)
    if not sent:
        return Refuse(f"missing {given.signature_header} header")
    if len(sent) > 512 or not sent.startswith(given.signature_prefix):
        return Refuse(f"malformed {given.signature_header} header: expected {given.signature_prefix}<digest>")
    message = delivery.body
    signed_at: int | None = None
    if given.timestamp_header:
        stamp = (delivery.header(given.timestamp_header) or "").strip()
        if not stamp.isdigit() or len(stamp) > 12:
            return Refuse(f"missing or malformed {given.timestamp_header} header: Unix seconds")
        signed_at = int(stamp)
        message = f"{stamp}{given.timestamp_separator}".encode() + delivery.body
    if not signed_with(
        delivery.secret, message, sent[len(given.signature_prefix) :], encoding=given.encoding
    ):
        return Refuse("signature does not match the body")
    delivery_id = ""
    if given.delivery_id_header:
        delivery_id = (delivery.header(given.delivery_id_header) or "").strip()
        if not delivery_id or len(delivery_id) > 255:
            return Refuse(f"missing or malformed {given.delivery_id_header} header")
    signature = given.signature_header.lower()
    headers = {
        name: value
        for name, value in delivery.headers.items()
        if name not in _NOT_PASSED and name != signature
    }
    data = {"body": _received_body(delivery.body, delivery.header("content-type") or ""), "headers": headers}
    return Accept(
        data=data, delivery_id=delivery_id, signed_at=signed_at, tolerance_seconds=given.tolerance_seconds
    )


READ = frozenset({"read"})
WRITE = frozenset({"write"})

ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" fill="none" '
    'stroke="currentColor" stroke-width="2"><circle cx="12" cy="12" r="9"/>'
    '<path d="M3 12h18M12 3c3 3.5 3 14.5 0 18M12 3c-3 3.5-3 14.5 0 18"/></svg>'
)

connector = Connector(
    key="http",
    name="HTTP/REST",
    description="Any HTTP API under one base URL.",
    icon=ICON,
    auth_methods=(NO_AUTH, API_KEY, BASIC, BEARER),
    settings=Settings,
    scopes=(
        Scope("read", "Read data: send GET requests under the base URL."),
        Scope("write", "Change data: send POST, PUT, PATCH and DELETE requests under the base URL."),
    ),
    actions=(
        Action("get", "GET", "Read from a path.", ReadInput, Answer, _sender("GET"), READ),
        Action("post", "POST", "Send JSON to a path.", WriteInput, Answer, _sender("POST"), WRITE, True),
        Action("put", "PUT", "Replace at a path.", WriteInput, Answer, _sender("PUT"), WRITE, True),
        Action("patch", "PATCH", "Change at a path.", WriteInput, Answer, _sender("PATCH"), WRITE, True),
        Action("delete", "DELETE", "Delete at a path.", ReadInput, Answer, _sender("DELETE"), WRITE, True),
    ),
    triggers=(
        Trigger(
            "signed_webhook",
            "Signed webhook",
            "A job for each call signed with HMAC-SHA256 under the recipe's webhook signing secret.",
            "webhook",
            input=SignedWebhook,
            verify=_verify_signed,
        ),
    ),
    test=_test,
)
