"""Calls to a collection's endpoints: `/apis/<workspace>/<environment>/<collection>/<path>`.

A call carries an API client's key (`Authorization: Bearer cwak_...`). It is answered 401 without a
usable key; 404 when the client may not call the collection (or the workspace, environment, collection
or path does not exist: the two look the same); 403 from an address the client's allow-list leaves out;
400, naming each field, when the request does not match the endpoint's schema (no job is started);
then the recipe's answer (its `respond` step, or its last step's output) within the endpoint's
time-out, else 202 with the job's id and a link to ask about it (`.../_jobs/<job id>`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jsonschema_rs
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from causeway.access.perms import Environment
from causeway.access.policy import TRIGGER
from causeway.apiplat.limits import limits_check
from causeway.apiplat.models import ApiCall, ApiClient, ApiCollection, ApiEndpoint, ApiRefusals
from causeway.apiplat.services import base_path, endpoint_recipe_copy, validator
from causeway.audit import context, refusals
from causeway.runs import local, runtime
from causeway.runs.models import Job, TriggerType
from causeway.runs.services import job_create
from causeway.workspaces.models import ApiToken, TokenKind
from causeway.workspaces.tokens import token_verify

MAX_BODY_BYTES = 1024 * 1024
# How deep a JSON body may nest: deeper bodies are refused before anything walks them.
MAX_BODY_DEPTH = 64
JOB_HEADER = "X-Causeway-Job"
# The platform's own path for asking about a job: `.../_jobs/<job id>`.
JOBS = "_jobs"
_KEY_KINDS = frozenset({TokenKind.API_KEY})
_SLUG = re.compile(r"^[a-z0-9-]{1,60}$")
_ENVIRONMENTS = {e.value for e in Environment}


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, detail: str, **more: Any) -> Reply:
    return Reply(status=status, body={"detail": detail, **more})


NOT_FOUND = _error(404, "Not found")


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _authenticate(authorization: str | None, path: str) -> ApiToken | None:
    secret = _bearer(authorization)
    found = token_verify(secret, kinds=_KEY_KINDS) if secret else None
    if found is None:
        refusals.refusal_record(
            refusals.API_TOKENS,
            action="api.auth_failed",
            details={"reason": "missing, unknown, expired or revoked API key", "path": path[:200]},
        )
    return found


def _allowed(client: ApiClient, source: str | None) -> bool:
    if not client.allowed_sources:
        return True
    try:
        address = ipaddress.ip_address(source or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in client.allowed_sources)


def _match(template: str, path: str) -> dict[str, str] | None:
    wanted = template.strip("/").split("/") if template != "/" else []
    given = path.strip("/").split("/") if path.strip("/") else []
    if len(wanted) != len(given):
        return None
    params: dict[str, str] = {}
    for want, got in zip(wanted, given, strict=True):
        if want.startswith("{"):
            if not got:
                return None
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params


def _endpoint_for(
    collection: ApiCollection, method: str, path: str
) -> tuple[ApiEndpoint, dict[str, str]] | int:
    """The endpoint answering `method path` (literal segments before parameters), or 404 or 405."""
    candidates = []
    for endpoint in collection.endpoints.select_related("recipe").all():
        params = _match(endpoint.path, path)
        if params is not None:
            candidates.append((endpoint, params))
    if not candidates:
        return 404
    same = [c for c in candidates if c[0].method == method]
    if not same:
        return 405
    same.sort(key=lambda c: len(c[1]))
    return same[0]


# Compiled request schemas, by endpoint and schema digest: an endpoint's schema is compiled once, and a
# changed schema is compiled anew.
_VALIDATORS: OrderedDict[tuple[uuid.UUID, str], Any] = OrderedDict()
_VALIDATORS_MOST = 512
_VALIDATORS_LOCK = threading.Lock()


def endpoint_validator(endpoint: ApiEndpoint) -> Any:
    """The endpoint's compiled request schema."""
    schema = endpoint.request_schema or {}
    digest = hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()
    key = (endpoint.id, digest)
    with _VALIDATORS_LOCK:
        found = _VALIDATORS.get(key)
        if found is not None:
            _VALIDATORS.move_to_end(key)
            return found
    compiled = validator(schema)
    with _VALIDATORS_LOCK:
        _VALIDATORS[key] = compiled
        while len(_VALIDATORS) > _VALIDATORS_MOST:
            _VALIDATORS.popitem(last=False)
    return compiled


