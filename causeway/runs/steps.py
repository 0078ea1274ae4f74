"""What each kind of step does: render its templates, act, and say what it received and gave.

Each runner takes the step (its model, every default filled in by the schema) and the template context
and returns a `StepResult`: the input and output to record (masked before they are stored) and, for
condition and for-each, what the engine walks next. A failure is a `StepFailed` whose message is masked
and safe to show. Secrets are resolved here alone, for an http step's destination host, and only while
its headers, query and body are rendered.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError

from causeway.access.errors import NotFound
from causeway.access.policy import SystemActor
from causeway.connections import outbound
from causeway.recipes import services as recipes
from causeway.recipes.definition import secret_names
from causeway.recipes.schema import (
    ConditionStep,
    ForeachStep,
    HttpStep,
    LookupReadStep,
    LookupStep,
    LookupWriteStep,
    MapStep,
    RespondStep,
    Step,
    StopStep,
)
from causeway.recipes.secrets import secret_use_for_destination
from causeway.runs import sandbox
from causeway.runs.models import Job, SecretUse
from causeway.vault.hosts import normalize_host
from causeway.vault.masking import mask_text, register_value
from causeway.vault.secrets import SecretNotFoundError, SecretRefusedError

# What a step's output keeps of an answer's body; past it the text is cut and marked truncated.
MAX_BODY_STORED = 1024 * 1024
MAX_ITERATIONS = 1000
MAX_BACKOFF_SECONDS = 60.0
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504}) | frozenset(range(505, 600))


class StepFailed(Exception):
    """A step failed. `message` is masked (safe to show); `transient`: trying again later may succeed."""

    def __init__(self, message: str, transient: bool = False, final: bool = False) -> None:
        self.message = mask_text(str(message))
        self.transient = transient
        # A stop step's: the recipe meant the job to fail, so the retry policy does not start it again.
        self.final = final
        super().__init__(self.message)


@dataclass
class StepResult:
    input: Any
    output: Any
    attempts: int = 1
    # condition: the steps of the branch to run; foreach: the items to iterate over.
    branch: list[Step] | None = None
    items: list[Any] | None = None
    failure: StepFailed | None = None


def _masked_strings(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value, fresh=False)
    if isinstance(value, dict):
        return {_masked_strings(str(key)): _masked_strings(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked_strings(item) for item in value]
    return value


def masked(value: Any) -> Any:
    """value with every known secret masked, as JSON data (what history may store).

    Masked as JSON text, so a value found across a number or a key is masked too; should masking
    leave text that is no longer JSON (a value that is also a JSON word), each string is masked.
    """
    text = json.dumps(value, default=str)
    try:
        return json.loads(mask_text(text))
    except ValueError:
        return _masked_strings(json.loads(text))


def _render(template: Any, context: dict[str, Any], where: str) -> Any:
    if not isinstance(template, str):
        return template
    try:
        return sandbox.render(template, context)
    except sandbox.TemplateError as exc:
        raise StepFailed(f"{where}: {exc}") from None


def _render_text(template: Any, context: dict[str, Any], where: str) -> str:
    value = _render(template, context, where)
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _render_tree(value: Any, context: dict[str, Any], where: str) -> Any:
    """A JSON value whose strings are templates, rendered."""
    if isinstance(value, str):
        return _render(value, context, where)
    if isinstance(value, dict):
        return {key: _render_tree(item, context, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_render_tree(item, context, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def evaluate(expression: str, context: dict[str, Any], where: str) -> Any:
    try:
        return sandbox.evaluate(expression, context)
    except sandbox.TemplateError as exc:
        raise StepFailed(f"{where}: {exc}") from None


# map, stop


def run_map(step: MapStep, context: dict[str, Any]) -> StepResult:
    fields = dict(step.fields)
    output = {name: _render(template, context, f"fields.{name}") for name, template in fields.items()}
    return StepResult(input={"fields": fields}, output=output)


def run_stop(step: StopStep, context: dict[str, Any]) -> StepResult:
    message = _render_text(step.message, context, "message") or "the recipe stopped"
    return StepResult(input={"message": message}, output=None, failure=StepFailed(message, final=True))


# respond

# Headers an answer on Causeway's own origin may not carry: they would reach past the caller (cookies on
# the origin, its security policy, caching) or describe the transport, which is the server's to write.
# The body is always JSON, so its type is not the recipe's either.
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
RESERVED_HEADERS = frozenset(
    {
        "connection",
        "content-encoding",
        "content-length",
        "content-security-policy",
        "content-type",
        "cross-origin-opener-policy",
        "keep-alive",
        "location",
        "referrer-policy",
        "refresh",
        "server",
        "set-cookie",
        "strict-transport-security",
        "transfer-encoding",
        "upgrade",
        "x-content-type-options",
        "x-frame-options",
    }
)


def respond_status(value: Any) -> int:
    """The answer's status: a whole number in 200-299 or 400-599 (never a redirect)."""
    text = str(value).strip()
    if not text.isdigit() or not (200 <= int(text) <= 299 or 400 <= int(text) <= 599):
        raise StepFailed(f"status: gives {text[:20]!r}; an answer's status is 200-299 or 400-599")
    return int(text)


