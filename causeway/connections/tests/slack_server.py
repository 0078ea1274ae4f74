"""A local Slack Web API for tests, answering as Slack's published description says
(`slackapi/slack-api-specs`, `web-api/slack_web_openapi_v2.json`): methods under `/api/<method>`, the token
as `Authorization: Bearer`, HTTP 200 with `{"ok": false, "error": ...}` when a method refuses (`not_authed`,
`invalid_auth`, `channel_not_found`, `users_not_found`, ...), `conversations.list` paged by `cursor` and
`limit` with `response_metadata.next_cursor` empty on the last page, and HTTP 429 with `Retry-After` and
`{"ok": false, "error": "ratelimited"}` for a rate-limited call.

Slack's OAuth 2.0 v2 as Slack documents it: `/oauth/v2/authorize` shows a consent page for the
comma-separated bot scopes in `scope` and a person's in `user_scope`, and redirects back with a code (or
`error=access_denied`); `/api/oauth.v2.access` takes the client by HTTP Basic or in the form, answers HTTP
200 with `ok: false` and Slack's error code when it refuses (`invalid_code`, `bad_redirect_uri`,
`bad_client_secret`, `invalid_refresh_token`), the bot token in `access_token` (`token_type: bot`) and the
person's in `authed_user`. With token rotation on, each token expires (`expires_in`) and comes with a
`refresh_token`, spent when used with `grant_type=refresh_token`.

Files go up Slack's external way: `files.getUploadURLExternal` (form-encoded `filename` and `length`)
answers an `upload_url` and a `file_id`; the bytes POSTed to that URL (no token needed) are answered
`OK - <length>`; `files.completeUploadExternal` (form-encoded `files` as a JSON array of `{id, title}`,
`channel_id`, `initial_comment`, `thread_ts`) shares them and answers the files, or `file_not_found`
for an id never uploaded."""

from __future__ import annotations

