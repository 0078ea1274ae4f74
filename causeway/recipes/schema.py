"""The recipe definition, described once: typed models from which come its validation, its JSON schema (in
the API's OpenAPI document), the Build page's fields and what the step runners read.

A definition is a JSON object:

    {"trigger": {...}, "steps": [...], "settings": {"max_duration_seconds": 3600}}

Triggers (`type`):
- `manual`: only run by hand (a test run, or Run from a page, the API or the CLI).
- `schedule`: `cron` (five fields), `timezone` (an IANA name, default UTC), `missed` ("skip" or
  "catch_up": after downtime, skip the missed runs or run once for them).
- `webhook`: a unique URL per recipe; calls must be signed with the recipe's signing secret.
  `respond` (default false): the caller waits for the job's answer (its `respond` step, or else its
  last step's output), at most `respond_timeout_seconds` (default 30); past that it gets 202.
- `api_endpoint`: the recipe answers calls to an endpoint of an API collection (see
  docs/api-platform.md); the request is the payload, and the caller waits for the answer.
- `poll`: `url`, `method` (GET or POST), `headers`, `items` (a dotted path to the list in the JSON
  answer; empty if the answer is the list), `key` (the field naming each item), `interval_seconds`.
- `connector`: `connection` (a connection's id), `trigger` (one of its connector's triggers, such as
  `new_rows`), `input` (that trigger's settings, taken as written), `interval_seconds` (polling).

Steps, each with an `id` unique in the recipe (`[a-z][a-z0-9_]*`) and an optional `name`:
- `http`: `method`, `url`, `headers`, `query`, `body_type` ("none", "json" or "text"), `body`
  (for json, any JSON value whose strings are templates; for text, a template), `timeout_seconds`,
  `retries` (transient failures), `idempotency_key` (send `Idempotency-Key: <job>:<step path>`).
- `connector`: `connection` (a connection's id), `action` (one of its connector's actions), `input`
  (JSON whose strings are templates, checked against the action's input model when it runs),
  `timeout_seconds`, `retries`. The connection carries its own credentials: no `secret.NAME` here.
- `map`: `fields`, a name to template mapping; its output is the rendered object.
- `lookup_read`: `table` (a lookup table's name in the recipe's project), `key` (template).
- `lookup_write`: `table`, `key`, `values` (a column to template mapping).
- `condition`: `if` (an expression), `then` and `else` (lists of steps).
- `foreach`: `items` (an expression giving a list), `as` (the loop variable's name), `steps`.
- `stop`: `message` (template): the job ends failed, with that message.
- `respond`: `status` (a template giving 200-299 or 400-599), `headers` (name to template), `body`
  (JSON whose strings are templates): the answer a waiting webhook caller gets; the job goes on.

Templates are Jinja2 in the sandbox, over `trigger`, `steps` (each earlier step's output by id),
`job`, and inside a for-each its variable; `secret.NAME` is allowed only in an http step's headers,
query and body (and a poll trigger's headers), and is resolved by the worker for that destination alone.

Input is taken as people and forms write it: a field that is null or "" takes its default, a number may
come as text, unknown fields of a trigger, step or settings are dropped. The normalised JSON (every
default filled in) is what a version stores. A trigger or step type is one model registered in
`TRIGGERS` or `STEPS`; nothing else needs to change for a new one to be checked, described in the
schema and shown on the Build page.
"""

from __future__ import annotations

import re
import zoneinfo
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Final, Generic, Literal, TypeGuard, TypeVar, get_args, get_origin

from croniter import croniter
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    JsonValue,
    ModelWrapValidatorHandler,
    Strict,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import (
    ErrorDetails,
    InitErrorDetails,
    PydanticCustomError,
    PydanticUndefined,
    core_schema,
)

MAX_STEPS: Final = 200
MAX_DEPTH: Final = 5
# The longest a webhook caller may be kept waiting for its job's answer.
MAX_RESPOND_SECONDS: Final = 300
RESPOND_SECONDS_DEFAULT: Final = 30
MAX_TEMPLATE: Final = 20_000
MAX_NAME: Final = 100
MAX_DURATION_DEFAULT: Final = 3600
MAX_DURATION_LIMIT: Final = 24 * 3600
MIN_POLL_INTERVAL: Final = 10
# `match`, as it always was: an id that passed it once is never refused when its version is read again.
STEP_ID: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
VARIABLE: Final = STEP_ID
RESERVED_NAMES: Final = frozenset({"trigger", "steps", "job", "secret", "loop"})
SECRET_REFERENCE: Final = re.compile(
    r"\bsecret\.([A-Za-z_][A-Za-z0-9_]*)|\bsecret\[\s*['\"]([^'\"]+)['\"]\s*\]"
)