def _too_deep(value: Any) -> bool:
    """Whether `value` nests deeper than MAX_BODY_DEPTH (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > MAX_BODY_DEPTH:
                return True
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return False


def _field_errors(endpoint: ApiEndpoint, body: Any) -> list[dict[str, str]]:
    errors = []
    for error in endpoint_validator(endpoint).iter_errors(body):
        path = [str(p) for p in error.instance_path]
        if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.Required):
            path.append(str(error.kind.property))
        errors.append({"field": "/".join(path) or "(body)", "message": error.message[:300]})
        if len(errors) >= 50:
            break
    return errors


def _client_for(
    token: ApiToken, workspace_slug: str, collection_slug: str
) -> tuple[ApiClient, ApiCollection] | None:
    account = token.service_account
    if account is None or account.workspace.slug != workspace_slug:
        return None
    client = ApiClient.objects.select_related("service_account").filter(service_account=account).first()
    if client is None:
        return None
    collection = (
        client.collections.select_related("project")
        .filter(slug=collection_slug, workspace=account.workspace)
        .first()
    )
    if collection is None:
        return None
    return client, collection


def _record(
    endpoint: ApiEndpoint, client: ApiClient, environment: str, job: Job | None, status: int, started: float
) -> None:
    ApiCall.objects.create(
        workspace_id=endpoint.workspace_id,
        endpoint=endpoint,
        client=client,
        environment=environment,
        job=job,
        status=status,
        latency_ms=(time.monotonic() - started) * 1000,
        at=timezone.now(),
    )


def _payload(
    endpoint: ApiEndpoint,
    params: dict[str, str],
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    body: bytes,
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The trigger's payload, and what does not match the endpoint's schema."""
    errors: list[dict[str, str]] = []
    value: Any = None
    if endpoint.request_schema is not None or body.strip():
        if endpoint.request_schema is None:
            errors.append({"field": "(body)", "message": "this endpoint takes no body"})
        else:
            try:
                value = json.loads(body) if body.strip() else None
            except (UnicodeDecodeError, ValueError):
                errors.append({"field": "(body)", "message": "the body must be JSON"})
            except RecursionError:
                value = None
                errors.append({"field": "(body)", "message": f"the body nests deeper than {MAX_BODY_DEPTH}"})
            else:
                if _too_deep(value):
                    value = None
                    errors.append(
                        {"field": "(body)", "message": f"the body nests deeper than {MAX_BODY_DEPTH}"}
                    )
                else:
                    errors.extend(_field_errors(endpoint, value))
    # An unknown query parameter is refused, not dropped: a caller who misspells one learns it at once.
    for name in sorted(set(query) - set(endpoint.query_parameters))[:20]:
        errors.append({"field": f"query.{name[:60]}", "message": "not a query parameter of this endpoint"})
    declared_query = {name: query[name][-1] for name in endpoint.query_parameters if name in query}
    declared_headers = {name: headers[name] for name in endpoint.headers if name in headers}
    payload = {
        "method": endpoint.method,
        "path": params,
        "query": declared_query,
        "headers": declared_headers,
        "body": value,
    }
    return payload, errors


def api_call(
    *,
    workspace_slug: str,
    environment: str,
    collection_slug: str,
    path: str,
    method: str,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    body: bytes,
) -> Reply:
    """The answer to one call (see the module's description)."""
    started = time.monotonic()
    # The caller's address as the audit record has it (the proxy settings decide which it is).
    source = context.current().ip_address
    try:
        refusals.throttle_check(refusals.API_TOKENS)
    except refusals.Throttled as throttled:
        return Reply(429, {"detail": throttled.detail}, {"Retry-After": str(throttled.retry_after)})
    request_path = base_path(workspace_slug, environment, collection_slug) + path
    token = _authenticate(headers.get("authorization"), request_path)
    if token is None:
        return Reply(
            401,
            {"detail": "an API key is required: Authorization: Bearer <key>"},
            {"WWW-Authenticate": "Bearer"},
        )
    if environment not in _ENVIRONMENTS or not _SLUG.match(collection_slug):
        return NOT_FOUND
    found = _client_for(token, workspace_slug, collection_slug)
    if found is None:
        return NOT_FOUND
    client, collection = found
    if not _allowed(client, source):
        return _error(403, "this client may not call from this address")
    if path.startswith(f"/{JOBS}/"):
        # Asking about a job is a call like any other: the client's own limits hold.
        verdict = limits_check(client=client, now=timezone.now())
        if verdict.exceeded:
            return _over(verdict)
        reply = _job(client, collection, environment, path.removeprefix(f"/{JOBS}/"), method)
        return _with_headers(reply, verdict.headers)
    matched = _endpoint_for(collection, method, path)
    if matched == 404:
        return NOT_FOUND
    if matched == 405:
        return _error(405, "the path does not take this method")
    assert not isinstance(matched, int)  # nosec B101
    endpoint, params = matched
    verdict = limits_check(client=client, endpoint=endpoint, now=timezone.now())
    if verdict.exceeded:
        _count_refusal(endpoint, client, environment)
        return _over(verdict)
    reply = _answer(endpoint, client, environment, params, query, headers, body, request_path, path, started)
    return _with_headers(reply, verdict.headers)