def run_respond(step: RespondStep, context: dict[str, Any]) -> StepResult:
    status = respond_status(_render_text(step.status, context, "status"))
    headers: dict[str, str] = {}
    for name, template in step.headers.items():
        if not _HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS:
            raise StepFailed(f"headers: {name[:100]!r} is not a header a recipe may set")
        value = _render_text(template, context, f"headers.{name}")
        if "\r" in value or "\n" in value:
            raise StepFailed(f"headers.{name}: a header's value is one line")
        headers[name] = value
    body = _render_tree(step.body, context, "body")
    answer = {"status": status, "headers": headers, "body": body}
    return StepResult(input={"status": step.status, "headers": dict(step.headers)}, output=answer)


# condition, foreach


def run_condition(step: ConditionStep, context: dict[str, Any]) -> StepResult:
    value = bool(evaluate(step.if_, context, "if"))
    branch = "then" if value else "else"
    return StepResult(
        input={"if": step.if_},
        output={"value": value, "branch": branch},
        branch=condition_branch(step, branch),
    )


def condition_branch(step: ConditionStep, branch: str) -> list[Step]:
    """The steps of a condition's branch by name (`then`, `else`), as its output records it."""
    return list(step.then if branch == "then" else step.else_)


def run_foreach(step: ForeachStep, context: dict[str, Any]) -> StepResult:
    items = evaluate(step.items, context, "items")
    if items is None:
        items = []
    if isinstance(items, dict):
        items = [{"key": key, "value": value} for key, value in items.items()]
    if not isinstance(items, list):
        raise StepFailed(f"items: gives a {type(items).__name__}, not a list")
    if len(items) > MAX_ITERATIONS:
        raise StepFailed(f"items: {len(items)} items; a for-each runs at most {MAX_ITERATIONS} times")
    return StepResult(input={"items": step.items, "count": len(items)}, output=None, items=items)


# lookup tables


def _table(step: LookupStep, job: Job) -> Any:
    table = recipes.lookup_table_by_name(project=job.recipe.project, name=step.table)
    if table is None:
        raise StepFailed(f"table: there is no lookup table named {step.table!r} in the recipe's project")
    return table


def run_lookup_read(step: LookupReadStep, context: dict[str, Any], job: Job) -> StepResult:
    table = _table(step, job)
    key = _render(step.key, context, "key")
    row = recipes.lookup_row_get(table=table, key=key)
    output = {"found": row is not None, "row": dict(row.values) if row is not None else None}
    return StepResult(input={"table": table.name, "key": key}, output=output)


def run_lookup_write(step: LookupWriteStep, context: dict[str, Any], job: Job) -> StepResult:
    table = _table(step, job)
    key = _render(step.key, context, "key")
    values = {name: _render(t, context, f"values.{name}") for name, t in step.values.items()}
    try:
        row = recipes.lookup_row_put(
            actor=SystemActor(label="job"), table=table, key=key, values=values, audit=False
        )
    except ValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise StepFailed(f"{table.name}: {detail}") from None
    return StepResult(
        input={"table": table.name, "key": key, "values": values},
        output={"key": key, "row": dict(row.values)},
    )


# http


def _secret_actor(job: Job) -> Any:
    if job.run_by_user_id is not None:
        return job.run_by_user
    if job.run_by_service_account_id is not None:
        return job.run_by_service_account.audit_actor  # type: ignore[union-attr]
    return None


