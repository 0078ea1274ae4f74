"""A local GitHub REST API for tests, answering as GitHub's published description says
(`github/rest-api-description`, 2022-11-28): `/repos/{owner}/{repo}/issues` (201 with the issue; 422
`Validation Failed` with `errors` when the title is blank), `.../issues/{n}/comments` (201),
`.../issues/{n}/labels` (200 with the issue's labels), `.../pulls/{n}/comments` (201),
`.../contents/{path}` (a file, base64), issue lists paged through `Link: <...>; rel="next"`, 401
`Bad credentials`, 404 `Not Found`, and a 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`
when the rate limit is spent.

An OAuth app's sign-in as GitHub documents it: `/login/oauth/authorize` shows a consent page for the
space-separated `scope` and redirects back with a code (or `error=access_denied`);
`/login/oauth/access_token` takes the client's id and secret in the form, answers JSON when asked with
`Accept: application/json` (form-encoded otherwise), HTTP 200 with an `error` code when it refuses
(`bad_verification_code`, `incorrect_client_credentials`, `redirect_uri_mismatch`, `bad_refresh_token`),
and the granted scopes comma-separated. With expiring user tokens on, each token comes with `expires_in`
and a `refresh_token` spent by `grant_type=refresh_token`; an expired token is answered 401."""

from __future__ import annotations

import base64
import html
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from causeway.connections.tests.servers import Answer, Received, Server, http_server

DOCS = "https://docs.github.com/rest"


