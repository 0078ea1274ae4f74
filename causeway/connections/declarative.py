"""Declarative connectors: a connector described as a JSON or YAML document, with no code.

The document is checked against one schema (the `Document` model below, whose JSON schema the API
publishes); every error is named by its path in the document (`actions[0].request.method`). A valid
document becomes an SDK `Connector`: its actions are request templates (method, path, query, headers,
body) rendered in the recipe template sandbox over the action's checked input, sent under its fixed base
URL through the same `Call.request` as every connector (credentials applied by the auth method, outbound
rules, time-outs), and answered with the JSON body or the part of it a dotted `output` path names.
Nothing in a document is executed: templates are data for the sandbox, which the worker renders.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from causeway.connections.connectors.http import Answer, _answer, _checked_path, base_url
from causeway.connections.sdk import (
    API_KEY,
    BASIC,
    BEARER,
    KEY,
    NO_AUTH,
    Action,
    ActionFailed,
    ActionInput,
    AuthMethod,
    Call,
    Connector,
    NoSettings,
    Scope,
)

MAX_DOCUMENT = 256 * 1024
AUTH_METHODS: dict[str, AuthMethod] = {m.kind: m for m in (NO_AUTH, API_KEY, BASIC, BEARER)}
FIELD_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "object": dict[str, JsonValue],
    "array": list[JsonValue],
}
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" fill="none" '
    'stroke="currentColor" stroke-width="2"><rect x="4" y="4" width="16" height="16" rx="2"/>'
    '<path d="M8 9h8M8 13h8M8 17h5"/></svg>'
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _key(value: str) -> str:
    if not KEY.match(value):
        raise ValueError("a lower-case letter, then up to 39 lower-case letters, digits or _")
    return value


class FieldSpec(_Strict):
    type: Literal["string", "integer", "number", "boolean", "object", "array"] = "string"
    required: bool = False
    description: str = Field(default="", max_length=300)


class RequestSpec(_Strict):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str = Field(default="", max_length=2000, description="a template, under the base URL")
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: JsonValue = Field(default=None, description="JSON whose strings are templates")

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        return _checked_path(value)


class ActionSpec(_Strict):
    key: str
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    scopes: list[str] = Field(default_factory=list)
    side_effects: bool | None = Field(default=None, description="omitted: every method but GET changes data")
    input: dict[str, FieldSpec] = Field(default_factory=dict)
    request: RequestSpec
    output: str = Field(default="", max_length=200, description="a dotted path into the JSON answer")

    check_key = field_validator("key")(_key)

    @field_validator("input")
    @classmethod
    def _names(cls, value: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        for name in value:
            _key(name)
        return value


class ScopeSpec(_Strict):
    key: str
    description: str = Field(min_length=1, max_length=300)

    check_key = field_validator("key")(_key)


class TestSpec(_Strict):
    path: str = Field(default="", max_length=2000)

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        return _checked_path(value)


class Document(_Strict):
    """A declarative connector."""

    key: str
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    base_url: str
    auth: list[Literal["none", "api_key", "basic", "bearer"]] = Field(min_length=1)
    scopes: list[ScopeSpec] = Field(default_factory=list)
    actions: list[ActionSpec] = Field(min_length=1, max_length=100)
    test: TestSpec = Field(default_factory=TestSpec)

    check_key = field_validator("key")(_key)

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        return base_url(value)

    @model_validator(mode="after")
    def _consistent(self) -> Document:
        declared = {s.key for s in self.scopes}
        if len(declared) != len(self.scopes):
            raise _At("scopes", "scope keys repeat")
        seen: set[str] = set()
        for i, action in enumerate(self.actions):
            if action.key in seen:
                raise _At(f"actions[{i}].key", f"another action is also {action.key!r}")
            seen.add(action.key)
            unknown = sorted(set(action.scopes) - declared)
            if unknown:
                raise _At(f"actions[{i}].scopes", f"not declared under scopes: {', '.join(unknown)}")
        return self


class _At(ValueError):
    """A refusal about a part of the document other than where the check ran."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