# Errors: every refusal is this one error type, whose message is the sentence shown to people.
REFUSED: Final = "definition"


def _refused(message: str, *, field: str | None = None, at: str | None = None) -> PydanticCustomError:
    """A refusal with its sentence; `field` names a field inside the value refused, `at` a path instead."""
    context: dict[str, str] = {"message": message}
    if field is not None:
        context["field"] = field
    if at is not None:
        context["at"] = at
    return PydanticCustomError(REFUSED, "{message}", context)


def _path(loc: list[str | int]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _message(error: ErrorDetails) -> str:
    context = error.get("ctx") or {}
    if error["type"] == REFUSED:
        return str(context["message"])
    if error["type"] == "missing":
        return "this field is required"
    if error["type"] == "string_type":
        return "must be text"
    if error["type"] == "string_too_long":
        return f"at most {context['max_length']} characters"
    return "not a valid value"


def errors_by_path(exc: ValidationError) -> dict[str, list[str]]:
    """The errors of a definition, keyed by the path of the field each is about (`steps[0].then[1].url`;
    `definition` for the whole), each a sentence for people."""
    found: dict[str, list[str]] = {}
    unknown: dict[str, list[str]] = {}
    for error in exc.errors():
        context = error.get("ctx") or {}
        loc = list(error["loc"])
        # A mapping's entry name that is refused is about the mapping.
        while "[key]" in loc:
            at = loc.index("[key]")
            del loc[at - 1 : at + 1]
        if error["type"] == "extra_forbidden":
            unknown.setdefault(_path(loc[:-1]) or "definition", []).append(str(loc[-1]))
            continue
        if error["type"] == REFUSED and "at" in context:
            where = str(context["at"])
        else:
            if error["type"] == REFUSED and "field" in context:
                loc.append(str(context["field"]))
            where = _path(loc) or "definition"
        found.setdefault(where, []).append(_message(error))
    for where, names in unknown.items():
        found.setdefault(where, []).append(f"unknown field(s): {', '.join(sorted(names))}")
    return found


def _again(error: ErrorDetails) -> InitErrorDetails:
    """An error as it can be raised again, in a list with others."""
    context = error.get("ctx")
    kind: str | PydanticCustomError = error["type"]
    if kind == REFUSED and context is not None:
        kind = PydanticCustomError(REFUSED, "{message}", context)
    details = InitErrorDetails(type=kind, loc=error["loc"], input=error["input"])
    if context is not None:
        details["ctx"] = context
    return details


# What validating one definition keeps track of across its steps.


@dataclass
class _Walk:
    ids: set[str] = field(default_factory=set)
    count: int = 0
    depth: int = 0


_WALK: ContextVar[_Walk | None] = ContextVar("causeway_definition_walk", default=None)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value == "")


# Field types.


def _no_secrets(value: str) -> str:
    if SECRET_REFERENCE.search(value):
        raise _refused("secrets may only be used in an http step's headers, query or body")
    return value


# Plain text: a name, a cron expression, a path. Secrets are not looked for.
Text = Annotated[str, Strict(), Field(max_length=MAX_TEMPLATE)]
# A template that may not refer to secrets.
Template = Annotated[Text, AfterValidator(_no_secrets)]
# A template of a field that is sent only to its own destination, where `secret.NAME` is resolved.
SecretTemplate = Text


def _named(name: object) -> TypeGuard[str]:
    return isinstance(name, str) and bool(name.strip())


def _entry_name(value: object) -> str:
    if not _named(value):
        raise _refused("every name must be non-empty text")
    return value


def _entry_value(value: object) -> object:
    return "" if value is None else value


def _mapping(value: object) -> object:
    if not isinstance(value, dict):
        raise _refused("must be an object of names to templates")
    # An entry without a name is refused for that alone; what it holds is not looked at.
    return {name: template if _named(name) else "" for name, template in value.items()}


