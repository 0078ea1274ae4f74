"""Jira Cloud: create issues, move them through their workflow, comment and search with JQL through Jira's
REST API v3, signed in with OAuth 2.0 (3LO) or an API token, and a trigger for admin webhooks registered
with a secret.

Follows the Jira Cloud platform REST API v3 reference (developer.atlassian.com, `/rest/api/3`): `POST
/issue` (201 with id, key and self), `GET` and `POST /issue/{key}/transitions` (204), `POST
/issue/{key}/comment` with an Atlassian Document Format body (201), and `POST /search` paged with
`startAt`/`maxResults` until `total` is reached; errors as `{"errorMessages": [...], "errors": {field:
message}}`; rate limits as 429 with `Retry-After`. An API token connection calls the site itself
(`https://<site>.atlassian.net/rest/api/3/...`) with HTTP Basic (the account's email and the token); an
OAuth connection calls `https://api.atlassian.com/ex/jira/{cloud id}/rest/api/3/...` with a bearer token,
the cloud id read from `GET /oauth/token/accessible-resources` (the site matching the connection's) when
the connection does not name one. The authorization server is `auth.atlassian.com`
(`audience=api.atlassian.com`, `prompt=consent`); Atlassian offers no token revocation endpoint.

Admin webhooks registered with a secret are signed `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret,
body)>` (WebSub's method=signature); `X-Atlassian-Webhook-Identifier` names the delivery and stays the
same on Jira's retries.
"""

from __future__ import annotations

import json
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

