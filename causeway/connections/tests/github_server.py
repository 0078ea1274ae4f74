"""A local GitHub REST API for tests, answering as GitHub's published description says
(`github/rest-api-description`, 2022-11-28): `/repos/{owner}/{repo}/issues` (201 with the issue; 422
`Validation Failed` with `errors` when the title is blank), `.../issues/{n}/comments` (201),
`.../issues/{n}/labels` (200 with the issue's labels), `.../pulls/{n}/comments` (201),
`.../contents/{path}` (a file, base64), issue lists paged through `Link: <...>; rel="next"`, 401
`Bad credentials`, 404 `Not Found`, and a 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`
when the rate limit is spent."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from causeway.connections.tests.servers import Answer, Received, Server, http_server

DOCS = "https://docs.github.com/rest"


@dataclass
class GitHub:
    token: str
    issues: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    limited: bool = False
    server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def answer(self, got: Received) -> Answer:
        parts = urlsplit(got.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if got.headers.get("Authorization", "") != f"Bearer {self.token}":
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


@contextmanager
def github_server(token: str) -> Iterator[GitHub]:
    github = GitHub(token=token, files={"docs/README.md": "# API\nHello, reader.\n"})
    with http_server(github.answer) as server:
        github.server = server
        yield github