_EntryName = Annotated[str, BeforeValidator(_entry_name)]
Templates = Annotated[
    dict[_EntryName, Annotated[Template, BeforeValidator(_entry_value)]], BeforeValidator(_mapping)
]
SecretTemplates = Annotated[
    dict[_EntryName, Annotated[SecretTemplate, BeforeValidator(_entry_value)]], BeforeValidator(_mapping)
]


class OneOf:
    """One of a `Literal`'s values; anything else is refused naming them."""

    def __get_pydantic_core_schema__(
        self, source: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        options = tuple(str(option) for option in get_args(source))

        def check(value: object) -> object:
            if value not in options:
                raise _refused(f"must be one of {', '.join(options)}")
            return value

        return core_schema.no_info_before_validator_function(check, handler(source))


@dataclass(frozen=True)
class Between:
    """A whole number from low to high, given as a number or as text (a form's field)."""

    low: int
    high: int

    def __get_pydantic_core_schema__(
        self, source: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            self.whole_number, core_schema.int_schema(ge=self.low, le=self.high)
        )

    def whole_number(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise _refused("must be a whole number")
        try:
            number = int(value)
        except ValueError:
            raise _refused("must be a whole number") from None
        if not self.low <= number <= self.high:
            raise _refused(f"must be between {self.low} and {self.high}")
        return number


def _cron(value: str) -> str:
    if value and not croniter.is_valid(value):
        raise _refused("not a valid cron expression (five fields, such as */5 * * * *)")
    if value and len(value.split()) != 5:
        raise _refused("use five fields: minute hour day month weekday")
    return value


def _zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise _refused(f"unknown time zone {value!r}") from None
    return value


def _step_id(value: object) -> str:
    walk = _WALK.get()
    text = value if isinstance(value, str) else str(value)
    problem: str | None = None
    if not isinstance(value, str) or not STEP_ID.match(value):
        problem = "an id is a lower-case letter, then letters, digits or _ (at most 40)"
    elif value in RESERVED_NAMES:
        problem = f"{value} is a reserved name"
    elif walk is not None and value in walk.ids:
        problem = f"the id {value} is used by another step"
    if walk is not None:
        walk.ids.add(text)
    if problem is not None:
        raise _refused(problem)
    return text


def _step_name(value: object) -> str | None:
    if not value:
        return None
    if not isinstance(value, str):
        raise _refused("must be text")
    if len(value) > MAX_TEMPLATE:
        raise _refused(f"at most {MAX_TEMPLATE} characters")
    return value[:MAX_NAME]


def _loop_variable(value: object) -> str:
    if not value:
        return "item"
    if not isinstance(value, str) or not VARIABLE.match(value) or value in RESERVED_NAMES:
        raise _refused("a loop variable is a lower-case name that is not reserved")
    return value


def _json_data(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    try:
        return handler(value)
    except ValidationError:
        raise _refused("must be JSON data") from None


def _is_false(value: object) -> bool:
    return value is False


def _is_default_respond_seconds(value: object) -> bool:
    return value == RESPOND_SECONDS_DEFAULT


def _is_none(value: object) -> bool:
    return value is None


MAX_CONCURRENCY: Final = 1000
MAX_JOB_RETRIES: Final = 10
RETRY_WAIT_DEFAULT: Final = 60


def _is_zero(value: object) -> bool:
    return value == 0


def _is_default_retry_wait(value: object) -> bool:
    return value == RETRY_WAIT_DEFAULT


# Models.


class Part(BaseModel):
    """A part of a definition. A field given as null or "" takes its default; unknown fields are dropped."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # Fields whose null or "" is not "the default" but a value of their own to check.
    blank_kept: ClassVar[frozenset[str]] = frozenset()
    # Fields that are checked even when missing (with null), for their own message.
    always_checked: ClassVar[frozenset[str]] = frozenset()
    not_an_object: ClassVar[str] = "must be an object"
    # Whether any false value (0, [], false) stands for an empty object.
    false_is_empty: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _blank_takes_default(cls, data: object) -> object:
        if isinstance(data, cls):
            return data
        if cls.false_is_empty and not data:
            data = {}
        if not isinstance(data, dict):
            raise _refused(cls.not_an_object)
        known = {info.alias or name for name, info in cls.model_fields.items()}
        kept = {
            key: value
            for key, value in data.items()
            if key not in known or key in cls.blank_kept or not _blank(value)
        }
        for name in cls.always_checked:
            kept.setdefault(name, None)
        return kept

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # A definition's keys are fixed (`if`, `else`, `as`), whatever names the Python fields have.
        found = handler(schema)
        target = handler.resolve_ref_schema(found)
        renames = {name: info.alias for name, info in cls.model_fields.items() if info.alias}
        if renames and "properties" in target:
            target["properties"] = {renames.get(k, k): v for k, v in target["properties"].items()}
            if "required" in target:
                target["required"] = [renames.get(k, k) for k in target["required"]]
        return found


P = TypeVar("P", bound=Part)


def type_of(model: type[Part]) -> str:
    """The `type` a trigger or step model stands for (its `Literal`)."""
    (tag,) = get_args(model.model_fields["type"].annotation)
    return str(tag)


class Registry(Generic[P]):
    """The types of one kind of part (triggers or steps), each a model with a `Literal` `type`.

    As an annotation (`Annotated[Step, STEPS]`) it checks a part by its type's model, found when it is
    checked, and describes it in JSON schema as a union discriminated by `type`, named `schema_name`.
    """

    def __init__(self, *, base: type[P], schema_name: str, default: str, not_an_object: str) -> None:
        self.base = base
        self.schema_name = schema_name
        self.default = default
        self.not_an_object = not_an_object
        self.models: dict[str, type[P]] = {}

    def register(self, model: type[P]) -> type[P]:
        tag = type_of(model)
        if tag in self.models:
            raise ValueError(f"the type {tag!r} is already registered")
        self.models[tag] = model
        return model

    def label(self, tag: str) -> str:
        model = self.models.get(tag)
        return str(model.model_config.get("title") or tag) if model is not None else tag

    def labels(self) -> list[tuple[str, str]]:
        return [(tag, self.label(tag)) for tag in self.models]

    def fields(self, tag: str) -> tuple[FormField, ...]:
        """The fields a type adds to the base's (its id, type and name, for a step), for the Build page."""
        model = self.models.get(tag)
        return form_fields(model, after=self.base) if model is not None else ()

    def step_lists(self, tag: str) -> tuple[str, ...]:
        """The keys of a type's nested step lists (a condition's `then` and `else`)."""
        return tuple(f.key for f in self.fields(tag) if f.widget == "steps")

    def load(self, value: object) -> P:
        """A part checked by its type's model; pydantic's ValidationError if it is not valid."""
        try:
            return self.check(value)
        except PydanticCustomError as refused:
            raise ValidationError.from_exception_data(
                self.schema_name, [InitErrorDetails(type=refused, loc=(), input=value)]
            ) from None

    def check(self, value: object) -> P:
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json", by_alias=True)
        if not isinstance(value, dict):
            raise _refused(self.not_an_object)
        tag = value.get("type")
        if _blank(tag):
            tag = self.default
            value = {**value, "type": tag}
        model = self.models.get(tag) if isinstance(tag, str) else None
        if model is not None:
            return model.model_validate(value)
        refused = _refused(f"must be one of {', '.join(self.models)}", field="type")
        # The rest is checked as the default type, so its other errors are named at once, as for any type.
        try:
            self.models[self.default].model_validate({**value, "type": self.default})
        except ValidationError as exc:
            others = [_again(error) for error in exc.errors()]
            raise ValidationError.from_exception_data(
                exc.title, [InitErrorDetails(type=refused, loc=(), input=value), *others]
            ) from None
        raise refused

    def __get_pydantic_core_schema__(
        self, source: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.check, serialization=core_schema.simple_ser_schema("any")
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        ref = f"{__name__}.{self.schema_name}"
        reference = core_schema.definition_reference_schema(ref)
        describing = _DESCRIBING.get()
        if self.schema_name in describing:
            # Inside the union's own description (a condition's branches): a reference to it.
            return handler(reference)
        union = core_schema.tagged_union_schema(
            {tag: model.__pydantic_core_schema__ for tag, model in self.models.items()},
            discriminator="type",
            ref=ref,
        )
        token = _DESCRIBING.set(describing | {self.schema_name})
        try:
            return handler(core_schema.definitions_schema(reference, [union]))
        finally:
            _DESCRIBING.reset(token)


_DESCRIBING: ContextVar[frozenset[str]] = ContextVar("causeway_definition_describing", default=frozenset())


class _StepTypes(Registry["Step"]):
    def check(self, value: object) -> Step:
        walk = _WALK.get()
        if walk is not None:
            walk.count += 1
            if walk.count == MAX_STEPS + 1:
                raise _refused(f"a recipe has at most {MAX_STEPS} steps", at="steps")
        return super().check(value)


class _StepList:
    """A list of steps, nested at most MAX_DEPTH lists deep (the recipe's own list is the first)."""

    def __get_pydantic_core_schema__(
        self, source: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_wrap_validator_function(self.check, handler(source))

    @staticmethod
    def check(value: object, handler: ValidatorFunctionWrapHandler) -> object:
        if not isinstance(value, list):
            raise _refused("must be a list of steps")
        walk = _WALK.get()
        if walk is None:
            return handler(value)
        walk.depth += 1
        try:
            if walk.depth > MAX_DEPTH and value:
                raise _refused(f"steps nest at most {MAX_DEPTH} deep")
            return handler(value)
        finally:
            walk.depth -= 1


def _type_is_required(schema: dict[str, JsonValue]) -> None:
    properties = schema.get("properties")
    if isinstance(properties, dict) and isinstance(properties.get("type"), dict):
        kind = properties["type"]
        if isinstance(kind, dict):
            kind.pop("default", None)
        required = schema.get("required")
        schema["required"] = ["type", *(required if isinstance(required, list) else [])]


@dataclass(frozen=True)
class FormField:
    """How the Build page shows one field of a part: its key in the definition, label, widget (`text`,
    `select`, `number`, `checkbox`, `mapping` of name to template, `json`, or `steps` for a nested list),
    the options of a select, the default a new part starts with (None: required) and a help text."""

    key: str
    label: str
    widget: str
    options: tuple[str, ...] = ()
    default: JsonValue = None
    help: str = ""
    # A `json` field holds JSON only when this other field has this value (a body, when body_type is json).
    json_when: tuple[str, str] | None = None


def _form_field(name: str, info: FieldInfo) -> FormField:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    annotation = info.annotation
    origin = get_origin(annotation)
    options: tuple[str, ...] = ()
    if isinstance(extra.get("x-widget"), str):
        widget = str(extra["x-widget"])
    elif origin is Literal:
        widget, options = "select", tuple(str(option) for option in get_args(annotation))
    elif annotation is bool:
        widget = "checkbox"
    elif annotation is int:
        widget = "number"
    elif origin is dict:
        widget = "mapping"
    elif origin is list:
        widget = "steps"
    else:
        widget = "text"
    when = extra.get("x-json-when")
    json_when = (
        next(iter((str(k), str(v)) for k, v in when.items()), None) if isinstance(when, dict) else None
    )
    default = info.get_default(call_default_factory=True)
    return FormField(
        key=info.alias or name,
        label=info.title or name,
        widget=widget,
        options=options,
        default=None if default is PydanticUndefined else default,
        help=info.description or "",
        json_when=json_when,
    )


def form_fields(model: type[Part], *, after: type[Part] | None = None) -> tuple[FormField, ...]:
    """A model's fields in order, as the Build page shows them; `after`: leave out that base's own."""
    skip = set(after.model_fields) if after is not None else set()
    return tuple(_form_field(name, info) for name, info in model.model_fields.items() if name not in skip)


# Triggers.


class Trigger(Part):
    """What starts a recipe's jobs."""

    model_config = ConfigDict(json_schema_extra=_type_is_required)

    type: str = Field(title="Trigger")


TRIGGERS: Final = Registry[Trigger](
    base=Trigger, schema_name="AnyTrigger", default="manual", not_an_object="a recipe needs a trigger"
)


@TRIGGERS.register
class ManualTrigger(Trigger):
    model_config = ConfigDict(title="Manual")

    type: Literal["manual"] = "manual"


@TRIGGERS.register
class ScheduleTrigger(Trigger):
    model_config = ConfigDict(title="Schedule")

    type: Literal["schedule"] = "schedule"
    cron: Annotated[Text, AfterValidator(_cron)] = Field(
        title="Cron (five fields)", description="minute hour day month weekday, such as */5 * * * *"
    )
    timezone: Annotated[Text, AfterValidator(_zone)] = Field(default="UTC", title="Time zone")
    missed: Annotated[Literal["skip", "catch_up"], OneOf()] = Field(
        default="skip",
        title="Missed runs",
        description="after downtime: skip the missed runs, or run once for them",
    )


@TRIGGERS.register
class WebhookTrigger(Trigger):
    model_config = ConfigDict(title="Webhook")

    type: Literal["webhook"] = "webhook"
    # Left out of the stored JSON at their defaults, so webhook triggers stored before read the same.
    respond: Annotated[bool, BeforeValidator(bool)] = Field(
        default=False,
        title="Respond with the result",
        description="the caller waits for the job: the answer of its respond step, or its last step's output",
        exclude_if=_is_false,
    )
    respond_timeout_seconds: Annotated[int, Between(1, MAX_RESPOND_SECONDS)] = Field(
        default=RESPOND_SECONDS_DEFAULT,
        title="Answer within (seconds)",
        description="past this the caller gets 202 and the job's URL; the job goes on",
        exclude_if=_is_default_respond_seconds,
    )


@TRIGGERS.register
class ApiEndpointTrigger(Trigger):
    """Calls to an endpoint of an API collection that names this recipe: the request (path and query
    parameters, the headers it declares, the JSON body) is the payload; the caller waits for the answer
    within the endpoint's time-out."""

    model_config = ConfigDict(title="API endpoint")

    type: Literal["api_endpoint"] = "api_endpoint"


@TRIGGERS.register
class PollTrigger(Trigger):
    model_config = ConfigDict(title="Poll")

    type: Literal["poll"] = "poll"
    url: Template = Field(title="URL")
    method: Annotated[Literal["GET", "POST"], OneOf()] = Field(default="GET", title="Method")
    headers: SecretTemplates = Field(default_factory=dict, title="Headers")
    items: Text = Field(
        default="",
        title="Items (dotted path)",
        description="where the list is in the answer; empty: the answer",
    )
    key: Text = Field(default="id", title="Item key field")
    interval_seconds: Annotated[int, Between(MIN_POLL_INTERVAL, 86_400)] = Field(
        default=300, title="Interval (seconds)"
    )


def _action_key(value: str) -> str:
    if not STEP_ID.match(value):
        raise _refused("a connector's action or trigger key: a lower-case letter, then letters, digits or _")
    return value


@TRIGGERS.register
class ConnectorTrigger(Trigger):
    model_config = ConfigDict(title="Connector trigger")

    type: Literal["connector"] = "connector"
    # Checked when it polls, for the person who saved the version (rule 6), like a connector step.
    connection: Text = Field(
        title="Connection", description="the id of a connection the recipe's author may use"
    )
    trigger: Annotated[Text, AfterValidator(_action_key)] = Field(
        title="Trigger", description="one of the connector's triggers, such as new_rows"
    )
    input: Annotated[dict[str, JsonValue], WrapValidator(_json_data)] = Field(
        default_factory=dict,
        title="Settings",
        description="what the trigger watches, as the connector describes it (taken as written)",
        json_schema_extra={"x-widget": "json"},
    )
    interval_seconds: Annotated[int, Between(MIN_POLL_INTERVAL, 86_400)] = Field(
        default=300, title="Interval (seconds)", description="how often a polling trigger looks"
    )


# Steps.


class Step(Part):
    """One step of a recipe."""

    model_config = ConfigDict(json_schema_extra=_type_is_required)
    blank_kept = frozenset({"id"})
    always_checked = frozenset({"id"})

    id: Annotated[str, BeforeValidator(_step_id)] = Field(
        title="Id", json_schema_extra={"pattern": STEP_ID.pattern}
    )
    type: str = Field(title="Type")
    name: Annotated[str | None, BeforeValidator(_step_name)] = Field(
        default=None, title="Name", exclude_if=_is_none
    )


STEPS: Final = _StepTypes(
    base=Step, schema_name="AnyStep", default="map", not_an_object="a step must be an object"
)
StepList = Annotated[list[Annotated[Step, STEPS]], _StepList()]

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
BodyType = Literal["none", "json", "text"]


@STEPS.register
class HttpStep(Step):
    model_config = ConfigDict(title="HTTP request")
    blank_kept = frozenset({"id", "idempotency_key"})

    type: Literal["http"] = "http"
    method: Annotated[HttpMethod, OneOf()] = Field(default="GET", title="Method")
    url: Template = Field(title="URL")
    headers: SecretTemplates = Field(default_factory=dict, title="Headers")
    query: SecretTemplates = Field(default_factory=dict, title="Query parameters")
    body_type: Annotated[BodyType, OneOf()] = Field(default="none", title="Body")
    body: Annotated[JsonValue, WrapValidator(_json_data)] = Field(
        default="",
        title="Body content",
        description="json: JSON whose strings are templates; text: a template",
        # Edited as text on the Build page, read as JSON when the body type is json.
        json_schema_extra={"x-widget": "json", "x-json-when": {"body_type": "json"}},
    )
    timeout_seconds: Annotated[int, Between(1, 300)] = Field(default=30, title="Time-out (seconds)")
    retries: Annotated[int, Between(0, 5)] = Field(
        default=2, title="Retries", description="tries again after a transient failure"
    )
    idempotency_key: Annotated[bool, BeforeValidator(bool)] = Field(
        default=True, title="Send an idempotency key"
    )

    @field_validator("body")
    @classmethod
    def _text_body(cls, value: JsonValue, info: ValidationInfo) -> JsonValue:
        if info.data.get("body_type") == "text":
            if not isinstance(value, str):
                raise _refused("must be text")
            if len(value) > MAX_TEMPLATE:
                raise _refused(f"at most {MAX_TEMPLATE} characters")
        return value


def _template_tree(value: JsonValue) -> JsonValue:
    """JSON whose strings are templates that may not refer to secrets (a connection carries its own)."""
    if isinstance(value, str):
        if len(value) > MAX_TEMPLATE:
            raise _refused(f"at most {MAX_TEMPLATE} characters")
        return _no_secrets(value)
    if isinstance(value, dict):
        for item in value.values():
            _template_tree(item)
    elif isinstance(value, list):
        for item in value:
            _template_tree(item)
    return value


@STEPS.register
class ConnectorStep(Step):
    model_config = ConfigDict(title="Connector action")

    type: Literal["connector"] = "connector"
    # Checked when the step runs, for the person the job runs on behalf of (rule 6).
    connection: Text = Field(title="Connection", description="the id of a connection you may use")
    action: Annotated[Text, AfterValidator(_action_key)] = Field(
        title="Action", description="one of the connector's actions, such as get"
    )
    input: Annotated[JsonValue, WrapValidator(_json_data), AfterValidator(_template_tree)] = Field(
        default_factory=dict,
        title="Input",
        description="the action's input: JSON whose strings are templates",
        json_schema_extra={"x-widget": "json"},
    )
    timeout_seconds: Annotated[int, Between(1, 300)] = Field(default=30, title="Time-out (seconds)")
    retries: Annotated[int, Between(0, 5)] = Field(
        default=2, title="Retries", description="tries again after a transient failure"
    )


@STEPS.register
class MapStep(Step):
    model_config = ConfigDict(title="Map data")

    type: Literal["map"] = "map"
    fields: Templates = Field(default_factory=dict, title="Fields")


class LookupStep(Step):
    """What the lookup steps share: a table of the recipe's project and a key."""

    table: Text = Field(title="Lookup table", description="a lookup table's name in the recipe's project")
    key: Template = Field(title="Key")


@STEPS.register
class LookupReadStep(LookupStep):
    model_config = ConfigDict(title="Read a lookup table")

    type: Literal["lookup_read"] = "lookup_read"


@STEPS.register
class LookupWriteStep(LookupStep):
    model_config = ConfigDict(title="Write a lookup table")

    type: Literal["lookup_write"] = "lookup_write"
    values: Templates = Field(default_factory=dict, title="Values")


@STEPS.register
class ConditionStep(Step):
    model_config = ConfigDict(title="Condition")

    type: Literal["condition"] = "condition"
    if_: Template = Field(alias="if", title="If")
    then: StepList = Field(default_factory=list, title="Then")
    else_: StepList = Field(default_factory=list, alias="else", title="Else")


@STEPS.register
class ForeachStep(Step):
    model_config = ConfigDict(title="For each")

    type: Literal["foreach"] = "foreach"
    items: Template = Field(title="Items", description="an expression giving a list")
    as_: Annotated[str, BeforeValidator(_loop_variable)] = Field(
        default="item",
        alias="as",
        title="As (loop variable)",
        json_schema_extra={"pattern": VARIABLE.pattern},
    )
    steps: StepList = Field(default_factory=list, title="Steps")


@STEPS.register
class StopStep(Step):
    model_config = ConfigDict(title="Stop with error")

    type: Literal["stop"] = "stop"
    message: Template = Field(title="Message")


@STEPS.register
class RespondStep(Step):
    model_config = ConfigDict(title="Respond to the caller")

    type: Literal["respond"] = "respond"
    status: Template = Field(
        default="200", title="Status", description="a template giving 200-299 or 400-599"
    )
    headers: Templates = Field(default_factory=dict, title="Headers")
    body: Annotated[JsonValue, WrapValidator(_json_data)] = Field(
        default="",
        title="Body",
        description="JSON whose strings are templates; the answer is always JSON",
        json_schema_extra={"x-widget": "json"},
    )


# The definition.


class Settings(Part):
    false_is_empty = True

    max_duration_seconds: Annotated[int, Between(1, MAX_DURATION_LIMIT)] = Field(
        default=MAX_DURATION_DEFAULT, title="Longest run (seconds)"
    )
    # Left out of the stored JSON when not set, so versions stored before read the same.
    concurrency: Annotated[int, Between(1, MAX_CONCURRENCY)] | None = Field(
        default=None,
        title="Jobs at once",
        description="at most this many jobs of the recipe run at once, in all workers; the others wait "
        "in the queue for a free slot. Empty: no limit",
        exclude_if=_is_none,
        json_schema_extra={"x-widget": "number"},
    )
    retries: Annotated[int, Between(0, MAX_JOB_RETRIES)] = Field(
        default=0,
        title="Retries of a failed job",
        description="a job that fails is started again, as a new attempt that sends the same idempotency "
        "keys, up to this many times (a stop step's failure is final)",
        exclude_if=_is_zero,
    )
    retry_wait_seconds: Annotated[int, Between(1, MAX_DURATION_LIMIT)] = Field(
        default=RETRY_WAIT_DEFAULT,
        title="Wait before a retry (seconds)",
        description="before the first retry; doubled before each one after it",
        exclude_if=_is_default_retry_wait,
    )


class Definition(Part):
    """A recipe's trigger, steps and settings: what one version holds."""

    model_config = ConfigDict(extra="forbid")
    blank_kept = frozenset({"trigger"})
    always_checked = frozenset({"trigger"})
    not_an_object = "a definition is an object with a trigger and steps"

    trigger: Annotated[Trigger, TRIGGERS] = Field(title="Trigger")
    steps: StepList = Field(default_factory=list, title="Steps")
    settings: Settings = Field(default_factory=lambda: Settings(), title="Settings")

    @model_validator(mode="wrap")
    @classmethod
    def _one_walk(cls, data: object, handler: ModelWrapValidatorHandler[Definition]) -> Definition:
        # Ids, the step count and the depth are the whole recipe's, so they are kept for one validation.
        token = _WALK.set(_Walk())
        try:
            return handler(data)
        finally:
            _WALK.reset(token)

    def normalised(self) -> dict[str, JsonValue]:
        """The JSON a version stores: every default filled in, keys as in the definition."""
        return self.model_dump(mode="json", by_alias=True)


class _DescribedAsDefinition:
    """JSON schema of a definition carried as plain JSON (in an API body or answer): the model's."""

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        model = Definition.__pydantic_core_schema__
        ref = model.get("ref")
        if ref is None:
            return handler(model)
        return handler(core_schema.definitions_schema(core_schema.definition_reference_schema(ref), [model]))


# A definition as JSON, described by the models: the API keeps what it was sent and the services check it,
# so a body that is not valid is refused by path and sentence, like any other.
DefinitionDocument = Annotated[dict[str, JsonValue], _DescribedAsDefinition()]


def blank_definition() -> dict[str, JsonValue]:
    """What a new recipe holds until it is built: run by hand, no steps."""
    return {"trigger": {"type": TRIGGERS.default}, "steps": []}
