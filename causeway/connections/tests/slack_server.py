"""A local Slack Web API for tests, answering as Slack's published description says
(`slackapi/slack-api-specs`, `web-api/slack_web_openapi_v2.json`): methods under `/api/<method>`, the token
as `Authorization: Bearer`, HTTP 200 with `{"ok": false, "error": ...}` when a method refuses (`not_authed`,
`invalid_auth`, `channel_not_found`, `users_not_found`, ...), `conversations.list` paged by `cursor` and
`limit` with `response_metadata.next_cursor` empty on the last page, and HTTP 429 with `Retry-After` and
`{"ok": false, "error": "ratelimited"}` for a rate-limited call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from causeway.connections.tests.servers import Answer, Received, Server, http_server


@dataclass
class Slack:
    token: str
    channels: list[dict[str, Any]]
    users: dict[str, dict[str, Any]]
    # Channels whose posts are answered 429 (rate-limited) with this Retry-After.
    limited: dict[str, int] = field(default_factory=dict)
    posted: list[dict[str, Any]] = field(default_factory=list)
    server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"{self.server.url}/api"

    def calls(self) -> list[str]:
        assert self.server is not None
        return [urlsplit(r.path).path.removeprefix("/api/") for r in self.server.received]

    def answer(self, got: Received) -> Answer:
        parts = urlsplit(got.path)
        method = parts.path.removeprefix("/api/")
        if got.headers.get("Authorization", "") != f"Bearer {self.token}":
            error = "not_authed" if "Authorization" not in got.headers else "invalid_auth"
            return Answer(body={"ok": False, "error": error})
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body: dict[str, Any] = json.loads(got.body) if got.body else {}
        if method == "auth.test":
            return Answer(body={"ok": True, "team": "Acme", "user": "causeway-bot", "team_id": "T0001"})
        if method in ("chat.postMessage", "chat.update"):
            return self._chat(method, body)
        if method == "conversations.list":
            return self._channels(query)
        if method == "users.lookupByEmail":
            user = self.users.get(query.get("email", ""))
            return Answer(
                body={"ok": True, "user": user} if user else {"ok": False, "error": "users_not_found"}
            )
        return Answer(status=404, body={"ok": False, "error": "unknown_method"})

    def _chat(self, method: str, body: dict[str, Any]) -> Answer:
        channel = str(body.get("channel", ""))
        if channel in self.limited:
            return Answer(
                status=429,
                body={"ok": False, "error": "ratelimited"},
                headers={"Retry-After": str(self.limited[channel])},
            )
        if channel not in {c["id"] for c in self.channels}:
            return Answer(body={"ok": False, "error": "channel_not_found"})
        if not body.get("text") and not body.get("blocks"):
            return Answer(body={"ok": False, "error": "no_text"})
        ts = str(body.get("ts") or f"1700000000.{len(self.posted) + 1:06d}")
        message = {"type": "message", "text": body.get("text", ""), "ts": ts, "bot_id": "B0001"}
        if method == "chat.postMessage":
            self.posted.append(body)
            return Answer(body={"ok": True, "channel": channel, "ts": ts, "message": message})
        return Answer(
            body={"ok": True, "channel": channel, "ts": ts, "text": body.get("text", ""), "message": message}
        )

    def _channels(self, query: dict[str, str]) -> Answer:
        start = int(query.get("cursor", "0").removeprefix("dXNlcjo") or 0) if query.get("cursor") else 0
        limit = max(1, min(int(query.get("limit", "100")), 2))  # small pages, so paging is exercised
        page = self.channels[start : start + limit]
        following = start + limit
        cursor = f"dXNlcjo{following}" if following < len(self.channels) else ""
        return Answer(body={"ok": True, "channels": page, "response_metadata": {"next_cursor": cursor}})


@contextmanager
def slack_server(token: str, *, channels: int = 5) -> Iterator[Slack]:
    slack = Slack(
        token=token,
        channels=[{"id": f"C{n:010d}", "name": f"channel-{n}", "is_channel": True} for n in range(channels)],
        users={"ada@example.com": {"id": "U0001", "name": "ada", "profile": {"email": "ada@example.com"}}},
    )
    with http_server(slack.answer) as server:
        slack.server = server
        yield slack