GATEWAY = "https://api.atlassian.com"
AUTHORIZATION_SERVER = "https://auth.atlassian.com"
REST = "/rest/api/3"
# Jira's own bound on a search page.
PAGE = 100
ISSUE_KEY = r"^[A-Z][A-Z0-9_]{0,254}-[1-9][0-9]{0,17}$|^[1-9][0-9]{0,17}$"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_url: str = Field(
        title="Site URL", description="your Jira site, such as https://your-company.atlassian.net"
    )
    api_url: str = Field(
        default=GATEWAY,
        title="Atlassian API URL (OAuth)",
        description="https://api.atlassian.com: where an OAuth connection reaches your site",
    )
    cloud_id: str = Field(
        default="",
        pattern=r"^([0-9a-fA-F-]{1,64})?$",
        title="Cloud id (OAuth)",
        description="empty: found from the site URL when the connection is used",
    )

    @field_validator("site_url", "api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return base_url(value)


API_TOKEN = AuthMethod(
    "basic",
    "Email and API token (from id.atlassian.com → Security → API tokens)",
    (
        CredentialField("username", "Atlassian account email", secret=False),
        CredentialField("password", "API token"),
    ),
)


def _settings(call: Call) -> Settings:
    settings = call.settings
    assert isinstance(settings, Settings)
    return settings


def _checked(response: httpx.Response, what: str) -> Any:
    """Jira's answer, or ActionFailed naming Jira's error messages and field errors."""
    status = response.status_code
    if status < 400:
        return response.json() if response.content else None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    messages: list[str] = []
    if isinstance(answer, dict):
        messages += [str(m)[:300] for m in answer.get("errorMessages") or [] if m]
        fields = answer.get("errors")
        if isinstance(fields, dict):
            messages += [f"{str(k)[:60]}: {str(v)[:300]}" for k, v in fields.items()]
        if not messages and answer.get("message"):
            messages.append(str(answer["message"])[:300])
    detail = "; ".join(messages)[:600] or "no message"
    if status == 429:
        raise ActionFailed(
            f"Jira rate-limited {what}: {detail}",
            transient=True,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )
    raise ActionFailed(
        f"Jira refused {what} (HTTP {status}): {detail}",
        transient=status >= 500,
        output=answer if isinstance(answer, dict) else None,
    )


def _cloud_id(call: Call, settings: Settings) -> str:
    """The site's cloud id, as the connection names it or as Atlassian lists the sites the token reaches."""
    if settings.cloud_id:
        return settings.cloud_id
    found = _checked(
        call.request("GET", f"{settings.api_url}/oauth/token/accessible-resources"), "list accessible sites"
    )
    sites = [s for s in found or [] if isinstance(s, dict)]
    wanted = settings.site_url.rstrip("/").lower()
    for site in sites:
        if str(site.get("url", "")).rstrip("/").lower() == wanted and site.get("id"):
            return quote(str(site["id"]), safe="")
    reachable = ", ".join(str(s.get("url", ""))[:100] for s in sites) or "none"
    raise ActionFailed(f"this sign-in does not reach {settings.site_url} (it reaches: {reachable})")


def _rest(call: Call) -> str:
    settings = _settings(call)
    if call.auth == "oauth2_code":
        return f"{settings.api_url}/ex/jira/{_cloud_id(call, settings)}{REST}"
    return settings.site_url + REST


def _send(call: Call, method: str, path: str, what: str, **extra: Any) -> Any:
    headers = {"Accept": "application/json"}
    return _checked(call.request(method, _rest(call) + path, headers=headers, **extra), what)


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document: a paragraph per line (blank lines dropped)."""
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]}
        for line in text.splitlines()
        if line
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


def _document(text: str, document: dict[str, Any] | None) -> dict[str, Any]:
    if document is not None:
        if document.get("type") != "doc" or document.get("version") != 1:
            raise ActionFailed('an Atlassian Document Format body is {"type": "doc", "version": 1, ...}')
        return document
    return adf(text)


class NewIssue(ActionInput):
    project_key: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,254}$", title="Project key")
    issue_type: str = Field(default="Task", min_length=1, max_length=255, title="Issue type")
    summary: str = Field(min_length=1, max_length=255, title="Summary")
    description: str = Field(default="", max_length=32_767, title="Description (text)")
    labels: list[str] = Field(default_factory=list, max_length=100, title="Labels")
    fields: dict[str, JsonValue] = Field(
        default_factory=dict, title="Other fields (JSON)", description="such as priority or a custom field"
    )


class Issue(ActionOutput):
    id: str
    key: str
    self_url: str = ""


def create_issue(call: Call, given: NewIssue) -> Issue:
    fields: dict[str, Any] = {
        **given.fields,
        "project": {"key": given.project_key},
        "issuetype": {"name": given.issue_type},
        "summary": given.summary,
    }
    if given.description:
        fields["description"] = adf(given.description)
    if given.labels:
        fields["labels"] = given.labels
    answer = _send(call, "POST", "/issue", "create issue", json={"fields": fields})
    return Issue(
        id=str(answer.get("id", "")), key=str(answer.get("key", "")), self_url=str(answer.get("self", ""))
    )


class Transition(ActionInput):
    issue_key: str = Field(pattern=ISSUE_KEY, title="Issue key", description="such as OPS-42")
    transition: str = Field(
        min_length=1, max_length=255, title="Transition", description="its name (Done) or its id (31)"
    )


class Transitioned(ActionOutput):
    transition_id: str
    transition_name: str
    status: str = ""


def transition(call: Call, given: Transition) -> Transitioned:
    path = f"/issue/{quote(given.issue_key, safe='')}/transitions"
    offered = _send(call, "GET", path, "list transitions") or {}
    choices = [t for t in offered.get("transitions") or [] if isinstance(t, dict)]
    wanted = given.transition.strip()
    chosen = next((t for t in choices if str(t.get("id")) == wanted), None) or next(
        (t for t in choices if str(t.get("name", "")).casefold() == wanted.casefold()), None
    )
    if chosen is None:
        names = ", ".join(f"{t.get('name')} ({t.get('id')})" for t in choices)[:500] or "none"
        raise ActionFailed(f"{given.issue_key} has no transition {wanted!r} now; it offers: {names}")
    _send(call, "POST", path, "transition", json={"transition": {"id": str(chosen["id"])}})
    target = chosen.get("to")
    return Transitioned(
        transition_id=str(chosen["id"]),
        transition_name=str(chosen.get("name", "")),
        status=str(target.get("name", "")) if isinstance(target, dict) else "",
    )


class NewComment(ActionInput):
    issue_key: str = Field(pattern=ISSUE_KEY, title="Issue key")
    body: str = Field(default="", max_length=32_767, title="Comment (text)")
    document: dict[str, JsonValue] | None = Field(
        default=None, title="Comment (Atlassian Document Format)", description="instead of the text"
    )


class Comment(ActionOutput):
    id: str
    self_url: str = ""


def comment(call: Call, given: NewComment) -> Comment:
    if not given.body.strip() and given.document is None:
        raise ActionFailed("a comment needs a body or a document")
    body = _document(given.body, given.document)
    path = f"/issue/{quote(given.issue_key, safe='')}/comment"
    answer = _send(call, "POST", path, "comment", json={"body": body})
    return Comment(id=str(answer.get("id", "")), self_url=str(answer.get("self", "")))


class Search(ActionInput):
    jql: str = Field(
        min_length=1, max_length=10_000, title="JQL", description="such as project = OPS AND status = Open"
    )
    fields: list[str] = Field(
        default_factory=lambda: ["summary", "status", "assignee"], max_length=100, title="Fields"
    )
    max_items: int = Field(default=500, ge=1, le=10_000, title="At most this many issues")


class SearchResult(ActionOutput):
    issues: list[dict[str, JsonValue]]
    total: int
    complete: bool = Field(description="false when max_items stopped the search before its end")


def search(call: Call, given: Search) -> SearchResult:
    found: list[dict[str, Any]] = []
    total = 0
    while True:
        asked = {
            "jql": given.jql,
            "startAt": len(found),
            "maxResults": min(PAGE, given.max_items - len(found)),
            "fields": given.fields,
        }
        page = _send(call, "POST", "/search", "search", json=asked) or {}
        issues = [i for i in page.get("issues") or [] if isinstance(i, dict)]
        total = int(page.get("total", 0) or 0)
        found += issues
        if not issues or len(found) >= total:
            return SearchResult(issues=found, total=total, complete=True)
        if len(found) >= given.max_items:
            return SearchResult(issues=found[: given.max_items], total=total, complete=False)


def _test(call: Call) -> str:
    answer = _send(call, "GET", "/myself", "test")
    if isinstance(answer, dict):
        return f"signed in as {answer.get('displayName') or answer.get('emailAddress') or 'a Jira user'}"
    return "signed in"


class Events(ActionInput):
    events: list[str] = Field(
        default_factory=list,
        max_length=50,
        title="Events",
        description="such as jira:issue_created or comment_created; empty: every event the webhook sends",
    )


def _verify(delivery: Delivery, given: Events) -> Verdict:
    refused = hub_signature_refused(delivery, "X-Hub-Signature")
    if refused is not None:
        return refused
    identifier = (delivery.header("X-Atlassian-Webhook-Identifier") or "").strip()
    if not identifier or len(identifier) > 255:
        return Refuse("missing X-Atlassian-Webhook-Identifier header", 403)
    try:
        payload = json.loads(delivery.body)
    except (UnicodeDecodeError, ValueError):
        return Refuse("the body is not JSON", 403)
    if not isinstance(payload, dict):
        return Refuse("the body is not a JSON object", 403)
    event = str(payload.get("webhookEvent", ""))
    if given.events and event not in given.events:
        # An event the recipe does not watch: acknowledged, so Jira does not send it again.
        return Reply({"ok": True})
    return Accept(data=payload, delivery_id=identifier)


ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" fill="none" '
    'stroke="currentColor" stroke-width="2"><path d="M12 2l10 10-10 10L2 12z"/><path d="M12 8l4 4-4 4-4-4z"/>'
    "</svg>"
)

connector = Connector(
    key="jira",
    name="Jira Cloud",
    description="Issues, transitions, comments and JQL searches in a Jira Cloud site, and its webhooks.",
    icon=ICON,
    auth_methods=(OAUTH2_CODE, API_TOKEN),
    settings=Settings,
    scopes=(
        Scope("read:jira-work", "Read issues, their fields, comments and transitions, and search them."),
        Scope("write:jira-work", "Create issues, move them through their workflow and comment on them."),
        Scope("read:jira-user", "See the names and email addresses of the people on the site."),
        Scope("offline_access", "Keep access when you are not signed in (a refresh token)."),
    ),
    actions=(
        Action(
            "create_issue",
            "Create an issue",
            "Open an issue in a project.",
            NewIssue,
            Issue,
            create_issue,
            frozenset({"write:jira-work"}),
            side_effects=True,
        ),
        Action(
            "transition",
            "Transition an issue",
            "Move an issue through its workflow, by the transition's name or id.",
            Transition,
            Transitioned,
            transition,
            frozenset({"read:jira-work", "write:jira-work"}),
            side_effects=True,
        ),
        Action(
            "comment",
            "Comment",
            "Comment on an issue, as text or an Atlassian Document Format document.",
            NewComment,
            Comment,
            comment,
            frozenset({"write:jira-work"}),
            side_effects=True,
        ),
        Action(
            "search",
            "Search with JQL",
            "The issues a JQL query finds, every page, up to a limit.",
            Search,
            SearchResult,
            search,
            frozenset({"read:jira-work"}),
        ),
    ),
    triggers=(
        Trigger(
            "webhook",
            "Jira webhook",
            "A job for each event a Jira admin webhook sends, checked with its secret.",
            "webhook",
            input=Events,
            verify=_verify,
        ),
    ),
    test=_test,
    oauth=OAuth(
        authorize_url=f"{AUTHORIZATION_SERVER}/authorize",
        token_url=f"{AUTHORIZATION_SERVER}/oauth/token",
        authorize_params=(("audience", "api.atlassian.com"), ("prompt", "consent")),
    ),
)
