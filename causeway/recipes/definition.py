"""What a recipe definition may hold: its trigger and steps, checked and normalised before a version is saved.

A definition is a JSON object:

    {"trigger": {...}, "steps": [...], "settings": {"max_duration_seconds": 3600}}

Triggers (`type`):
- `manual`: only run by hand (a test run, or Run from a page, the API or the CLI).
- `schedule`: `cron` (five fields), `timezone` (an IANA name, default UTC), `missed` ("skip" or
  "catch_up": after downtime, skip the missed runs or run once for them).
- `webhook`: a unique URL per recipe; calls must be signed with the recipe's signing secret.
- `poll`: `url`, `method` (GET or POST), `headers`, `items` (a dotted path to the list in the JSON
  answer; empty if the answer is the list), `key` (the field naming each item), `interval_seconds`.

Steps, each with an `id` unique in the recipe (`[a-z][a-z0-9_]*`) and an optional `name`:
- `http`: `method`, `url`, `headers`, `query`, `body_type` ("none", "json" or "text"), `body`
  (for json, any JSON value whose strings are templates; for text, a template), `timeout_seconds`,
  `retries` (transient failures), `idempotency_key` (send `Idempotency-Key: <job>:<step path>`).
- `map`: `fields`, a name to template mapping; its output is the rendered object.
- `lookup_read`: `table` (a lookup table's name in the recipe's project), `key` (template).
- `lookup_write`: `table`, `key`, `values` (a column to template mapping).
- `condition`: `if` (an expression), `then` and `else` (lists of steps).
- `foreach`: `items` (an expression giving a list), `as` (the loop variable's name), `steps`.
- `stop`: `message` (template): the job ends failed, with that message.

Templates are Jinja2 in the sandbox, over `trigger`, `steps` (each earlier step's output by id),
`job`, and inside a for-each its variable; `secret.NAME` is allowed only in an http step's headers,
query and body, and is resolved by the worker for that step's destination alone.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from croniter import croniter
from django.core.exceptions import ValidationError

TRIGGER_TYPES = ("manual", "schedule", "webhook", "poll")
STEP_TYPES = ("http", "map", "lookup_read", "lookup_write", "condition", "foreach", "stop")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
BODY_TYPES = ("none", "json", "text")
STEP_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
VARIABLE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
RESERVED_NAMES = frozenset({"trigger", "steps", "job", "secret", "loop"})
SECRET_REFERENCE = re.compile(r"\bsecret\.([A-Za-z_][A-Za-z0-9_]*)|\bsecret\[\s*['\"]([^'\"]+)['\"]\s*\]")

MAX_STEPS = 200
MAX_DEPTH = 5
MAX_TEMPLATE = 20_000
MAX_DURATION_DEFAULT = 3600
MAX_DURATION_LIMIT = 24 * 3600
MIN_POLL_INTERVAL = 10


class _Checker:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}
        self.ids: set[str] = set()
        self.count = 0

    def fail(self, where: str, message: str) -> None:
        self.errors.setdefault(where, []).append(message)

    def text(self, where: str, value: Any, *, required: bool = True, default: str = "") -> str:
        if value is None or value == "":
            if required:
                self.fail(where, "this field is required")
            return default
        if not isinstance(value, str):
            self.fail(where, "must be text")
            return default
        if len(value) > MAX_TEMPLATE:
            self.fail(where, f"at most {MAX_TEMPLATE} characters")
        return value

    def choice(self, where: str, value: Any, options: tuple[str, ...], default: str) -> str:
        if value is None or value == "":
            return default
        if value not in options:
            self.fail(where, f"must be one of {', '.join(options)}")
            return default
        return str(value)

    def integer(self, where: str, value: Any, *, low: int, high: int, default: int) -> int:
        if value is None or value == "":
            return default
        if isinstance(value, bool) or not isinstance(value, int | str):
            self.fail(where, "must be a whole number")
            return default
        try:
            number = int(value)
        except ValueError:
            self.fail(where, "must be a whole number")
            return default
        if not low <= number <= high:
            self.fail(where, f"must be between {low} and {high}")
        return number

    def mapping(self, where: str, value: Any) -> dict[str, str]:
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            self.fail(where, "must be an object of names to templates")
            return {}
        clean: dict[str, str] = {}
        for name, template in value.items():
            if not isinstance(name, str) or not name.strip():
                self.fail(where, "every name must be non-empty text")
                continue
            clean[name] = self.text(f"{where}.{name}", template, required=False)
        return clean

    def no_secrets(self, where: str, value: Any) -> None:
        if isinstance(value, str) and SECRET_REFERENCE.search(value):
            self.fail(where, "secrets may only be used in an http step's headers, query or body")
        elif isinstance(value, dict):
            for key, item in value.items():
                self.no_secrets(f"{where}.{key}", item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.no_secrets(f"{where}[{index}]", item)


def _trigger(check: _Checker, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        check.fail("trigger", "a recipe needs a trigger")
        return {"type": "manual"}
    kind = check.choice("trigger.type", raw.get("type"), TRIGGER_TYPES, "manual")
    trigger: dict[str, Any] = {"type": kind}
    if kind == "schedule":
        cron = check.text("trigger.cron", raw.get("cron"))
        if cron and not croniter.is_valid(cron):
            check.fail("trigger.cron", "not a valid cron expression (five fields, such as */5 * * * *)")
        elif cron and len(cron.split()) != 5:
            check.fail("trigger.cron", "use five fields: minute hour day month weekday")
        zone = check.text("trigger.timezone", raw.get("timezone"), required=False, default="UTC")
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            check.fail("trigger.timezone", f"unknown time zone {zone!r}")
        trigger |= {
            "cron": cron,
            "timezone": zone,
            "missed": check.choice("trigger.missed", raw.get("missed"), ("skip", "catch_up"), "skip"),
        }
    elif kind == "poll":
        trigger |= {
            "url": check.text("trigger.url", raw.get("url")),
            "method": check.choice("trigger.method", raw.get("method"), ("GET", "POST"), "GET"),
            "headers": check.mapping("trigger.headers", raw.get("headers")),
            "items": check.text("trigger.items", raw.get("items"), required=False),
            "key": check.text("trigger.key", raw.get("key"), required=False, default="id"),
            "interval_seconds": check.integer(
                "trigger.interval_seconds",
                raw.get("interval_seconds"),
                low=MIN_POLL_INTERVAL,
                high=86_400,
                default=300,
            ),
        }
        check.no_secrets("trigger.url", trigger["url"])
    return trigger


def _steps(check: _Checker, raw: Any, where: str, depth: int) -> list[dict[str, Any]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        check.fail(where, "must be a list of steps")
        return []
    if depth > MAX_DEPTH:
        check.fail(where, f"steps nest at most {MAX_DEPTH} deep")
        return []
    return [_step(check, item, f"{where}[{index}]", depth) for index, item in enumerate(raw)]


def _step(check: _Checker, raw: Any, where: str, depth: int) -> dict[str, Any]:
    check.count += 1
    if not isinstance(raw, dict):
        check.fail(where, "a step must be an object")
        return {}
    step_id = raw.get("id")
    if not isinstance(step_id, str) or not STEP_ID.match(step_id):
        check.fail(f"{where}.id", "an id is a lower-case letter, then letters, digits or _ (at most 40)")
        step_id = str(step_id)
    elif step_id in RESERVED_NAMES:
        check.fail(f"{where}.id", f"{step_id} is a reserved name")
    elif step_id in check.ids:
        check.fail(f"{where}.id", f"the id {step_id} is used by another step")
    check.ids.add(step_id)
    kind = check.choice(f"{where}.type", raw.get("type"), STEP_TYPES, "map")
    step: dict[str, Any] = {"id": step_id, "type": kind}
    name = raw.get("name")
    if name:
        step["name"] = check.text(f"{where}.name", name, required=False)[:100]
    if kind == "http":
        step |= {
            "method": check.choice(f"{where}.method", raw.get("method"), HTTP_METHODS, "GET"),
            "url": check.text(f"{where}.url", raw.get("url")),
            "headers": check.mapping(f"{where}.headers", raw.get("headers")),
            "query": check.mapping(f"{where}.query", raw.get("query")),
            "body_type": check.choice(f"{where}.body_type", raw.get("body_type"), BODY_TYPES, "none"),
            "body": raw.get("body") if raw.get("body") is not None else "",
            "timeout_seconds": check.integer(
                f"{where}.timeout_seconds", raw.get("timeout_seconds"), low=1, high=300, default=30
            ),
            "retries": check.integer(f"{where}.retries", raw.get("retries"), low=0, high=5, default=2),
            "idempotency_key": bool(raw.get("idempotency_key", True)),
        }
        check.no_secrets(f"{where}.url", step["url"])
        if step["body_type"] == "text":
            step["body"] = check.text(f"{where}.body", step["body"], required=False)
    elif kind == "map":
        step["fields"] = check.mapping(f"{where}.fields", raw.get("fields"))
        check.no_secrets(f"{where}.fields", step["fields"])
    elif kind in ("lookup_read", "lookup_write"):
        step["table"] = check.text(f"{where}.table", raw.get("table"))
        step["key"] = check.text(f"{where}.key", raw.get("key"))
        if kind == "lookup_write":
            step["values"] = check.mapping(f"{where}.values", raw.get("values"))
        check.no_secrets(where, {k: v for k, v in step.items() if k in ("key", "values")})
    elif kind == "condition":
        step["if"] = check.text(f"{where}.if", raw.get("if"))
        step["then"] = _steps(check, raw.get("then"), f"{where}.then", depth + 1)
        step["else"] = _steps(check, raw.get("else"), f"{where}.else", depth + 1)
        check.no_secrets(f"{where}.if", step["if"])
    elif kind == "foreach":
        step["items"] = check.text(f"{where}.items", raw.get("items"))
        variable = raw.get("as") or "item"
        if not isinstance(variable, str) or not VARIABLE.match(variable) or variable in RESERVED_NAMES:
            check.fail(f"{where}.as", "a loop variable is a lower-case name that is not reserved")
            variable = "item"
        step["as"] = variable
        step["steps"] = _steps(check, raw.get("steps"), f"{where}.steps", depth + 1)
        check.no_secrets(f"{where}.items", step["items"])
    elif kind == "stop":
        step["message"] = check.text(f"{where}.message", raw.get("message"))
        check.no_secrets(f"{where}.message", step["message"])
    return step


def definition_clean(raw: Any) -> dict[str, Any]:
    """The definition, normalised (defaults filled in), or ValidationError naming each bad field by path,
    such as `steps[1].url`."""
    check = _Checker()
    if not isinstance(raw, dict):
        raise ValidationError({"definition": ["a definition is an object with a trigger and steps"]})
    unknown = set(raw) - {"trigger", "steps", "settings"}
    if unknown:
        check.fail("definition", f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    trigger = _trigger(check, raw.get("trigger"))
    steps = _steps(check, raw.get("steps"), "steps", 1)
    if check.count > MAX_STEPS:
        check.fail("steps", f"a recipe has at most {MAX_STEPS} steps")
    settings_raw = raw.get("settings") or {}
    if not isinstance(settings_raw, dict):
        check.fail("settings", "must be an object")
        settings_raw = {}
    settings = {
        "max_duration_seconds": check.integer(
            "settings.max_duration_seconds",
            settings_raw.get("max_duration_seconds"),
            low=1,
            high=MAX_DURATION_LIMIT,
            default=MAX_DURATION_DEFAULT,
        )
    }
    if check.errors:
        raise ValidationError(check.errors)
    return {"trigger": trigger, "steps": steps, "settings": settings}


def secret_names(definition: dict[str, Any]) -> set[str]:
    """The names of the secrets a definition refers to."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            for match in SECRET_REFERENCE.finditer(value):
                found.add(match.group(1) or match.group(2))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(definition)
    return found


def walk_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every step, nested ones included, in order."""
    found: list[dict[str, Any]] = []
    for step in steps:
        found.append(step)
        for branch in ("then", "else", "steps"):
            if isinstance(step.get(branch), list):
                found += walk_steps(step[branch])
    return found
