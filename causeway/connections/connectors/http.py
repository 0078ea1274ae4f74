"""HTTP/REST: any JSON or text API under one base URL, with no auth, an API key, Basic or a bearer token.

Reading (GET) needs the `read` scope; changing (POST, PUT, PATCH, DELETE) needs `write`. A path is
always joined under the connection's base URL, so a recipe cannot send the connection's credentials to
another host by writing a full URL or climbing out with `..`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from causeway.connections.sdk import (
    API_KEY,
    BASIC,
    BEARER,
    NO_AUTH,
    Action,
    ActionFailed,
    ActionInput,
    ActionOutput,
    Call,
    Connector,
    Scope,
    retry_after_seconds,
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
    test=_test,
)
