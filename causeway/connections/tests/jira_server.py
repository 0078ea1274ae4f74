"""A local Jira Cloud for tests, answering as the Jira Cloud platform REST API v3 reference says, both as a
site (`/rest/api/3/...`, HTTP Basic with an account's email and API token) and behind Atlassian's API
gateway (`/ex/jira/{cloud id}/rest/api/3/...`, a bearer token the local authorization server issued and
has not expired, and `/oauth/token/accessible-resources` listing the site):

- `POST /issue`: 201 `{"id", "key", "self"}`; 400 with `errors: {"summary": ...}` without a summary, or
  `errorMessages` for an unknown project.
- `GET /issue/{key}/transitions`: the transitions the issue's status offers; `POST` the same path with
  `{"transition": {"id"}}`: 204, or 400 `errorMessages` for a transition not offered.
- `POST /issue/{key}/comment`: 201 with the comment; 400 when the body is not an ADF document.
- `POST /search`: `{"startAt", "maxResults", "total", "issues"}`, at most two issues a page.
- `GET /myself`; 404 `Issue does not exist or you do not have permission to see it.`
- 401 for wrong credentials; 429 with `Retry-After` while `limited` is set.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from causeway.connections.tests.oauth_provider import Provider
from causeway.connections.tests.servers import Answer, Received, Server, http_server

CLOUD_ID = "1324a887-45db-1bf4-1e99-ef0ff456d421"
PAGE = 2
RETRY_AFTER = "2"
WORKFLOW = {
    "To Do": [
        {"id": "21", "name": "In Progress", "to": "In Progress"},
        {"id": "31", "name": "Done", "to": "Done"},
    ],
    "In Progress": [{"id": "31", "name": "Done", "to": "Done"}, {"id": "11", "name": "To Do", "to": "To Do"}],
    "Done": [{"id": "11", "name": "Reopen", "to": "To Do"}],
}
MISSING = "Issue does not exist or you do not have permission to see it."


@dataclass
class Jira:
    email: str
    token: str
    provider: Provider | None = None
    issues: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    limited: bool = False
    server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def add_issue(self, summary: str, project: str = "OPS") -> dict[str, Any]:
        number = len(self.issues) + 1
        issue = {
            "id": str(10000 + number),
            "key": f"{project}-{number}",
            "self": f"{self.url}/rest/api/3/issue/{10000 + number}",
            "fields": {"summary": summary, "status": {"name": "To Do"}, "project": {"key": project}},
        }
        self.issues.append(issue)
        return issue

    def _authorised(self, got: Received, gateway: bool) -> bool:
        auth = got.headers.get("Authorization", "")
        if gateway:
            return self.provider is not None and auth.startswith("Bearer ") and self.provider.live(auth[7:])
        pair = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        return auth == f"Basic {pair}"

    def answer(self, got: Received) -> Answer:
        path = urlsplit(got.path).path
        gateway = path.startswith("/ex/jira/") or path.startswith("/oauth/")
        if not self._authorised(got, gateway):
            return Answer(status=401, body={"code": 401, "message": "Unauthorized; scope does not match"})
        if self.limited:
            return Answer(
                status=429,
                body={"errorMessages": ["Rate limit exceeded."]},
                headers={"Retry-After": RETRY_AFTER},
            )
        if path == "/oauth/token/accessible-resources":
            site = {
                "id": CLOUD_ID,
                "url": self.url,
                "name": "acme",
                "scopes": ["read:jira-work", "write:jira-work"],
            }
            return Answer(body=[site])
        prefix = f"/ex/jira/{CLOUD_ID}/rest/api/3" if gateway else "/rest/api/3"
        if not path.startswith(prefix + "/"):
            return Answer(status=404, body={"errorMessages": ["No site here."]})
        rest = path.removeprefix(prefix).strip("/").split("/")
        body = json.loads(got.body) if got.body else {}
        if rest == ["myself"]:
            return Answer(
                body={
                    "accountId": "5b10a2844c20165700ede21g",
                    "displayName": "Pat",
                    "emailAddress": self.email,
                }
            )
        if rest == ["issue"] and got.method == "POST":
            return self._create(body.get("fields") or {})
        if rest == ["search"] and got.method == "POST":
            start, size = int(body.get("startAt", 0)), min(int(body.get("maxResults", 50)), PAGE)
            chunk = self.issues[start : start + size]
            return Answer(
                body={"startAt": start, "maxResults": size, "total": len(self.issues), "issues": chunk}
            )
        if len(rest) == 3 and rest[0] == "issue":
            issue = next((i for i in self.issues if rest[1] in (i["key"], i["id"])), None)
            if issue is None:
                return Answer(status=404, body={"errorMessages": [MISSING], "errors": {}})
            if rest[2] == "transitions":
                return self._transition(got, issue, body)
            if rest[2] == "comment" and got.method == "POST":
                document = body.get("body")
                if not isinstance(document, dict) or document.get("type") != "doc":
                    return Answer(
                        status=400,
                        body={"errorMessages": [], "errors": {"comment": "Comment body is not valid!"}},
                    )
                made = {
                    "id": str(20000 + len(self.comments)),
                    "self": f"{self.url}/rest/api/3/issue/{issue['id']}/comment",
                    "body": document,
                }
                self.comments.append({**made, "issue": issue["key"]})
                return Answer(status=201, body=made)
        return Answer(status=404, body={"errorMessages": ["Not found."]})

    def _create(self, fields: dict[str, Any]) -> Answer:
        if not str(fields.get("summary", "")).strip():
            return Answer(
                status=400,
                body={"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}},
            )
        project = (fields.get("project") or {}).get("key")
        if project != "OPS":
            return Answer(
                status=400, body={"errorMessages": [], "errors": {"project": "valid project is required"}}
            )
        issue = self.add_issue(fields["summary"], project)
        issue["fields"].update({k: v for k, v in fields.items() if k not in ("summary", "project")})
        return Answer(status=201, body={"id": issue["id"], "key": issue["key"], "self": issue["self"]})

    def _transition(self, got: Received, issue: dict[str, Any], body: dict[str, Any]) -> Answer:
        status = issue["fields"]["status"]["name"]
        offered = WORKFLOW[status]
        if got.method == "GET":
            shown = [{"id": t["id"], "name": t["name"], "to": {"name": t["to"]}} for t in offered]
            return Answer(body={"expand": "transitions", "transitions": shown})
        wanted = str((body.get("transition") or {}).get("id", ""))
        chosen = next((t for t in offered if t["id"] == wanted), None)
        if chosen is None:
            return Answer(
                status=400,
                body={
                    "errorMessages": [f"Transition id '{wanted}' is not valid for this issue."],
                    "errors": {},
                },
            )
        issue["fields"]["status"] = {"name": chosen["to"]}
        return Answer(status=204, body=b"")


@contextmanager
def jira_server(email: str, token: str, provider: Provider | None = None) -> Iterator[Jira]:
    jira = Jira(email=email, token=token, provider=provider)
    with http_server(jira.answer) as server:
        jira.server = server
        yield jira