@dataclass
class GitHub:
    token: str
    issues: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    limited: bool = False
    server: Server | None = None
    # The OAuth app: its client, its callback URL, and whether user tokens expire.
    client_id: str = "Iv1.8a61f9b3a7aba766"
    client_secret: str = ""
    redirect_uris: list[str] = field(default_factory=list)
    expiring: bool = False
    tokens: dict[str, str] = field(default_factory=dict)
    expired: set[str] = field(default_factory=set)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def endpoints(self) -> dict[str, str]:
        return {
            "authorize_url": f"{self.url}/login/oauth/authorize",
            "token_url": f"{self.url}/login/oauth/access_token",
            "revoke_url": "",
        }

    def authorize_query(self) -> dict[str, list[str]]:
        """The query of the last request to the consent page."""
        assert self.server is not None
        paths = [r.path for r in self.server.received if r.path.startswith("/login/oauth/authorize")]
        return parse_qs(urlsplit(paths[-1]).query)

    def expire_all(self) -> None:
        self.expired.update(self.tokens)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def answer(self, got: Received) -> Answer:
        parts = urlsplit(got.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if path == "/login/oauth/authorize":
            return self._authorize(got)
        if path == "/login/oauth/access_token" and got.method == "POST":
            return self._access_token(got)
        sent = got.headers.get("Authorization", "").removeprefix("Bearer ")
        if sent != self.token and (sent not in self.tokens or sent in self.expired):
            return Answer(status=401, body={"message": "Bad credentials", "documentation_url": DOCS})
        if self.limited:
            reset = str(int(time.time()) + 40)
            return Answer(
                status=403,
                body={"message": "API rate limit exceeded for user.", "documentation_url": DOCS},
                headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
            )
        body = json.loads(got.body) if got.body else {}
        segments = path.strip("/").split("/")
        if path == "/user":
            return Answer(body={"login": "octocat", "id": 1})
        if segments[:1] != ["repos"] or len(segments) < 4 or segments[1:3] != ["acme", "api"]:
            return Answer(status=404, body={"message": "Not Found", "documentation_url": DOCS})
        rest = segments[3:]
        if rest == ["issues"] and got.method == "POST":
            if not str(body.get("title", "")).strip():
                return Answer(
                    status=422,
                    body={
                        "message": "Validation Failed",
                        "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}],
                        "documentation_url": DOCS,
                    },
                )
            number = len(self.issues) + 1
            issue = {
                "number": number,
                "title": body["title"],
                "html_url": f"https://github.com/acme/api/issues/{number}",
                "labels": [{"name": n} for n in body.get("labels", [])],
                "state": "open",
            }
            self.issues.append(issue)
            return Answer(status=201, body=issue)
        if rest == ["issues"] and got.method == "GET":
            page, size = int(query.get("page", "1")), int(query.get("per_page", "30"))
            size = min(size, 2)  # small pages, so the Link header is followed
            chunk = self.issues[(page - 1) * size : page * size]
            headers = {}
            if page * size < len(self.issues):
                following = f"{self.url}/repos/acme/api/issues?state=open&per_page={size}&page={page + 1}"
                headers["Link"] = f'<{following}>; rel="next"'
            return Answer(body=chunk, headers=headers)
        if len(rest) == 3 and rest[0] == "issues" and rest[2] in ("comments", "labels"):
            number = int(rest[1])
            if number > len(self.issues):
                return Answer(status=404, body={"message": "Not Found", "documentation_url": DOCS})
            if rest[2] == "comments":
                return Answer(
                    status=201,
                    body={
                        "id": 1000 + number,
                        "body": body.get("body"),
                        "html_url": f"https://github.com/acme/api/issues/{number}#issuecomment-1",
                    },
                )
            issue = self.issues[number - 1]
            issue["labels"] += [{"name": n} for n in body.get("labels", [])]
            return Answer(body=issue["labels"])
        if len(rest) == 3 and rest[0] == "pulls" and rest[2] == "comments" and got.method == "POST":
            missing = [name for name in ("body", "commit_id", "path", "line") if name not in body]
            if missing or rest[1] != "3":
                field = missing[0] if missing else "pull_number"
                return Answer(
                    status=422 if missing else 404,
                    body={
                        "message": "Validation Failed" if missing else "Not Found",
                        "errors": [
                            {"resource": "PullRequestReviewComment", "field": field, "code": "missing_field"}
                        ]
                        if missing
                        else [],
                        "documentation_url": DOCS,
                    },
                )
            return Answer(
                status=201,
                body={**body, "id": 2000, "html_url": "https://github.com/acme/api/pull/3#discussion_r2000"},
            )
        if rest[:1] == ["contents"]:
            name = "/".join(rest[1:])
            if name not in self.files:
                return Answer(status=404, body={"message": "Not Found", "documentation_url": DOCS})
            raw = self.files[name].encode()
            encoded = base64.encodebytes(raw).decode()
            return Answer(
                body={
                    "type": "file",
                    "encoding": "base64",
                    "path": name,
                    "sha": "3d21ec53a331a6f037a91c368710b99387d012c1",
                    "size": len(raw),
                    "content": encoded,
                }
            )
        return Answer(status=404, body={"message": "Not Found", "documentation_url": DOCS})

    def _authorize(self, got: Received) -> Answer:
        query = dict(parse_qsl(urlsplit(got.path).query))
        if query.get("client_id") != self.client_id:
            return Answer(status=404, body="<p>Not Found</p>", headers=HTML)
        back: dict[str, str] = {"state": query.get("state", "")}
        if query.get("redirect_uri") not in self.redirect_uris:
            back.update(error="redirect_uri_mismatch")
            return Answer(status=302, headers={"Location": f"{self.redirect_uris[0]}?{urlencode(back)}"})
        if got.method == "GET":
            page = CONSENT.format(scopes=html.escape(query.get("scope", "")), action=html.escape(got.path))
            return Answer(body=page, headers=HTML)
        if dict(parse_qsl(got.body.decode())).get("decision") == "allow":
            code = secrets.token_hex(10)
            self.codes[code] = {"scope": query.get("scope", ""), "redirect_uri": query["redirect_uri"]}
            back["code"] = code
        else:
            back.update(
                error="access_denied", error_description="The user has denied your application access."
            )
        return Answer(status=302, headers={"Location": f"{query['redirect_uri']}?{urlencode(back)}"})

    def _access_token(self, got: Received) -> Answer:
        form = dict(parse_qsl(got.body.decode()))
        self.token_requests.append(form)
        if form.get("client_id") != self.client_id or not secrets.compare_digest(
            form.get("client_secret", ""), self.client_secret
        ):
            return self._token_reply(got, {"error": "incorrect_client_credentials"})
        if form.get("grant_type") == "refresh_token":
            scope = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if scope is None:
                return self._token_reply(got, {"error": "bad_refresh_token"})
            return self._token_reply(got, self._issue(scope))
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None:
            return self._token_reply(got, {"error": "bad_verification_code"})
        if form.get("redirect_uri", grant["redirect_uri"]) != grant["redirect_uri"]:
            return self._token_reply(got, {"error": "redirect_uri_mismatch"})
        return self._token_reply(got, self._issue(grant["scope"]))

    def _issue(self, scope: str) -> dict[str, Any]:
        token = f"gh{'u' if self.expiring else 'o'}_{secrets.token_hex(18)}"
        self.tokens[token] = scope
        issued: dict[str, Any] = {
            "access_token": token,
            "scope": ",".join(scope.split()),
            "token_type": "bearer",
        }
        if self.expiring:
            refresh = f"ghr_{secrets.token_hex(30)}"
            self.refresh_tokens[refresh] = scope
            issued.update(expires_in=28800, refresh_token=refresh, refresh_token_expires_in=15811200)
        return issued

    @staticmethod
    def _token_reply(got: Received, body: dict[str, Any]) -> Answer:
        if "error" in body:
            body = {**body, "error_description": body["error"].replace("_", " "), "error_uri": DOCS}
        if got.headers.get("Accept", "") == "application/json":
            return Answer(body=body)
        return Answer(body=urlencode(body), headers={"Content-Type": "application/x-www-form-urlencoded"})


HTML = {"Content-Type": "text/html; charset=utf-8"}
CONSENT = """<!doctype html><html><head><title>Authorize application</title></head><body>
<h1>Authorize Causeway</h1><p>It asks for: <span id="scopes">{scopes}</span></p>
<form method="post" action="{action}">
<button type="submit" name="decision" value="allow" id="allow">Authorize</button>
<button type="submit" name="decision" value="deny" id="deny">Cancel</button></form></body></html>"""


@contextmanager
def github_server(
    token: str, *, client_secret: str = "", redirect_uris: list[str] | None = None, expiring: bool = False
) -> Iterator[GitHub]:
    github = GitHub(
        token=token,
        files={"docs/README.md": "# API\nHello, reader.\n"},
        client_secret=client_secret,
        redirect_uris=list(redirect_uris or []),
        expiring=expiring,
    )
    with http_server(github.answer) as server:
        github.server = server
        yield github
