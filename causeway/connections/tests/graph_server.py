"""A local Microsoft Graph (v1.0) for tests, answering as Graph's published description says
(`microsoftgraph/msgraph-metadata`, `openapi/v1.0`) and honouring only access tokens the local identity
platform (`oauth_provider`) issued and has not expired:

- `POST /v1.0/me/sendMail`: 202 and no body; 400 `ErrorInvalidRecipients` without recipients.
- `POST /v1.0/me/events`, `POST /v1.0/me/calendars/{id}/events`: 201 with the event; 404
  `ErrorItemNotFound` for an unknown calendar.
- `GET /v1.0/users`: pages of at most two users (whatever `$top` asks), each but the last with an
  `@odata.nextLink` carrying a `$skiptoken`.
- `GET /v1.0/users/delta`: a round through every user, then `@odata.deltaLink` with a `$deltatoken`;
  that link later gives the users changed or removed (`@removed`) since, paged the same way.
- `POST /v1.0/teams/{team-id}/channels/{channel-id}/messages`: 201 with the chatMessage; 404 `NotFound`.
- `GET /v1.0/me`: the signed-in user.
- 401 `InvalidAuthenticationToken` for a missing or expired token; 429 `TooManyRequests` (or 503
  `serviceNotAvailable`) with `Retry-After` while `throttled` is set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from causeway.connections.tests.oauth_provider import Provider
from causeway.connections.tests.servers import Answer, Received, Server, http_server

PAGE = 2
RETRY_AFTER = "2"
THROTTLES = {
    429: ("TooManyRequests", "Too many requests, please try again later."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable."),
}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    inner = {"date": "2026-12-07T13:00:00", "request-id": "6f1c9b1e-0000-4000-8000-000000000000"}
    return Answer(
        status=status,
        body={"error": {"code": code, "message": message, "innerError": inner}},
        headers=headers or {},
    )


@dataclass
class Graph:
    provider: Provider
    users: list[dict[str, Any]] = field(default_factory=list)
    # Every change to `users`, in order: (sequence number, the user's id).
    changes: list[tuple[int, str]] = field(default_factory=list)
    removed: set[str] = field(default_factory=set)
    mails: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    throttled: bool = False
    throttle_status: int = 429
    # Where next links point: this Graph, or (a compromised or misconfigured answer) another host.
    links_to: str = ""
    server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url + "/v1.0"

    def add_user(self, name: str) -> dict[str, Any]:
        number = len(self.users) + 1
        user = {
            "id": f"{number:08d}-0000-4000-8000-000000000000",
            "displayName": name,
            "mail": f"{name.lower()}@contoso.example",
            "userPrincipalName": f"{name.lower()}@contoso.example",
            "accountEnabled": True,
        }
        self.users.append(user)
        self.changes.append((len(self.changes) + 1, user["id"]))
        return user

    def change_user(self, user_id: str, **values: Any) -> None:
        next(u for u in self.users if u["id"] == user_id).update(values)
        self.changes.append((len(self.changes) + 1, user_id))

    def remove_user(self, user_id: str) -> None:
        self.users = [u for u in self.users if u["id"] != user_id]
        self.removed.add(user_id)
        self.changes.append((len(self.changes) + 1, user_id))

    def answer(self, got: Received) -> Answer:
        parts = urlsplit(got.path)
        path = parts.path.removeprefix("/v1.0")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        auth = got.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not self.provider.live(auth[7:]):
            return _error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
        if self.throttled:
            # Graph throttles with 429, and a busy service answers 503 with Retry-After too.
            code, message = THROTTLES[self.throttle_status]
            return _error(self.throttle_status, code, message, {"Retry-After": RETRY_AFTER})
        body = json.loads(got.body) if got.body else {}
        segments = path.strip("/").split("/")
        if path == "/me" and got.method == "GET":
            return Answer(body={"displayName": "Pat", "userPrincipalName": "pat@contoso.example"})
        if path == "/me/sendMail" and got.method == "POST":
            message = body.get("message") or {}
            if not message.get("toRecipients"):
                return _error(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
            self.mails.append(body)
            return Answer(status=202, body=b"")
        if got.method == "POST" and (
            path == "/me/events" or (segments[:2] == ["me", "calendars"] and segments[3:] == ["events"])
        ):
            if len(segments) == 4 and segments[2] != "AAMkCal1":
                return _error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            event = {
                **body,
                "id": f"AAMkEvent{len(self.events) + 1}",
                "webLink": "https://outlook.office365.com/x",
            }
            self.events.append(event)
            return Answer(status=201, body=event)
        if path == "/users" and got.method == "GET":
            start = int(query.get("$skiptoken", "0"))
            return Answer(body=self._page(self.users, start, "/users", "@odata.nextLink", None))
        if path == "/users/delta" and got.method == "GET":
            return Answer(body=self._delta(query))
        if (
            len(segments) == 5
            and segments[0] == "teams"
            and segments[2] == "channels"
            and got.method == "POST"
        ):
            if segments[1] != "team-1":
                return _error(404, "NotFound", "No team found with Group Id " + segments[1])
            message = {
                "id": str(1700000000000 + len(self.messages)),
                "body": body.get("body"),
                "webUrl": "https://teams/x",
            }
            self.messages.append(message)
            return Answer(status=201, body=message)
        return _error(404, "Request_ResourceNotFound", f"Resource '{path}' does not exist.")

    def _page(
        self, items: list[dict[str, Any]], start: int, path: str, link: str, extra: dict[str, str] | None
    ) -> dict[str, Any]:
        chunk = items[start : start + PAGE]
        page: dict[str, Any] = {"@odata.context": f"{self.url}/$metadata#users", "value": chunk}
        if start + PAGE < len(items):
            more = "&".join(f"{k}={v}" for k, v in (extra or {}).items())
            page[link] = f"{self.links_to or self.url}{path}?$skiptoken={start + PAGE}" + (
                f"&{more}" if more else ""
            )
        return page

    def _delta(self, query: dict[str, str]) -> dict[str, Any]:
        since = int(query.get("$deltatoken", query.get("since", "0")))
        if since == 0 and "$deltatoken" not in query:
            changed = list(self.users)
        else:
            ids = list(dict.fromkeys(uid for seq, uid in self.changes if seq > since))
            current = {u["id"]: u for u in self.users}
            changed = [
                current[uid] if uid in current else {"id": uid, "@removed": {"reason": "deleted"}}
                for uid in ids
            ]
        start = int(query.get("$skiptoken", "0"))
        page = self._page(changed, start, "/users/delta", "@odata.nextLink", {"since": str(since)})
        if "@odata.nextLink" not in page:
            page["@odata.deltaLink"] = f"{self.url}/users/delta?$deltatoken={len(self.changes)}"
        return page


@contextmanager
def graph_server(provider: Provider) -> Iterator[Graph]:
    graph = Graph(provider=provider)
    with http_server(graph.answer) as server:
        graph.server = server
        yield graph
