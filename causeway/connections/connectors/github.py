"""GitHub: issues, comments, labels and repository files through GitHub's REST API, and a trigger for
repository webhooks checked with `X-Hub-Signature-256`.

Follows GitHub's published description of its REST API (`github/rest-api-description`, version
2022-11-28): requests under `https://api.github.com` with `Accept: application/vnd.github+json`,
`X-GitHub-Api-Version: 2022-11-28` and the token as a bearer header; errors as `{"message": ...,
"errors": [{"resource", "field", "code"}]}`; pages followed through the `Link` header's `rel="next"`;
rate limits answered 403 or 429 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`, or `retry-after`.
Webhook deliveries carry `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`, the delivery's
GUID in `X-GitHub-Delivery` (kept on redelivery) and the event's name in `X-GitHub-Event`.

A person may instead sign in through a GitHub OAuth app (`https://github.com/login/oauth/authorize` with
GitHub's scope names, space-separated; the code exchanged at `https://github.com/login/oauth/access_token`
with the client's id and secret in the form and `Accept: application/json`). GitHub answers a refusal
with HTTP 200 and an `error` code, and the granted scopes comma-separated. An app that enables expiring
user tokens adds `expires_in` and a `refresh_token`, refreshed at the same endpoint.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

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
    hub_signature_refused,
    retry_after_seconds,
)

API = "https://api.github.com"
VERSION = "2022-11-28"
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": VERSION}
NAME = r"^[A-Za-z0-9_.-]{1,100}$"
AUTHORIZE = "https://github.com/login/oauth/authorize"
CODE_EXCHANGE = "https://github.com/login/oauth/access_token"
# A fine-grained token's permissions (the connection's scopes for a pasted token) that an OAuth app's
# scopes cover.
PERMISSIONS = ("issues:read", "issues:write", "contents:read", "pull_requests:write")
# GitHub's OAuth app scopes, which are what a sign-in asks for.
OAUTH_SCOPES = ("repo", "public_repo")
# The token endpoint's error codes that mean only a new sign-in helps.
GRANT_GONE = frozenset({"bad_refresh_token", "incorrect_client_credentials", "bad_verification_code"})


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        default=API, title="API URL", description="https://api.github.com, or your GitHub Enterprise Server's"
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return base_url(value)


TOKEN = AuthMethod(
    "bearer",
    "Fine-grained personal access token (github_pat_...)",
    (CredentialField("token", "Token"),),
)


def _scope_params(scopes: list[str], settings: Mapping[str, Any]) -> dict[str, str]:
    """Only GitHub's OAuth app scopes go to its authorize page (a fine-grained permission is no scope)."""
    asked = [s for s in scopes if s in OAUTH_SCOPES]
    return {"scope": " ".join(asked)} if asked else {}


