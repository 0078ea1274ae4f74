"""One OpenAPI 3.1 document per collection and environment, generated from its endpoints' schemas."""

from __future__ import annotations

import re
from typing import Any

from causeway.apiplat.calls import JOB_HEADER, JOBS, MAX_BODY_BYTES
from causeway.apiplat.models import ApiCollection
from causeway.apiplat.services import base_url, path_parameters

_ERROR = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string"}},
}
_INVALID = {
    "type": "object",
    "required": ["detail", "errors"],
    "properties": {
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_ACCEPTED = {
    "type": "object",
    "required": ["job", "url"],
    "properties": {"job": {"type": "string", "format": "uuid"}, "url": {"type": "string"}},
}
_FAILED = {
    "type": "object",
    "required": ["job", "status"],
    "properties": {"job": {"type": "string", "format": "uuid"}, "status": {"const": "failed"}},
}
_JOB = {
    "type": "object",
    "required": ["job", "status", "finished_at"],
    "properties": {
        "job": {"type": "string", "format": "uuid"},
        "status": {"type": "string"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
_LIMIT_HEADERS = {
    "RateLimit-Limit": {"description": "the tightest limit's size", "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "calls left in its window", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "seconds until its window ends", "schema": {"type": "integer"}},
}


def _json(schema: dict[str, Any], description: str, **more: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}, **more}


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", path.replace("{", "by_").replace("}", "")).strip("_")
    return f"{method.lower()}_{words or 'root'}"


def _refusals() -> dict[str, Any]:
    """The answers the platform gives before any endpoint is reached."""
    return {
        "401": _json(_ERROR, "no usable API key"),
        "403": _json(_ERROR, "the client may not call from this address"),
        "404": _json(_ERROR, "not found, or not a collection this client may call"),
        "429": _json(
            _ERROR,
            "over a rate limit or quota",
            headers={
                "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}},
                **_LIMIT_HEADERS,
            },
        ),
    }


def _job_operation() -> dict[str, Any]:
    """Asking about a job a call started (the link of a 202 answer); the client's limits hold."""
    return {
        "operationId": "get_job",
        "summary": "The status of a job this client started through the collection",
        "parameters": [
            {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
        ],
        "responses": {"200": _json(_JOB, "the job's status"), **_refusals()},
    }


def collection_document(collection: ApiCollection, environment: str) -> dict[str, Any]:
    """The collection's OpenAPI 3.1 document as it answers in `environment`."""
    base = base_url(collection, environment)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in collection.endpoints.all():
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in path_parameters(endpoint.path)
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in endpoint.query_parameters
        ]
        parameters += [
            {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
            for name in endpoint.headers
        ]
        answer_schema = endpoint.response_schema if endpoint.response_schema is not None else {}
        responses: dict[str, Any] = {
            "default": _json(answer_schema, "the recipe's answer (its respond step's status and body)"),
            "202": _json(_ACCEPTED, "the recipe did not answer in time: the job goes on; follow `url`"),
            "400": _json(
                _INVALID, "the request does not match this schema (each field named); no job starts"
            ),
            **_refusals(),
            "413": _json(_ERROR, f"the body is larger than {MAX_BODY_BYTES} bytes"),
            "500": _json(_FAILED, "the job failed before it answered"),
            "503": _json(_ERROR, f"the recipe is not started in {environment.upper()}"),
        }
        operation: dict[str, Any] = {
            "operationId": _operation_id(endpoint.method, endpoint.path),
            "summary": endpoint.summary or f"{endpoint.method} {endpoint.path}",
            "parameters": parameters,
            "responses": responses,
        }
        if endpoint.request_schema is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": endpoint.request_schema}},
            }
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    paths[f"/{JOBS}/{{job_id}}"] = {"get": _job_operation()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": collection.name,
            "version": environment,
            "description": collection.description
            or f"{collection.name}, as it answers in {environment.upper()}. Every call needs an API key.",
        },
        "servers": [{"url": base}],
        "security": [{"apiKey": []}],
        "components": {"securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
        "x-job-header": JOB_HEADER,
    }
