"""Slack: post and update messages, list channels and find a user by email through Slack's Web API, and a
trigger for the Events API checked with the Slack app's signing secret.

Written from Slack's published descriptions (`slackapi/slack-api-specs`: `web-api/slack_web_openapi_v2.json`
and `events-api/slack_common_event_wrapper_schema.json`): methods under `https://slack.com/api`, the token
sent as a bearer header, an answer of HTTP 200 with `{"ok": false, "error": "<code>"}` when a method
refuses, cursor pagination through `response_metadata.next_cursor` (empty at the end), and HTTP 429 with
`Retry-After` when a method is rate-limited. Events are signed `v0=<hex HMAC-SHA256(signing secret,
"v0:<X-Slack-Request-Timestamp>:<body>")>` in `X-Slack-Signature`; a new Request URL is checked with a
`url_verification` challenge; a retried event keeps its `event_id`. A file is uploaded the way Slack
now asks: `files.getUploadURLExternal` (form-encoded `filename` and `length`) hands out an upload URL
and a file id, the bytes are POSTed there, and `files.completeUploadExternal` shares the file in a
channel.

Signing in follows Slack's OAuth 2.0 v2 (`https://slack.com/oauth/v2/authorize`, comma-separated bot scopes
in `scope` and a person's in `user_scope`; the code exchanged at `oauth.v2.access`, which answers HTTP 200
with `ok: false` and an `error` code when it refuses, the bot token in `access_token` with `token_type:
bot`, and the person's token in `authed_user`). With token rotation on, Slack adds `refresh_token` and
`expires_in`, and refreshes at the same method with `grant_type=refresh_token`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from causeway.connections.connectors.http import base_url
from causeway.connections.sdk import (
    OAUTH2_CODE,
    Accept,
    Action,
    ActionFailed,
    ActionInput,
    ActionOutput,
    AuthMethod,
    Call,
    Connector,
    CredentialField,
    Delivery,
    OAuth,
    Refuse,
    Reply,
    Scope,
    Trigger,
    Verdict,
    retry_after_seconds,
    signed_with,
)

API = "https://slack.com/api"
AUTHORIZE = "https://slack.com/oauth/v2/authorize"
TOKEN_ENDPOINT = f"{API}/oauth.v2.access"
# oauth.v2.access's error codes that mean only a new sign-in helps.
GRANT_GONE = frozenset({"invalid_refresh_token", "token_revoked", "invalid_client_id", "bad_client_secret"})
# Slack's error codes a later try may get past.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "request_timeout", "fatal_error", "service_unavailable"}
)
# The largest file the upload action takes (bytes); Slack's own limit is 1 GB.
MAX_UPLOAD = 5_000_000
# Slack's own page size bound for cursor pagination.
PAGE = 200
# How far an event's signed time may be from now (Slack's own advice: five minutes).
TOLERANCE_SECONDS = 300


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        default=API, title="Web API URL", description="https://slack.com/api unless Slack says otherwise"
    )
    sign_in_as: Literal["bot", "user"] = Field(
        default="bot",
        title="Sign in as",
        description="with Slack's sign-in: the app's bot (bot scopes) or you (user scopes)",
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return base_url(value)


TOKEN = AuthMethod(
    "bearer",
    "Bot or user token (xoxb-... or xoxp-..., from the app's OAuth & Permissions page)",
    (CredentialField("token", "Token"),),
)


def _scope_params(scopes: list[str], settings: Mapping[str, Any]) -> dict[str, str]:
    """Slack's authorize URL takes bot scopes in `scope` and a person's in `user_scope`, comma-separated."""
    name = "user_scope" if settings.get("sign_in_as") == "user" else "scope"
    return {name: ",".join(scopes)} if scopes else {}


def _token_answer(answer: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """`oauth.v2.access`'s answer in RFC 6749's shape: the bot's token, or the person's from
    `authed_user` when the connection signs in as a user (a refresh answers it at the top level)."""
    if answer.get("ok") is not True:
        raise ValueError(f"Slack refused it: {str(answer.get('error') or 'no ok: true')[:100]}")
    source: Mapping[str, Any] = answer
    person = answer.get("authed_user")
    if settings.get("sign_in_as") == "user" and isinstance(person, dict) and person.get("access_token"):
        source = person
    token = source.get("access_token")
    if not isinstance(token, str) or not token:
        raise ValueError("Slack gave no token for the scopes asked")
    scopes = [s.strip() for s in str(source.get("scope") or "").split(",") if s.strip()]
    kept: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "scope": " ".join(scopes)}
    for name in ("refresh_token", "expires_in"):
        if source.get(name) not in (None, ""):
            kept[name] = source[name]
    return kept


def _url(call: Call, method: str) -> str:
    settings = call.settings
    assert isinstance(settings, Settings)
    return f"{settings.base_url}/{method}"


def _result(response: httpx.Response, method: str) -> dict[str, Any]:
    """Slack's answer as a dict, or ActionFailed naming Slack's error code."""
    if response.status_code == 429:
        raise ActionFailed(
            f"Slack rate-limited {method} (ratelimited)",
            transient=True,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )
    if response.status_code >= 500:
        raise ActionFailed(f"Slack answered {method} with HTTP {response.status_code}", transient=True)
    try:
        answer = response.json()
    except ValueError:
        raise ActionFailed(f"Slack answered {method} with HTTP {response.status_code}, not JSON") from None
    if not isinstance(answer, dict):
        raise ActionFailed(f"Slack answered {method} with something other than an object")
    if not answer.get("ok"):
        code = str(answer.get("error") or f"HTTP {response.status_code}")[:100]
        needed = answer.get("needed")
        detail = f" (needs {str(needed)[:100]})" if needed else ""
        raise ActionFailed(
            f"Slack refused {method}: {code}{detail}", transient=code in TRANSIENT_ERRORS, output=answer
        )
    return answer


def _expired(response: httpx.Response) -> bool:
    """Slack's answer for a rotated token past its time: HTTP 200 with `token_expired`."""
    try:
        answer = response.json() if response.status_code == 200 else None
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("error") == "token_expired"