import base64
import html
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

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
    # The Slack app's OAuth client, the redirect URL registered for it, and token rotation.
    client_id: str = "1111111111.2222222222"
    client_secret: str = ""
    redirect_uris: list[str] = field(default_factory=list)
    rotation: bool = False
    # Tokens issued through OAuth, and what each allows.
    tokens: dict[str, str] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)
    # Files by id: name, the length announced, the bytes received, and where they were shared.
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)

    def endpoints(self) -> dict[str, str]:
        assert self.server is not None
        return {
            "authorize_url": f"{self.server.url}/oauth/v2/authorize",
            "token_url": f"{self.server.url}/api/oauth.v2.access",
            "revoke_url": "",
        }

    def authorize_query(self) -> dict[str, list[str]]:
        """The query of the last request to the consent page."""
        assert self.server is not None
        paths = [r.path for r in self.server.received if r.path.startswith("/oauth/v2/authorize")]
        return parse_qs(urlsplit(paths[-1]).query)

    def expire_all(self) -> None:
        """Every token issued through OAuth so far is past its time (Slack then answers `token_expired`)."""
        self.expired.update(self.tokens)

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
        if parts.path == "/oauth/v2/authorize":
            return self._authorize(got)
        if method == "oauth.v2.access":
            return self._access(got)
        if parts.path.startswith("/upload/v1/"):
            return self._upload(parts.path.removeprefix("/upload/v1/"), got)
        sent = got.headers.get("Authorization", "")
        if sent.removeprefix("Bearer ") in self.expired:
            return Answer(body={"ok": False, "error": "token_expired"})
        if sent != f"Bearer {self.token}" and sent.removeprefix("Bearer ") not in self.tokens:
            error = "not_authed" if "Authorization" not in got.headers else "invalid_auth"
            return Answer(body={"ok": False, "error": error})
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body: dict[str, Any] = {}
        if got.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            body = dict(parse_qsl(got.body.decode()))
        elif got.body:
            body = json.loads(got.body)
        if method == "files.getUploadURLExternal":
            return self._upload_url(body or query)
        if method == "files.completeUploadExternal":
            return self._complete(body)
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

    def _authorize(self, got: Received) -> Answer:
        query = dict(parse_qsl(urlsplit(got.path).query))
        if query.get("client_id") != self.client_id or query.get("redirect_uri") not in self.redirect_uris:
            return Answer(status=400, body="<p>Invalid client_id or redirect_uri.</p>", headers=HTML)
        asked = ",".join(x for x in (query.get("scope", ""), query.get("user_scope", "")) if x)
        if got.method == "GET":
            page = CONSENT.format(scopes=html.escape(asked.replace(",", " ")), action=html.escape(got.path))
            return Answer(body=page, headers=HTML)
        decision = dict(parse_qsl(got.body.decode())).get("decision")
        back: dict[str, str] = {"state": query.get("state", "")}
        if decision == "allow":
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "scope": query.get("scope", ""),
                "user_scope": query.get("user_scope", ""),
                "redirect_uri": query["redirect_uri"],
            }
            back["code"] = code
        else:
            back["error"] = "access_denied"
        return Answer(status=302, headers={"Location": f"{query['redirect_uri']}?{urlencode(back)}"})

    def _access(self, got: Received) -> Answer:
        form = dict(parse_qsl(got.body.decode()))
        self.token_requests.append(form)
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = got.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if client_id != self.client_id:
            return Answer(body={"ok": False, "error": "invalid_client_id"})
        if not secrets.compare_digest(client_secret, self.client_secret):
            return Answer(body={"ok": False, "error": "bad_client_secret"})
        if form.get("grant_type") == "refresh_token":
            grant = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if grant is None:
                return Answer(body={"ok": False, "error": "invalid_refresh_token"})
            kind = grant["kind"]
            return Answer(body={"ok": True, **self._issue(kind, grant["scope"]), "token_type": kind})
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None:
            return Answer(body={"ok": False, "error": "invalid_code"})
        if form.get("redirect_uri", grant["redirect_uri"]) != grant["redirect_uri"]:
            return Answer(body={"ok": False, "error": "bad_redirect_uri"})
        answer: dict[str, Any] = {
            "ok": True,
            "app_id": "A0001",
            "team": {"id": "T0001", "name": "Acme"},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": "U0001"},
        }
        if grant["scope"]:
            answer.update(self._issue("bot", grant["scope"]), token_type="bot", bot_user_id="B0001")
        if grant["user_scope"]:
            answer["authed_user"].update(self._issue("user", grant["user_scope"]), token_type="user")
        return Answer(body=answer)

    def _issue(self, kind: str, scope: str) -> dict[str, Any]:
        token = f"{'xoxb' if kind == 'bot' else 'xoxp'}-{secrets.token_hex(12)}"
        if self.rotation:
            token = f"xoxe.{token}"
        self.tokens[token] = scope
        issued: dict[str, Any] = {"access_token": token, "scope": scope}
        if self.rotation:
            refresh = f"xoxe-1-{secrets.token_hex(16)}"
            self.refresh_tokens[refresh] = {"kind": kind, "scope": scope}
            issued.update(refresh_token=refresh, expires_in=43200)
        return issued

    def _upload_url(self, given: dict[str, str]) -> Answer:
        if not given.get("filename"):
            return Answer(body={"ok": False, "error": "invalid_arguments"})
        if not str(given.get("length", "")).isdigit():
            return Answer(body={"ok": False, "error": "invalid_arguments"})
        assert self.server is not None
        file_id = f"F{len(self.uploads) + 1:010d}"
        self.uploads[file_id] = {"filename": given["filename"], "length": int(given["length"]), "data": None}
        return Answer(
            body={"ok": True, "upload_url": f"{self.server.url}/upload/v1/{file_id}", "file_id": file_id}
        )

    def _upload(self, file_id: str, got: Received) -> Answer:
        found = self.uploads.get(file_id)
        if found is None or got.method != "POST":
            return Answer(status=404, body="Not Found")
        found["data"] = got.body
        found["authorization"] = got.headers.get("Authorization", "")
        return Answer(body=f"OK - {len(got.body)}")

    def _complete(self, body: dict[str, str]) -> Answer:
        try:
            files = json.loads(body.get("files", ""))
        except ValueError:
            return Answer(body={"ok": False, "error": "invalid_arguments"})
        channel = body.get("channel_id", "")
        if channel and channel not in {c["id"] for c in self.channels}:
            return Answer(body={"ok": False, "error": "channel_not_found"})
        shared = []
        for item in files if isinstance(files, list) else []:
            found = self.uploads.get(str(item.get("id", "")))
            if found is None or found["data"] is None or len(found["data"]) != found["length"]:
                return Answer(body={"ok": False, "error": "file_not_found"})
            found.update(
                channel=channel, comment=body.get("initial_comment", ""), thread_ts=body.get("thread_ts", "")
            )
            shared.append(
                {"id": item["id"], "title": item.get("title") or found["filename"], "name": found["filename"]}
            )
        if not shared:
            return Answer(body={"ok": False, "error": "invalid_arguments"})
        return Answer(body={"ok": True, "files": shared})

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


HTML = {"Content-Type": "text/html; charset=utf-8"}
CONSENT = """<!doctype html><html><head><title>Slack</title></head><body>
<h1>Causeway is requesting permission to access the Acme Slack workspace</h1>
<p>It asks for: <span id="scopes">{scopes}</span></p>
<form method="post" action="{action}">
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Cancel</button></form></body></html>"""


@contextmanager
def slack_server(
    token: str,
    *,
    channels: int = 5,
    client_secret: str = "",
    redirect_uris: list[str] | None = None,
    rotation: bool = False,
) -> Iterator[Slack]:
    slack = Slack(
        client_secret=client_secret,
        redirect_uris=list(redirect_uris or []),
        rotation=rotation,
        token=token,
        channels=[{"id": f"C{n:010d}", "name": f"channel-{n}", "is_channel": True} for n in range(channels)],
        users={"ada@example.com": {"id": "U0001", "name": "ada", "profile": {"email": "ada@example.com"}}},
    )
    with http_server(slack.answer) as server:
        slack.server = server
        yield slack