def _token_answer(answer: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """GitHub's token answer with its comma-separated `scope` made RFC 6749's space-separated one."""
    scopes = [s.strip() for s in str(answer.get("scope") or "").split(",") if s.strip()]
    return {**answer, "scope": " ".join(scopes)}


def _url(call: Call, path: str) -> str:
    settings = call.settings
    assert isinstance(settings, Settings)
    return settings.base_url + path


def _repo(owner: str, repo: str) -> str:
    return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"


def _rate_wait(response: httpx.Response) -> float | None:
    waited = retry_after_seconds(response.headers.get("retry-after"))
    if waited is not None:
        return waited
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset", "")
        if reset.isdigit():
            return max(0.0, float(int(reset) - int(time.time())))
    return None


def _checked(response: httpx.Response, what: str) -> Any:
    """GitHub's answer, or ActionFailed naming GitHub's message and error codes."""
    status = response.status_code
    if status < 400:
        return response.json() if response.content else None
    waited = _rate_wait(response) if status in (403, 429) else None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    message = str(answer.get("message", "")) if isinstance(answer, dict) else ""
    codes = [
        f"{e.get('field', '')}: {e.get('code', '')}".strip(": ")
        for e in (answer.get("errors") or [] if isinstance(answer, dict) else [])
        if isinstance(e, dict)
    ]
    detail = f"{message[:200]}" + (f" ({'; '.join(codes)[:200]})" if codes else "")
    if waited is not None or status == 429:
        raise ActionFailed(f"GitHub rate-limited {what}: {detail}", transient=True, retry_after=waited)
    raise ActionFailed(
        f"GitHub answered {what} with HTTP {status}: {detail}",
        transient=status >= 500,
        output=answer if isinstance(answer, dict) else None,
    )


def _send(call: Call, method: str, path: str, what: str, **extra: Any) -> Any:
    return _checked(call.request(method, _url(call, path), headers=dict(HEADERS), **extra), what)


class Repository(ActionInput):
    owner: str = Field(pattern=NAME, title="Owner")
    repo: str = Field(pattern=NAME, title="Repository")


class NewIssue(Repository):
    title: str = Field(min_length=1, max_length=256, title="Title")
    body: str = Field(default="", max_length=65_536, title="Body")
    labels: list[str] = Field(default_factory=list, max_length=100, title="Labels")


class Issue(ActionOutput):
    number: int
    html_url: str = ""
    issue: dict[str, JsonValue] = Field(default_factory=dict)


def create_issue(call: Call, given: NewIssue) -> Issue:
    sent: dict[str, Any] = {"title": given.title}
    if given.body:
        sent["body"] = given.body
    if given.labels:
        sent["labels"] = given.labels
    answer = _send(call, "POST", f"{_repo(given.owner, given.repo)}/issues", "create issue", json=sent)
    return Issue(number=int(answer["number"]), html_url=str(answer.get("html_url", "")), issue=answer)


class IssueRef(Repository):
    issue_number: int = Field(ge=1, title="Issue or pull request number")


class NewComment(IssueRef):
    body: str = Field(min_length=1, max_length=65_536, title="Comment")


class Comment(ActionOutput):
    id: int
    html_url: str = ""


def comment(call: Call, given: NewComment) -> Comment:
    path = f"{_repo(given.owner, given.repo)}/issues/{given.issue_number}/comments"
    answer = _send(call, "POST", path, "comment", json={"body": given.body})
    return Comment(id=int(answer["id"]), html_url=str(answer.get("html_url", "")))


class NewLabels(IssueRef):
    labels: list[str] = Field(min_length=1, max_length=100, title="Labels")


class Labels(ActionOutput):
    labels: list[str]


def add_labels(call: Call, given: NewLabels) -> Labels:
    path = f"{_repo(given.owner, given.repo)}/issues/{given.issue_number}/labels"
    answer = _send(call, "POST", path, "add labels", json={"labels": given.labels})
    return Labels(labels=[str(label.get("name", "")) for label in answer or [] if isinstance(label, dict)])


class NewReviewComment(Repository):
    pull_number: int = Field(ge=1, title="Pull request number")
    body: str = Field(min_length=1, max_length=65_536, title="Comment")
    commit_id: str = Field(pattern=r"^[0-9a-f]{40}$", title="Commit", description="the SHA the comment is on")
    path: str = Field(min_length=1, max_length=1000, title="File path")
    line: int = Field(ge=1, title="Line")
    side: str = Field(default="RIGHT", pattern=r"^(LEFT|RIGHT)$", title="Side of the diff")


def review_comment(call: Call, given: NewReviewComment) -> Comment:
    path = f"{_repo(given.owner, given.repo)}/pulls/{given.pull_number}/comments"
    sent = {
        "body": given.body,
        "commit_id": given.commit_id,
        "path": given.path,
        "line": given.line,
        "side": given.side,
    }
    answer = _send(call, "POST", path, "review comment", json=sent)
    return Comment(id=int(answer["id"]), html_url=str(answer.get("html_url", "")))


class FileRef(Repository):
    path: str = Field(min_length=1, max_length=1000, title="Path", description="such as docs/README.md")
    ref: str = Field(
        default="", max_length=250, title="Branch, tag or commit", description="empty: the default branch"
    )

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("/") or any(part in ("", ".", "..") for part in value.split("/")):
            raise ValueError("a path inside the repository, such as docs/README.md")
        return value


class File(ActionOutput):
    path: str
    sha: str
    size: int
    text: str


def get_file(call: Call, given: FileRef) -> File:
    path = f"{_repo(given.owner, given.repo)}/contents/{quote(given.path)}"
    answer = _send(call, "GET", path, "get file", params={"ref": given.ref} if given.ref else None)
    if not isinstance(answer, dict) or answer.get("type") != "file":
        raise ActionFailed(f"{given.path} is not a file in {given.owner}/{given.repo}")
    try:
        raw = base64.b64decode(str(answer.get("content", "")), validate=False)
    except (binascii.Error, ValueError):
        raise ActionFailed(f"GitHub answered {given.path} with content that is not base64") from None
    return File(
        path=str(answer.get("path", given.path)),
        sha=str(answer.get("sha", "")),
        size=int(answer.get("size", len(raw))),
        text=raw.decode("utf-8", errors="replace"),
    )


class IssueList(Repository):
    state: str = Field(default="open", pattern=r"^(open|closed|all)$", title="State")
    max_items: int = Field(default=500, ge=1, le=10_000, title="At most this many issues")


class Issues(ActionOutput):
    issues: list[dict[str, JsonValue]]
    complete: bool


def list_issues(call: Call, given: IssueList) -> Issues:
    found: list[dict[str, Any]] = []
    url: str | None = _url(call, f"{_repo(given.owner, given.repo)}/issues")
    params: dict[str, Any] | None = {"state": given.state, "per_page": 100}
    settings = call.settings
    assert isinstance(settings, Settings)
    while url is not None:
        response = call.request("GET", url, headers=dict(HEADERS), params=params)
        page = _checked(response, "list issues")
        found += [issue for issue in page or [] if isinstance(issue, dict)]
        following = response.links.get("next", {}).get("url")
        # The next page's URL comes from the answer: it is followed only under the connection's API URL.
        url = following if following and following.startswith(settings.base_url + "/") else None
        params = None
        if len(found) >= given.max_items:
            return Issues(issues=found[: given.max_items], complete=url is None)
    return Issues(issues=found, complete=True)


def _test(call: Call) -> str:
    answer = _send(call, "GET", "/user", "test")
    return f"signed in as {answer.get('login', 'a GitHub user')}" if isinstance(answer, dict) else "signed in"


class Events(ActionInput):
    events: list[str] = Field(
        default_factory=list,
        max_length=50,
        title="Events",
        description="such as issues or pull_request; empty: every event the webhook sends",
    )


def _verify(delivery: Delivery, given: Events) -> Verdict:
    refused = hub_signature_refused(delivery, "X-Hub-Signature-256")
    if refused is not None:
        return refused
    event = (delivery.header("X-GitHub-Event") or "").strip()
    guid = (delivery.header("X-GitHub-Delivery") or "").strip()
    if not event or not guid or len(guid) > 255:
        return Refuse("missing X-GitHub-Event or X-GitHub-Delivery header", 403)
    if event == "ping" or (given.events and event not in given.events):
        # GitHub's check of a new webhook, or an event the recipe does not watch: acknowledged.
        return Reply({"ok": True})
    try:
        payload = json.loads(delivery.body)
    except (UnicodeDecodeError, ValueError):
        return Refuse("the body is not JSON: set the webhook's content type to application/json", 403)
    return Accept(data={"event": event, "delivery": guid, "payload": payload}, delivery_id=guid)


ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" fill="none" '
    'stroke="currentColor" stroke-width="2"><circle cx="6" cy="6" r="2"/><circle cx="6" cy="18" r="2"/>'
    '<circle cx="18" cy="8" r="2"/><path d="M6 8v8M18 10c0 4-6 3-10 6"/></svg>'
)

