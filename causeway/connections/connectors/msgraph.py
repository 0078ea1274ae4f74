"""Microsoft Graph: mail, calendar events, the directory's users and Teams channel messages through Graph's
REST API (v1.0), signed in with OAuth 2.0 at the authority of the connection's Microsoft Entra tenant, and
a polling trigger on changed users kept by Graph's delta links.

Follows Microsoft Graph's published description of v1.0 (`microsoftgraph/msgraph-metadata`,
`openapi/v1.0`): requests under `https://graph.microsoft.com/v1.0` with the access token as a bearer
header; `POST /me/sendMail` (202, no body), `POST /me/events` and `POST /me/calendars/{id}/events` (201
with the event), `GET /users` paged through `@odata.nextLink` until an answer has none,
`POST /teams/{team-id}/channels/{channel-id}/messages` (201 with the chatMessage), and `GET /users/delta`
whose last page carries `@odata.deltaLink`, the URL that later gives only what changed since. Errors come
as `{"error": {"code", "message", "innerError"}}`; throttling as 429 (or 503) with `Retry-After`.

The identity platform's endpoints are `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize`
and `.../token` (authorization code with PKCE); the tenant is the connection's setting (a tenant id, a
verified domain, or `organizations`/`common`). Microsoft offers no RFC 7009 revocation, so disconnecting
forgets the tokens (a person removes the app's consent in their account or tenant).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from causeway.connections.connectors.http import base_url
from causeway.connections.sdk import (
    OAUTH2_CODE,
    Action,
    ActionFailed,
    ActionInput,
    ActionOutput,
    Call,
    Connector,
    Cursor,
    Found,
    OAuth,
    Polled,
    Scope,
    Trigger,
    retry_after_seconds,
)

API = "https://graph.microsoft.com/v1.0"
AUTHORITY = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0"
# Graph's largest page for /users.
PAGE = 999
# Pages a delta round may take within one poll before it stops (what it read is then read again).
MAX_DELTA_PAGES = 200
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
GRAPH_ID = r"^[A-Za-z0-9@:._=-]{1,200}$"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(
        default="organizations",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$",
        title="Tenant",
        description="your Microsoft Entra tenant's id or domain (contoso.onmicrosoft.com), or organizations",
    )
    base_url: str = Field(
        default=API,
        title="Graph URL",
        description="https://graph.microsoft.com/v1.0, or a national cloud's Graph endpoint",
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return base_url(value)


def _base(call: Call) -> str:
    settings = call.settings
    assert isinstance(settings, Settings)
    return settings.base_url


def _checked(response: httpx.Response, what: str) -> Any:
    """Graph's answer, or ActionFailed naming Graph's error code and message."""
    status = response.status_code
    if status < 400:
        return response.json() if response.content else None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    error = answer.get("error") if isinstance(answer, dict) else None
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    detail = (
        f"{code[:100] or f'HTTP {status}'}: {message[:300]}" if message else code[:100] or f"HTTP {status}"
    )
    waited = retry_after_seconds(response.headers.get("retry-after"))
    if status == 429 or (status in (503, 504) and waited is not None):
        raise ActionFailed(f"Microsoft Graph throttled {what} ({detail})", transient=True, retry_after=waited)
    raise ActionFailed(
        f"Microsoft Graph refused {what} (HTTP {status}, {detail})",
        transient=status >= 500,
        output=answer if isinstance(answer, dict) else None,
    )


def _send(call: Call, method: str, path: str, what: str, **extra: Any) -> Any:
    return _checked(call.request(method, _base(call) + path, **extra), what)


def _following(call: Call, link: Any) -> str | None:
    """A next or delta link from an answer, followed only under the connection's Graph URL: a link
    elsewhere would carry the token to another host."""
    if not isinstance(link, str) or not link:
        return None
    if not link.startswith(_base(call) + "/"):
        raise ActionFailed("Microsoft Graph answered a link outside the connection's Graph URL")
    return link


def _recipients(addresses: list[str]) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": address}} for address in addresses]


def _email_addresses(value: list[str]) -> list[str]:
    for address in value:
        if len(address) > 254 or not EMAIL.match(address):
            raise ValueError(f"not an email address: {address[:60]!r}")
    return value


def _property_names(value: list[str]) -> list[str]:
    for name in value:
        if not name.isidentifier():
            raise ValueError(f"not a property name: {name[:60]!r}")
    return value


class SendMail(ActionInput):
    to: list[str] = Field(min_length=1, max_length=500, title="To")
    cc: list[str] = Field(default_factory=list, max_length=500, title="Cc")
    subject: str = Field(min_length=1, max_length=255, title="Subject")
    body: str = Field(max_length=1_000_000, title="Body")
    content_type: str = Field(default="Text", pattern=r"^(Text|HTML)$", title="Body type")
    save_to_sent_items: bool = Field(default=True, title="Keep a copy in Sent Items")

    _addresses = field_validator("to", "cc")(_email_addresses)


class Sent(ActionOutput):
    sent: bool


def send_mail(call: Call, given: SendMail) -> Sent:
    message: dict[str, Any] = {
        "subject": given.subject,
        "body": {"contentType": given.content_type, "content": given.body},
        "toRecipients": _recipients(given.to),
    }
    if given.cc:
        message["ccRecipients"] = _recipients(given.cc)
    body = {"message": message, "saveToSentItems": given.save_to_sent_items}
    _send(call, "POST", "/me/sendMail", "send mail", json=body)
    return Sent(sent=True)


class NewEvent(ActionInput):
    subject: str = Field(min_length=1, max_length=255, title="Subject")
    start: str = Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?$",
        title="Starts",
        description="local date and time, such as 2026-12-07T14:00:00",
    )
    end: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?$", title="Ends")
    time_zone: str = Field(default="UTC", min_length=1, max_length=100, title="Time zone")
    body: str = Field(default="", max_length=100_000, title="Description")
    location: str = Field(default="", max_length=255, title="Location")
    attendees: list[str] = Field(default_factory=list, max_length=500, title="Attendees (email)")
    calendar_id: str = Field(
        default="", pattern=r"^([A-Za-z0-9=_-]{1,500})?$", title="Calendar", description="empty: the default"
    )
    online_meeting: bool = Field(default=False, title="Teams meeting")

    _addresses = field_validator("attendees")(_email_addresses)


class Event(ActionOutput):
    id: str
    web_link: str = ""
    event: dict[str, JsonValue] = Field(default_factory=dict)


def create_event(call: Call, given: NewEvent) -> Event:
    sent: dict[str, Any] = {
        "subject": given.subject,
        "start": {"dateTime": given.start, "timeZone": given.time_zone},
        "end": {"dateTime": given.end, "timeZone": given.time_zone},
    }
    if given.body:
        sent["body"] = {"contentType": "Text", "content": given.body}
    if given.location:
        sent["location"] = {"displayName": given.location}
    if given.attendees:
        sent["attendees"] = [
            {"emailAddress": {"address": address}, "type": "required"} for address in given.attendees
        ]
    if given.online_meeting:
        sent["isOnlineMeeting"] = True
        sent["onlineMeetingProvider"] = "teamsForBusiness"
    path = f"/me/calendars/{quote(given.calendar_id, safe='')}/events" if given.calendar_id else "/me/events"
    answer = _send(call, "POST", path, "create event", json=sent)
    return Event(id=str(answer.get("id", "")), web_link=str(answer.get("webLink", "")), event=answer)


class ListUsers(ActionInput):
    select: list[str] = Field(
        default_factory=list,
        max_length=50,
        title="Properties",
        description="such as displayName, mail; empty: Graph's default set",
    )
    max_items: int = Field(default=1000, ge=1, le=100_000, title="At most this many users")

    _properties = field_validator("select")(_property_names)


class Users(ActionOutput):
    users: list[dict[str, JsonValue]]
    complete: bool = Field(description="false when max_items stopped the listing before its end")


def list_users(call: Call, given: ListUsers) -> Users:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] | None = {"$top": min(PAGE, given.max_items)}
    if given.select:
        assert params is not None
        params["$select"] = ",".join(given.select)
    url: str | None = _base(call) + "/users"
    while url is not None:
        page = _checked(call.request("GET", url, params=params), "list users")
        found += [user for user in (page or {}).get("value") or [] if isinstance(user, dict)]
        # The next link carries every query option already.
        url, params = _following(call, (page or {}).get("@odata.nextLink")), None
        if len(found) >= given.max_items:
            return Users(
                users=found[: given.max_items], complete=url is None and len(found) == given.max_items
            )
    return Users(users=found, complete=True)


class ChannelMessage(ActionInput):
    team_id: str = Field(pattern=GRAPH_ID, title="Team id")
    channel_id: str = Field(pattern=GRAPH_ID, title="Channel id", description="such as 19:...@thread.tacv2")
    content: str = Field(min_length=1, max_length=28_000, title="Message")
    content_type: str = Field(default="text", pattern=r"^(text|html)$", title="Content type")
    subject: str = Field(default="", max_length=255, title="Subject")


class PostedMessage(ActionOutput):
    id: str
    web_url: str = ""


def post_channel_message(call: Call, given: ChannelMessage) -> PostedMessage:
    sent: dict[str, Any] = {"body": {"contentType": given.content_type, "content": given.content}}
    if given.subject:
        sent["subject"] = given.subject
    path = f"/teams/{quote(given.team_id, safe='')}/channels/{quote(given.channel_id, safe='')}/messages"
    answer = _send(call, "POST", path, "post to a channel", json=sent)
    return PostedMessage(id=str(answer.get("id", "")), web_url=str(answer.get("webUrl", "")))


def _test(call: Call) -> str:
    answer = _send(call, "GET", "/me", "test")
    if isinstance(answer, dict):
        return f"signed in as {answer.get('userPrincipalName') or answer.get('displayName') or 'a user'}"
    return "signed in"


class ChangedUsers(ActionInput):
    select: list[str] = Field(
        default_factory=lambda: ["displayName", "mail", "userPrincipalName", "accountEnabled"],
        max_length=50,
        title="Properties",
        description="the properties whose changes are tracked",
    )

    _properties = field_validator("select")(_property_names)


def _item_key(item: dict[str, Any]) -> str:
    """One change's identity: the user and what Graph said of it, so a user changed twice starts two jobs
    and the same change read again (a poll that stopped halfway) starts none."""
    digest = hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()[:32]
    return f"{str(item.get('id', ''))[:100]}:{digest}"


def poll_changed_users(call: Call, given: ChangedUsers, after: Cursor | None) -> Polled:
    """Walk one delta round: from the kept delta link (or, the first time, the start of a full round),
    through every next link, to the new delta link. The first round only finds where "now" is: users that
    already exist start nothing."""
    if after is not None and isinstance(after.value, str):
        url: str | None = _following(call, after.value)
        params: dict[str, Any] | None = None
    else:
        url = _base(call) + "/users/delta"
        params = {"$select": ",".join(given.select)} if given.select else None
    first = after is None or not isinstance(after.value, str)
    previous = after.value if after is not None else None
    found: list[Found] = []
    for _ in range(MAX_DELTA_PAGES):
        assert url is not None
        page = _checked(call.request("GET", url, params=params), "track changed users") or {}
        params = None
        if not first:
            for item in page.get("value") or []:
                if isinstance(item, dict):
                    # Until the round ends, the place to start again is where this round began.
                    found.append(Found(key=_item_key(item), cursor=previous, data=item))
        delta = page.get("@odata.deltaLink")
        if isinstance(delta, str) and delta:
            return Polled(items=found, cursor=Cursor(_following(call, delta)))
        url = _following(call, page.get("@odata.nextLink"))
        if url is None:
            raise ActionFailed("Microsoft Graph ended a delta round without a delta link")
    raise ActionFailed(f"Microsoft Graph's delta round took more than {MAX_DELTA_PAGES} pages in one poll")


ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" fill="none" '
    'stroke="currentColor" stroke-width="2"><rect x="3" y="3" width="8" height="8"/>'
    '<rect x="13" y="3" width="8" height="8"/><rect x="3" y="13" width="8" height="8"/>'
    '<rect x="13" y="13" width="8" height="8"/></svg>'
)

connector = Connector(
    key="msgraph",
    name="Microsoft Graph",
    description="Outlook mail and calendars, Entra users and Teams channels in a Microsoft 365 tenant.",
    icon=ICON,
    auth_methods=(OAUTH2_CODE,),
    settings=Settings,
    scopes=(
        Scope("User.Read", "Sign you in and read your profile (to test the connection)."),
        Scope("Mail.Send", "Send mail as you."),
        Scope("Calendars.ReadWrite", "Create, read, change and delete events in your calendars."),
        Scope("User.Read.All", "Read the full profiles of every user in the organisation."),
        Scope("ChannelMessage.Send", "Post messages to Teams channels as you."),
        Scope("offline_access", "Keep access when you are not signed in (a refresh token)."),
    ),
    actions=(
        Action(
            "send_mail",
            "Send mail",
            "Send an email from the signed-in person's mailbox.",
            SendMail,
            Sent,
            send_mail,
            frozenset({"Mail.Send"}),
            side_effects=True,
        ),
        Action(
            "create_event",
            "Create a calendar event",
            "Add an event to the signed-in person's calendar, inviting attendees.",
            NewEvent,
            Event,
            create_event,
            frozenset({"Calendars.ReadWrite"}),
            side_effects=True,
        ),
        Action(
            "list_users",
            "List users",
            "The organisation's users, every page, up to a limit.",
            ListUsers,
            Users,
            list_users,
            frozenset({"User.Read.All"}),
        ),
        Action(
            "post_channel_message",
            "Post to a Teams channel",
            "Post a message to a channel of a team.",
            ChannelMessage,
            PostedMessage,
            post_channel_message,
            frozenset({"ChannelMessage.Send"}),
            side_effects=True,
        ),
    ),
    triggers=(
        Trigger(
            "changed_users",
            "Changed users",
            "A job for each user added, changed or removed in the directory, tracked with delta links.",
            "poll",
            scopes=frozenset({"User.Read.All"}),
            input=ChangedUsers,
            poll=poll_changed_users,
        ),
    ),
    test=_test,
    oauth=OAuth(
        authorize_url=f"{AUTHORITY}/authorize",
        token_url=f"{AUTHORITY}/token",
    ),
)