def _with_headers(reply: Reply, platform: Mapping[str, str]) -> Reply:
    """The reply with the platform's headers, which win over any of the same name the recipe set (in
    any case): a recipe never speaks for the limits or the job."""
    mine = {name.lower() for name in platform}
    kept = {name: value for name, value in reply.headers.items() if name.lower() not in mine}
    return replace(reply, headers={**kept, **platform})


def _over(verdict: Any) -> Reply:
    detail = f"over a rate limit or quota of this client or endpoint; retry after {verdict.retry_after} s"
    return Reply(429, {"detail": detail}, verdict.headers)


def _count_refusal(endpoint: ApiEndpoint, client: ApiClient, environment: str) -> None:
    """Count a call refused for a limit in its day's tally (usage counts it as an error)."""
    day = timezone.now().date()
    match = {"endpoint": endpoint, "client": client, "environment": environment, "day": day}
    if ApiRefusals.objects.filter(**match).update(count=F("count") + 1):
        return
    try:
        with transaction.atomic():
            ApiRefusals.objects.create(workspace_id=endpoint.workspace_id, count=1, **match)
    except IntegrityError:
        # Made at the same moment by another process.
        ApiRefusals.objects.filter(**match).update(count=F("count") + 1)


def _answer(
    endpoint: ApiEndpoint,
    client: ApiClient,
    environment: str,
    params: dict[str, str],
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    body: bytes,
    request_path: str,
    path: str,
    started: float,
) -> Reply:
    payload, errors = _payload(endpoint, params, query, headers, body)
    if errors:
        _record(endpoint, client, environment, None, 400, started)
        return _error(400, "the request does not match the endpoint's schema", errors=errors)
    recipe = endpoint_recipe_copy(endpoint, environment)
    if recipe is None or not recipe.active or recipe.active_version is None:
        _record(endpoint, client, environment, None, 503, started)
        return _error(503, f"the endpoint's recipe is not started in {environment.upper()}")
    try:
        trigger = runtime.definition_of(recipe.active_version).trigger
    except ValidationError:
        trigger = None
    if getattr(trigger, "type", None) != TriggerType.API_ENDPOINT:
        _record(endpoint, client, environment, None, 503, started)
        return _error(503, f"the endpoint's recipe in {environment.upper()} is not triggered by API calls")
    try:
        with transaction.atomic():
            job = job_create(
                actor=TRIGGER,
                recipe=recipe,
                trigger_type=TriggerType.API_ENDPOINT,
                payload=payload,
                waited=True,
                fresh=True,
                caller=client.service_account,
            )
    except ValidationError:
        _record(endpoint, client, environment, None, 503, started)
        return _error(503, f"the endpoint's recipe is not started in {environment.upper()}")
    answer = local.wait(job.id, float(endpoint.timeout_seconds))
    if answer is None:
        _record(endpoint, client, environment, job, 202, started)
        link = f"{request_path[: len(request_path) - len(path)]}/{JOBS}/{job.id}"
        return Reply(202, {"job": str(job.id), "url": link}, {JOB_HEADER: str(job.id), "Location": link})
    _record(endpoint, client, environment, job, answer.status, started)
    return _with_headers(Reply(answer.status, answer.body, dict(answer.headers)), {JOB_HEADER: str(job.id)})


def _job(client: ApiClient, collection: ApiCollection, environment: str, ref: str, method: str) -> Reply:
    """A job the client started through this collection: its status."""
    if method != "GET":
        return _error(405, "the path does not take this method")
    try:
        pk = uuid.UUID(ref)
    except ValueError:
        return NOT_FOUND
    call = (
        ApiCall.objects.select_related("job")
        .filter(client=client, endpoint__collection=collection, environment=environment, job_id=pk)
        .first()
    )
    if call is None or call.job is None:
        return NOT_FOUND
    job = call.job
    return Reply(
        200,
        {
            "job": str(job.id),
            "status": job.status,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        },
    )