connector = Connector(
    key="github",
    name="GitHub",
    description="Issues, comments, labels and files in GitHub repositories, and their webhooks.",
    icon=ICON,
    auth_methods=(TOKEN, OAUTH2_CODE),
    settings=Settings,
    scopes=(
        Scope("issues:read", "Read issues and their comments and labels."),
        Scope("issues:write", "Open issues, comment on issues and pull requests, and add labels."),
        Scope("contents:read", "Read files in repositories."),
        Scope("pull_requests:write", "Comment on lines of pull requests' diffs."),
        Scope(
            "repo",
            "OAuth app scope: read and change every repository the person can, private ones too.",
            implies=PERMISSIONS,
        ),
        Scope(
            "public_repo",
            "OAuth app scope: read and change the public repositories the person can.",
            implies=PERMISSIONS,
        ),
    ),
    actions=(
        Action(
            "create_issue",
            "Create an issue",
            "Open an issue in a repository.",
            NewIssue,
            Issue,
            create_issue,
            frozenset({"issues:write"}),
            side_effects=True,
        ),
        Action(
            "comment",
            "Comment",
            "Comment on an issue or a pull request.",
            NewComment,
            Comment,
            comment,
            frozenset({"issues:write"}),
            side_effects=True,
        ),
        Action(
            "add_labels",
            "Add labels",
            "Add labels to an issue or a pull request.",
            NewLabels,
            Labels,
            add_labels,
            frozenset({"issues:write"}),
            side_effects=True,
        ),
        Action(
            "review_comment",
            "Comment on a pull request's diff",
            "A review comment on one line of a pull request's diff.",
            NewReviewComment,
            Comment,
            review_comment,
            frozenset({"pull_requests:write"}),
            side_effects=True,
        ),
        Action(
            "get_file",
            "Get a file",
            "A file's text at a branch, tag or commit.",
            FileRef,
            File,
            get_file,
            frozenset({"contents:read"}),
        ),
        Action(
            "list_issues",
            "List issues",
            "A repository's issues, every page, up to a limit.",
            IssueList,
            Issues,
            list_issues,
            frozenset({"issues:read"}),
        ),
    ),
    triggers=(
        Trigger(
            "webhook",
            "Repository webhook",
            "A job for each event a repository's webhook sends, checked with its secret.",
            "webhook",
            input=Events,
            verify=_verify,
        ),
    ),
    test=_test,
    oauth=OAuth(
        authorize_url=AUTHORIZE,
        token_url=CODE_EXCHANGE,
        scope_params=_scope_params,
        token_answer=_token_answer,
        grant_gone=GRANT_GONE,
        client_authentication="client_secret_post",
    ),
)