def _send(call: Call, verb: str, method: str, **given: Any) -> dict[str, Any]:
    response = call.request(verb, _url(call, method), **given)
    if _expired(response) and call.renew():
        response = call.request(verb, _url(call, method), **given)
    return _result(response, method)


def _post(call: Call, method: str, body: dict[str, Any]) -> dict[str, Any]:
    # Slack's write methods take JSON with the token as a bearer header.
    return _send(call, "POST", method, json=body, headers={"Content-Type": "application/json; charset=utf-8"})


def _get(call: Call, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return _send(call, "GET", method, params=params)


class PostMessage(ActionInput):
    channel: str = Field(
        min_length=1, max_length=100, title="Channel", description="its id, such as C0123456789"
    )
    text: str = Field(min_length=1, max_length=40_000, title="Text")
    thread_ts: str = Field(
        default="", max_length=40, title="Reply in thread", description="the parent message's ts"
    )
    blocks: list[JsonValue] | None = Field(default=None, title="Blocks (JSON)")


class Message(ActionOutput):
    channel: str
    ts: str
    message: dict[str, JsonValue] = Field(default_factory=dict)


def post_message(call: Call, given: PostMessage) -> Message:
    body: dict[str, Any] = {"channel": given.channel, "text": given.text}
    if given.thread_ts:
        body["thread_ts"] = given.thread_ts
    if given.blocks is not None:
        body["blocks"] = given.blocks
    answer = _post(call, "chat.postMessage", body)
    return Message(
        channel=str(answer.get("channel", "")),
        ts=str(answer.get("ts", "")),
        message=answer.get("message") or {},
    )


class UpdateMessage(ActionInput):
    channel: str = Field(min_length=1, max_length=100, title="Channel")
    ts: str = Field(min_length=1, max_length=40, title="Message ts")
    text: str = Field(min_length=1, max_length=40_000, title="New text")


def update_message(call: Call, given: UpdateMessage) -> Message:
    answer = _post(call, "chat.update", {"channel": given.channel, "ts": given.ts, "text": given.text})
    return Message(
        channel=str(answer.get("channel", "")),
        ts=str(answer.get("ts", "")),
        message=answer.get("message") or {},
    )


class ListChannels(ActionInput):
    types: str = Field(
        default="public_channel",
        max_length=100,
        title="Types",
        description="comma-separated: public_channel, private_channel, mpim, im",
    )
    exclude_archived: bool = Field(default=True, title="Leave out archived channels")
    max_items: int = Field(default=1000, ge=1, le=10_000, title="At most this many channels")


class Channels(ActionOutput):
    channels: list[dict[str, JsonValue]]
    complete: bool = Field(description="false when max_items stopped the listing before its end")


def list_channels(call: Call, given: ListChannels) -> Channels:
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        params: dict[str, Any] = {
            "types": given.types,
            "exclude_archived": "true" if given.exclude_archived else "false",
            "limit": min(PAGE, given.max_items - len(found)),
        }
        if cursor:
            params["cursor"] = cursor
        answer = _get(call, "conversations.list", params)
        found += [c for c in answer.get("channels") or [] if isinstance(c, dict)]
        cursor = str((answer.get("response_metadata") or {}).get("next_cursor") or "")
        if not cursor:
            return Channels(channels=found[: given.max_items], complete=True)
        if len(found) >= given.max_items:
            return Channels(channels=found[: given.max_items], complete=False)


class FindUser(ActionInput):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$", title="Email")


class User(ActionOutput):
    user: dict[str, JsonValue]


def find_user_by_email(call: Call, given: FindUser) -> User:
    return User(user=_get(call, "users.lookupByEmail", {"email": given.email}).get("user") or {})


class UploadFile(ActionInput):
    channel: str = Field(min_length=1, max_length=100, title="Channel", description="its id")
    filename: str = Field(min_length=1, max_length=255, title="File name", pattern=r"^[^/\\]+$")
    content: str = Field(
        default="", max_length=MAX_UPLOAD, title="Content (text)", description="the file's text"
    )
    content_base64: str = Field(
        default="",
        max_length=MAX_UPLOAD * 4 // 3 + 4,
        title="Content (base64)",
        description="the file's bytes, base64-encoded, instead of text",
    )
    title: str = Field(default="", max_length=255, title="Title")
    initial_comment: str = Field(default="", max_length=4000, title="Message with the file")
    thread_ts: str = Field(default="", max_length=40, title="Reply in thread", description="the parent's ts")


class Uploaded(ActionOutput):
    file_id: str
    files: list[dict[str, JsonValue]]


def _bytes(given: UploadFile) -> bytes:
    if given.content and given.content_base64:
        raise ActionFailed("give the file's content as text or as base64, not both")
    if given.content_base64:
        try:
            data = base64.b64decode(given.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise ActionFailed("content_base64 is not base64") from None
    else:
        data = given.content.encode()
    if not data:
        raise ActionFailed("the file is empty: Slack takes no empty upload")
    if len(data) > MAX_UPLOAD:
        raise ActionFailed(f"the file is larger than {MAX_UPLOAD} bytes")
    return data


def upload_file(call: Call, given: UploadFile) -> Uploaded:
    data = _bytes(given)
    # Slack takes this method's arguments form-encoded, not as JSON.
    ticket = _send(
        call,
        "POST",
        "files.getUploadURLExternal",
        content=urlencode({"filename": given.filename, "length": len(data)}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    upload_url, file_id = str(ticket.get("upload_url") or ""), str(ticket.get("file_id") or "")
    if not file_id or httpx.URL(upload_url).scheme not in ("https", "http"):
        raise ActionFailed("Slack answered files.getUploadURLExternal without an upload URL and file id")
    # The upload URL is signed by Slack: the bytes go there without the connection's token.
    sent = call.request(
        "POST", upload_url, content=data, headers={"Content-Type": "application/octet-stream"}, signed=False
    )
    if sent.status_code == 429:
        raise ActionFailed(
            "Slack rate-limited the upload (ratelimited)",
            transient=True,
            retry_after=retry_after_seconds(sent.headers.get("retry-after")),
        )
    if sent.status_code != 200:
        raise ActionFailed(
            f"Slack's upload URL answered HTTP {sent.status_code}", transient=sent.status_code >= 500
        )
    form = {
        "files": json.dumps([{"id": file_id, "title": given.title or given.filename}]),
        "channel_id": given.channel,
    }
    if given.initial_comment:
        form["initial_comment"] = given.initial_comment
    if given.thread_ts:
        form["thread_ts"] = given.thread_ts
    done = _send(
        call,
        "POST",
        "files.completeUploadExternal",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    files = [f for f in done.get("files") or [] if isinstance(f, dict)]
    return Uploaded(file_id=file_id, files=files)


def _test(call: Call) -> str:
    answer = _post(call, "auth.test", {})
    return f"signed in to {answer.get('team', 'Slack')} as {answer.get('user', 'the app')}"


class Events(ActionInput):
    event_types: list[str] = Field(
        default_factory=list,
        max_length=50,
        title="Event types",
        description="such as message or app_mention; empty: every event the app subscribes to",
    )


def _verify_event(delivery: Delivery, given: Events) -> Verdict:
    stamp = (delivery.header("X-Slack-Request-Timestamp") or "").strip()
    sent = (delivery.header("X-Slack-Signature") or "").strip()
    if not stamp.isdigit() or len(stamp) > 12:
        return Refuse("missing or malformed X-Slack-Request-Timestamp header")
    if not sent.startswith("v0="):
        return Refuse("missing or malformed X-Slack-Signature header: expected v0=<hex>")
    if not signed_with(delivery.secret, b"v0:" + stamp.encode() + b":" + delivery.body, sent[3:]):
        return Refuse("signature does not match the body")
    try:
        event = json.loads(delivery.body)
    except (UnicodeDecodeError, ValueError):
        return Refuse("the body is not JSON", 403)
    if not isinstance(event, dict):
        return Refuse("the body is not a JSON object", 403)
    if event.get("type") == "url_verification":
        # Slack checks a new Request URL; answered only once the signature above held.
        return Reply({"challenge": str(event.get("challenge", ""))[:500]})
    if event.get("type") != "event_callback":
        return Reply({"ok": True})
    inner = event.get("event")
    kind = str(inner.get("type", "")) if isinstance(inner, dict) else ""
    if given.event_types and kind not in given.event_types:
        # An event the recipe does not want: acknowledged, so Slack does not send it again.
        return Reply({"ok": True})
    return Accept(
        data=event,
        delivery_id=str(event.get("event_id", ""))[:255],
        signed_at=int(stamp),
        tolerance_seconds=TOLERANCE_SECONDS,
    )


ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" fill="none" '
    'stroke="currentColor" stroke-width="2"><path d="M9 3v18M15 3v18M3 9h18M3 15h18"/></svg>'
)

connector = Connector(
    key="slack",
    name="Slack",
    description="Messages and channels in a Slack workspace, and its events.",
    icon=ICON,
    auth_methods=(TOKEN, OAUTH2_CODE),
    settings=Settings,
    scopes=(
        Scope("chat:write", "Post messages and edit the messages it posted, in channels the app is in."),
        Scope("channels:read", "See the names, topics and members of public channels."),
        Scope("users:read", "See the people in the Slack workspace."),
        Scope("users:read.email", "See the email addresses of the people in the Slack workspace."),
        Scope("files:write", "Upload files and share them in channels."),
    ),
    actions=(
        Action(
            "post_message",
            "Post a message",
            "Post a message to a channel, or reply in a thread.",
            PostMessage,
            Message,
            post_message,
            frozenset({"chat:write"}),
            side_effects=True,
        ),
        Action(
            "update_message",
            "Update a message",
            "Change the text of a message the app posted.",
            UpdateMessage,
            Message,
            update_message,
            frozenset({"chat:write"}),
            side_effects=True,
        ),
        Action(
            "list_channels",
            "List channels",
            "The channels of the Slack workspace, every page, up to a limit.",
            ListChannels,
            Channels,
            list_channels,
            frozenset({"channels:read"}),
        ),
        Action(
            "find_user_by_email",
            "Find a user by email",
            "The Slack user with an email address.",
            FindUser,
            User,
            find_user_by_email,
            frozenset({"users:read", "users:read.email"}),
        ),
        Action(
            "upload_file",
            "Upload a file",
            "Upload a file and share it in a channel, with a message if given.",
            UploadFile,
            Uploaded,
            upload_file,
            frozenset({"files:write"}),
            side_effects=True,
        ),
    ),
    triggers=(
        Trigger(
            "events",
            "Events API",
            "A job for each event Slack sends, checked with the Slack app's signing secret.",
            "webhook",
            input=Events,
            verify=_verify_event,
        ),
    ),
    test=_test,
    oauth=OAuth(
        authorize_url=AUTHORIZE,
        token_url=TOKEN_ENDPOINT,
        scope_params=_scope_params,
        token_answer=_token_answer,
        grant_gone=GRANT_GONE,
    ),
)