def _resolve_secrets(step: HttpStep, job: Job, path: str, host: str) -> dict[str, str]:
    sent: dict[str, Any] = {"h": dict(step.headers), "q": dict(step.query)}
    if step.body_type != "none":
        sent["b"] = step.body
    names = sorted(secret_names(sent))
    values: dict[str, str] = {}
    try:
        destination = normalize_host(host)
    except ValueError:
        destination = host[:255]
    for name in names:
        use = SecretUse(
            workspace_id=job.workspace_id,
            secret_name=name[:100],
            job=job,
            step_path=path[:200],
            host=destination[:255],
            allowed=False,
        )
        try:
            value = secret_use_for_destination(
                actor=_secret_actor(job),
                workspace_id=job.workspace_id,
                name=name,
                host=host,
                context={"job": str(job.id), "step": path},
            )
        except SecretRefusedError as exc:
            use.save()
            raise StepFailed(str(exc)) from None
        except (SecretNotFoundError, NotFound):
            use.save()
            raise StepFailed(f"there is no secret named {name!r} in this workspace") from None
        use.allowed = True
        use.save()
        register_value(name, value)
        values[name] = value
    return values


def _body_output(response: httpx.Response) -> tuple[Any, bool]:
    truncated = bool(response.extensions.get(outbound.TRUNCATED))
    content = response.content
    if len(content) > MAX_BODY_STORED:
        content, truncated = content[:MAX_BODY_STORED], True
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    text = content.decode(response.encoding or "utf-8", errors="replace")
    if not truncated and (kind == "application/json" or kind.endswith("+json")) and text.strip():
        try:
            return json.loads(text), False
        except ValueError:
            pass
    return text, truncated


def _backoff(attempt: int, response: httpx.Response | None) -> float:
    base = float(getattr(settings, "CAUSEWAY_STEP_RETRY_BASE_SECONDS", 1.0))
    delay: float = base * (2 ** (attempt - 1)) * (1 + random.random() * 0.25)  # noqa: S311 (jitter, not security)
    if response is not None:
        retry_after = response.headers.get("retry-after", "")
        if retry_after.isdigit():
            delay = max(delay, float(retry_after))
    return min(delay, MAX_BACKOFF_SECONDS)


def _wait(seconds: float, heartbeat: Callable[[], None]) -> None:
    """Back-off: sleeps in short slices, telling the runtime between them that the job is alive."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        heartbeat()
        time.sleep(min(left, 1.0))
    heartbeat()


def run_http(
    step: HttpStep, context: dict[str, Any], job: Job, path: str, heartbeat: Callable[[], None]
) -> StepResult:
    method = step.method
    url = _render_text(step.url, context, "url")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise StepFailed(f"url: not a URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise StepFailed("url: must be an http or https URL with a host")
    secrets = _resolve_secrets(step, job, path, parsed.host)
    scoped = {**context, "secret": secrets}
    headers = {name: _render_text(t, scoped, f"headers.{name}") for name, t in step.headers.items()}
    query = {name: _render_text(t, scoped, f"query.{name}") for name, t in step.query.items()}
    body_type = step.body_type
    content: str | None = None
    json_body: Any = None
    if body_type == "json":
        json_body = _render_tree(step.body, scoped, "body")
    elif body_type == "text":
        content = _render_text(step.body, scoped, "body")
    if step.idempotency_key:
        headers["Idempotency-Key"] = f"{job.key_id}:{path}"
    recorded: dict[str, Any] = {"method": method, "url": url, "headers": headers, "query": query}
    if body_type == "json":
        recorded["body"] = json_body
    elif body_type == "text":
        recorded["body"] = content
    retries = step.retries
    attempt = 0
    while True:
        attempt += 1
        heartbeat()
        response: httpx.Response | None = None
        try:
            response = outbound.request(
                workspace=job.workspace,
                method=method,
                url=url,
                headers=headers,
                params=query or None,
                content=content,
                json=json_body if body_type == "json" else None,
                timeout=float(step.timeout_seconds),
                carries_secrets=bool(secrets),
            )
        except outbound.DestinationRefused as exc:
            return StepResult(input=recorded, output=None, attempts=attempt, failure=StepFailed(str(exc)))
        except httpx.TooManyRedirects as exc:
            failure = StepFailed(f"{parsed.host}: {exc}")
            return StepResult(input=recorded, output=None, attempts=attempt, failure=failure)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            failure = StepFailed(f"{parsed.host}: {type(exc).__name__}: {exc}", transient=True)
            output: Any = None
        else:
            body, truncated = _body_output(response)
            output = {"status": response.status_code, "headers": dict(response.headers.items()), "body": body}
            if truncated:
                output["truncated"] = True
            if response.status_code < 400:
                return StepResult(input=recorded, output=output, attempts=attempt)
            transient = response.status_code in TRANSIENT_STATUS
            failure = StepFailed(f"{parsed.host} answered HTTP {response.status_code}", transient=transient)
        if not failure.transient or attempt > retries:
            return StepResult(input=recorded, output=output, attempts=attempt, failure=failure)
        _wait(_backoff(attempt, response), heartbeat)