class DocumentError(Exception):
    """The document is not a valid connector; `errors` maps each path to its sentences."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "document"


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        where = cause.path if isinstance(cause, _At) else _path(tuple(error["loc"]))
        message = str(cause) if isinstance(cause, _At) else str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "not a field of this part"
        found.setdefault(where, []).append(message)
    return found


def parse(text: str) -> Document:
    """The document, from JSON or YAML text; DocumentError naming each problem by its path."""
    if not isinstance(text, str) or not text.strip():
        raise DocumentError({"document": ["an empty document"]})
    if len(text) > MAX_DOCUMENT:
        raise DocumentError({"document": [f"at most {MAX_DOCUMENT} characters"]})
    try:
        raw = json.loads(text)
    except ValueError:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            raise DocumentError({"document": [f"neither JSON nor YAML{where}"]}) from None
    return load(raw)


def load(raw: Any) -> Document:
    if not isinstance(raw, dict):
        raise DocumentError({"document": ["a connector is an object (a mapping)"]})
    try:
        return Document.model_validate(raw)
    except ValidationError as exc:
        raise DocumentError(_errors(exc)) from None


def _dig(value: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise ActionFailed(f"the answer has nothing at {path!r}")
    return value


def _input_model(document: Document, spec: ActionSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name, field in spec.input.items():
        kind = FIELD_TYPES[field.type]
        if field.required:
            fields[name] = (kind, Field(description=field.description))
        else:
            fields[name] = (kind | None, Field(default=None, description=field.description))
    model: type[BaseModel] = create_model(f"{document.key}_{spec.key}_input", __base__=ActionInput, **fields)
    return model


def _render(call: Call, value: Any, context: dict[str, Any]) -> Any:
    if call.render is None:
        raise ActionFailed("this connector's templates are rendered only in a job's step")
    return call.render(value, context)


def _runner(document: Document, spec: ActionSpec) -> Any:
    def run(call: Call, given: BaseModel) -> Answer:
        context = {"input": given.model_dump(mode="json")}
        path = _render(call, spec.request.path, context)
        try:
            path = _checked_path(str(path or ""))
        except ValueError as exc:
            raise ActionFailed(f"request.path: {exc}") from None
        query = {k: str(_render(call, v, context)) for k, v in spec.request.query.items()}
        headers = {k: str(_render(call, v, context)) for k, v in spec.request.headers.items()}
        body = _render(call, spec.request.body, context) if spec.request.body is not None else None
        url = document.base_url + ("/" + path.lstrip("/") if path else "")
        answer = _answer(call.request(spec.request.method, url, headers=headers, params=query, json=body))
        if spec.output:
            return Answer(status=answer.status, headers=answer.headers, body=_dig(answer.body, spec.output))
        return answer

    return run


def _tester(document: Document) -> Any:
    def test(call: Call) -> str:
        url = document.base_url + ("/" + document.test.path.lstrip("/") if document.test.path else "")
        response = call.request("GET", url)
        if response.status_code in (401, 403):
            raise ActionFailed(f"the credentials were refused (HTTP {response.status_code})")
        if response.status_code >= 500:
            raise ActionFailed(f"the server failed (HTTP {response.status_code})", transient=True)
        return f"{response.url.host} answered HTTP {response.status_code}"

    return test


def connector(document: Document) -> Connector:
    """The SDK connector a valid document describes."""
    actions = tuple(
        Action(
            key=spec.key,
            name=spec.name,
            description=spec.description,
            input=_input_model(document, spec),
            output=Answer,
            run=_runner(document, spec),
            scopes=frozenset(spec.scopes),
            side_effects=spec.side_effects if spec.side_effects is not None else spec.request.method != "GET",
        )
        for spec in document.actions
    )
    return Connector(
        key=document.key,
        name=document.name,
        description=document.description or f"A declarative connector for {document.base_url}.",
        icon=ICON,
        auth_methods=tuple(AUTH_METHODS[kind] for kind in document.auth),
        scopes=tuple(Scope(s.key, s.description) for s in document.scopes),
        actions=actions,
        test=_tester(document),
        settings=NoSettings,
    )


def schema() -> dict[str, Any]:
    """The JSON schema every declarative connector is checked against."""
    return Document.model_json_schema()
