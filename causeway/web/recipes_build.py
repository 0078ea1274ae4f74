"""The Build page's form: a recipe definition as named form fields and back, and the editing operations
(add, remove and reorder steps in any step list) applied between two renders.

Every field is named by its path in the definition (`trigger.cron`, `steps[1].url`,
`steps[0].then[2].fields`), the same path `definition_clean` names in its errors, so each error is
shown under the field it is about. Mappings (headers, query, fields, values) are edited as one
`name: template` per line; a JSON body as JSON text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from causeway.recipes.definition import (
    BODY_TYPES,
    HTTP_METHODS,
    MAX_DURATION_DEFAULT,
    STEP_TYPES,
    TRIGGER_TYPES,
    walk_steps,
)

CHILD_LISTS = {"condition": ("then", "else"), "foreach": ("steps",)}
MAPPINGS = ("headers", "query", "fields", "values")
STEP_LABELS = {
    "http": "HTTP request",
    "map": "Map data",
    "lookup_read": "Read a lookup table",
    "lookup_write": "Write a lookup table",
    "condition": "Condition",
    "foreach": "For each",
    "stop": "Stop with error",
}

# (field, label, kind, options) per step type, in the order shown.
STEP_FIELDS: dict[str, list[tuple[str, str, str, tuple[str, ...]]]] = {
    "http": [
        ("method", "Method", "select", HTTP_METHODS),
        ("url", "URL", "text", ()),
        ("headers", "Headers", "mapping", ()),
        ("query", "Query parameters", "mapping", ()),
        ("body_type", "Body", "select", BODY_TYPES),
        ("body", "Body content", "textarea", ()),
        ("timeout_seconds", "Time-out (seconds)", "number", ()),
        ("retries", "Retries", "number", ()),
        ("idempotency_key", "Send an idempotency key", "checkbox", ()),
    ],
    "map": [("fields", "Fields", "mapping", ())],
    "lookup_read": [("table", "Lookup table", "text", ()), ("key", "Key", "text", ())],
    "lookup_write": [
        ("table", "Lookup table", "text", ()),
        ("key", "Key", "text", ()),
        ("values", "Values", "mapping", ()),
    ],
    "condition": [("if", "If", "text", ())],
    "foreach": [("items", "Items", "text", ()), ("as", "As (loop variable)", "text", ())],
    "stop": [("message", "Message", "text", ())],
}
TRIGGER_FIELDS: dict[str, list[tuple[str, str, str, tuple[str, ...]]]] = {
    "manual": [],
    "webhook": [],
    "schedule": [
        ("cron", "Cron (five fields)", "text", ()),
        ("timezone", "Time zone", "text", ()),
        ("missed", "Missed runs", "select", ("skip", "catch_up")),
    ],
    "poll": [
        ("url", "URL", "text", ()),
        ("method", "Method", "select", ("GET", "POST")),
        ("headers", "Headers", "mapping", ()),
        ("items", "Items (dotted path)", "text", ()),
        ("key", "Item key field", "text", ()),
        ("interval_seconds", "Interval (seconds)", "number", ()),
    ],
}

_TOKEN = re.compile(r"([a-z_]+)(?:\[(\d+)\])?")


# Definition <-> draft (the form's values as text, steps nested).


def _mapping_text(value: Any) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}: {v}" for k, v in value.items())
    return "" if value is None else str(value)


def _mapping_parse(text: str) -> tuple[dict[str, str], str | None]:
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            return found, f"line {number}: write each entry as name: template"
        found[name.strip()] = value.strip()
    return found, None


def draft_from_definition(definition: dict[str, Any]) -> dict[str, Any]:
    def step_draft(step: dict[str, Any]) -> dict[str, Any]:
        kind = step.get("type", "map")
        draft: dict[str, Any] = {"id": step.get("id", ""), "type": kind, "name": step.get("name", "")}
        for name, _label, widget, _options in STEP_FIELDS.get(kind, []):
            value = step.get(name)
            if widget == "mapping":
                draft[name] = _mapping_text(value)
            elif widget == "checkbox":
                draft[name] = "on" if value else ""
            elif name == "body" and not isinstance(value, str):
                draft[name] = json.dumps(value, indent=2) if value is not None else ""
            else:
                draft[name] = "" if value is None else str(value)
        for branch in CHILD_LISTS.get(kind, ()):
            draft[branch] = [step_draft(s) for s in step.get(branch) or []]
        return draft

    trigger = definition.get("trigger") or {"type": "manual"}
    trigger_draft: dict[str, Any] = {"type": trigger.get("type", "manual")}
    for name, _label, widget, _options in TRIGGER_FIELDS.get(trigger_draft["type"], []):
        value = trigger.get(name)
        trigger_draft[name] = (
            _mapping_text(value) if widget == "mapping" else ("" if value is None else str(value))
        )
    settings = definition.get("settings") or {}
    return {
        "trigger": trigger_draft,
        "steps": [step_draft(s) for s in definition.get("steps") or []],
        "settings": {"max_duration_seconds": str(settings.get("max_duration_seconds", MAX_DURATION_DEFAULT))},
    }


def _tokens(path: str) -> list[tuple[str, int | None]]:
    return [(m.group(1), int(m.group(2)) if m.group(2) is not None else None) for m in _TOKEN.finditer(path)]


def draft_from_post(post: QueryDict) -> dict[str, Any]:
    """The draft the form holds: steps found by their `<path>.type` field, nested by their paths."""
    trigger_type = post.get("trigger.type", "manual")
    trigger: dict[str, Any] = {"type": trigger_type}
    for name, _label, _widget, _options in TRIGGER_FIELDS.get(trigger_type, []):
        trigger[name] = post.get(f"trigger.{name}", "")
    step_paths = sorted(
        (key[: -len(".type")] for key in post if key.startswith("steps[") and key.endswith(".type")),
        key=lambda p: [(name, index) for name, index in _tokens(p)],
    )
    drafts: dict[str, dict[str, Any]] = {}
    root: list[dict[str, Any]] = []
    for path in step_paths:
        kind = post.get(f"{path}.type", "map")
        step: dict[str, Any] = {
            "id": post.get(f"{path}.id", ""),
            "type": kind,
            "name": post.get(f"{path}.name", ""),
        }
        for name, _label, _widget, _options in STEP_FIELDS.get(kind, []):
            step[name] = post.get(f"{path}.{name}", "")
        for branch in CHILD_LISTS.get(kind, ()):
            step[branch] = []
        drafts[path] = step
        owner_path, _, last = path.rpartition(".")
        if not owner_path:
            root.append(step)
        else:
            branch = last.partition("[")[0]
            owner = drafts.get(owner_path)
            if owner is not None and isinstance(owner.get(branch), list):
                owner[branch].append(step)
    return {
        "trigger": trigger,
        "steps": root,
        "settings": {"max_duration_seconds": post.get("settings.max_duration_seconds", "")},
    }


def definition_from_draft(draft: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The definition to check and save, and the errors of the form's own formats (mappings, JSON body)."""
    errors: dict[str, list[str]] = {}

    def convert(step: dict[str, Any], path: str) -> dict[str, Any]:
        kind = step.get("type")
        out: dict[str, Any] = {"id": step.get("id", ""), "type": kind}
        if step.get("name"):
            out["name"] = step["name"]
        for name, _label, widget, _options in STEP_FIELDS.get(str(kind), []):
            value = step.get(name, "")
            if widget == "mapping":
                parsed, problem = _mapping_parse(value)
                if problem:
                    errors.setdefault(f"{path}.{name}", []).append(problem)
                out[name] = parsed
            elif widget == "checkbox":
                out[name] = value == "on"
            elif name == "body" and step.get("body_type") == "json" and str(value).strip():
                try:
                    out[name] = json.loads(value)
                except json.JSONDecodeError as exc:
                    errors.setdefault(f"{path}.body", []).append(
                        f"not valid JSON: {exc.msg} (line {exc.lineno})"
                    )
                    out[name] = value
            else:
                out[name] = value
        for branch in CHILD_LISTS.get(str(kind), ()):
            out[branch] = [convert(s, f"{path}.{branch}[{i}]") for i, s in enumerate(step.get(branch) or [])]
        return out

    trigger_in = draft.get("trigger") or {}
    trigger: dict[str, Any] = {"type": trigger_in.get("type", "manual")}
    for name, _label, widget, _options in TRIGGER_FIELDS.get(trigger["type"], []):
        value = trigger_in.get(name, "")
        if widget == "mapping":
            parsed, problem = _mapping_parse(value)
            if problem:
                errors.setdefault(f"trigger.{name}", []).append(problem)
            trigger[name] = parsed
        else:
            trigger[name] = value
    definition = {
        "trigger": trigger,
        "steps": [convert(s, f"steps[{i}]") for i, s in enumerate(draft.get("steps") or [])],
        "settings": dict(draft.get("settings") or {}),
    }
    return definition, errors


# Editing operations.


def _list_at(draft: dict[str, Any], path: str) -> list[dict[str, Any]] | None:
    """The step list at a path such as `steps` or `steps[0].then`."""
    node: Any = draft
    for name, index in _tokens(path):
        if not isinstance(node, dict) or not isinstance(node.get(name), list):
            return None
        node = node[name]
        if index is not None:
            if index >= len(node):
                return None
            node = node[index]
    return node if isinstance(node, list) else None


def _fresh_id(draft: dict[str, Any], kind: str) -> str:
    taken = {str(s.get("id")) for s in walk_steps(draft.get("steps") or [])}
    number = 1
    while f"{kind}_{number}" in taken:
        number += 1
    return f"{kind}_{number}"


def new_step(draft: dict[str, Any], kind: str) -> dict[str, Any]:
    step: dict[str, Any] = {"id": _fresh_id(draft, kind), "type": kind, "name": ""}
    defaults = {"method": "GET", "body_type": "none", "timeout_seconds": "30", "retries": "2", "as": "item"}
    for name, _label, widget, _options in STEP_FIELDS[kind]:
        step[name] = "on" if widget == "checkbox" else defaults.get(name, "")
    for branch in CHILD_LISTS.get(kind, ()):
        step[branch] = []
    return step


def apply_operation(draft: dict[str, Any], op: str, post: QueryDict) -> str | None:
    """Apply `add:<list>`, `remove:<step>`, `up:<step>` or `down:<step>`; a message if it cannot be."""
    verb, _, path = op.partition(":")
    if verb == "add":
        kind = post.get(f"newtype:{path}", "http")
        steps = _list_at(draft, path)
        if steps is None or kind not in STEP_TYPES:
            return "that step list no longer exists"
        steps.append(new_step(draft, kind))
        return None
    container, _, last = path.rpartition(".")
    match = _TOKEN.fullmatch(last)
    if match is None or match.group(2) is None:
        return "no such step"
    name, index = match.group(1), int(match.group(2))
    steps = _list_at(draft, f"{container}.{name}" if container else name)
    if steps is None or index >= len(steps):
        return "no such step"
    if verb == "remove":
        steps.pop(index)
    elif verb == "up" and index > 0:
        steps[index - 1], steps[index] = steps[index], steps[index - 1]
    elif verb == "down" and index + 1 < len(steps):
        steps[index + 1], steps[index] = steps[index], steps[index + 1]
    return None


# What the template shows.


@dataclass
class Field:
    name: str
    label: str
    kind: str
    value: str
    options: tuple[str, ...] = ()
    errors: list[str] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        return "f-" + re.sub(r"[^a-z0-9_]+", "-", self.name.lower()).strip("-")


@dataclass
class StepNode:
    path: str
    type: str
    label: str
    index: int
    last: bool
    fields: list[Field]
    children: list[ListNode]
    errors: list[str]


@dataclass
class ListNode:
    path: str
    label: str
    steps: list[StepNode]
    depth: int


class _Errors:
    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.left = {k: list(v) for k, v in errors.items()}

    def claim(self, name: str) -> list[str]:
        """Errors about this field or anything inside it (a mapping's entries)."""
        found: list[str] = []
        for key in list(self.left):
            if key == name or key.startswith((f"{name}.", f"{name}[")):
                for message in self.left.pop(key):
                    found.append(message if key == name else f"{key[len(name) + 1 :]}: {message}")
        return found


def _step_node(
    step: dict[str, Any], path: str, index: int, last: bool, depth: int, errors: _Errors
) -> StepNode:
    kind = str(step.get("type", "map"))
    fields = [
        Field(f"{path}.id", "Id", "text", str(step.get("id", "")), errors=errors.claim(f"{path}.id")),
        Field(f"{path}.name", "Name", "text", str(step.get("name", "")), errors=errors.claim(f"{path}.name")),
        Field(f"{path}.type", "Type", "steptype", kind, STEP_TYPES, errors=errors.claim(f"{path}.type")),
    ]
    for name, label, widget, options in STEP_FIELDS.get(kind, []):
        full = f"{path}.{name}"
        fields.append(Field(full, label, widget, str(step.get(name, "")), options, errors=[]))
    children = [
        _list_node(step.get(branch) or [], f"{path}.{branch}", branch, depth + 1, errors)
        for branch in CHILD_LISTS.get(kind, ())
    ]
    # Fields claim after their children, so `steps[0].then[1].url` is not taken by `steps[0].then`.
    for f in fields[3:]:
        f.errors = errors.claim(f.name)
    return StepNode(
        path, kind, STEP_LABELS.get(kind, kind), index, last, fields, children, errors.claim(path)
    )


def _list_node(steps: list[dict[str, Any]], path: str, label: str, depth: int, errors: _Errors) -> ListNode:
    nodes = [
        _step_node(step, f"{path}[{i}]", i, i == len(steps) - 1, depth, errors)
        for i, step in enumerate(steps)
    ]
    return ListNode(path, label, nodes, depth)


def editor(draft: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    """The template's view of the draft: trigger fields, the step tree, settings, and errors left over."""
    pool = _Errors(errors)
    steps = _list_node(draft.get("steps") or [], "steps", "steps", 1, pool)
    trigger = draft.get("trigger") or {}
    trigger_type = str(trigger.get("type", "manual"))
    trigger_fields = [
        Field(
            "trigger.type", "Trigger", "triggertype", trigger_type, TRIGGER_TYPES, pool.claim("trigger.type")
        )
    ]
    for name, label, widget, options in TRIGGER_FIELDS.get(trigger_type, []):
        full = f"trigger.{name}"
        trigger_fields.append(
            Field(full, label, widget, str(trigger.get(name, "")), options, pool.claim(full))
        )
    settings = draft.get("settings") or {}
    settings_fields = [
        Field(
            "settings.max_duration_seconds",
            "Longest run (seconds)",
            "number",
            str(settings.get("max_duration_seconds", "")),
            errors=pool.claim("settings.max_duration_seconds"),
        )
    ]
    trigger_errors = pool.claim("trigger")
    steps_errors = pool.claim("steps")
    left = [f"{key}: {message}" for key, messages in pool.left.items() for message in messages]
    return {
        "trigger_fields": trigger_fields,
        "steps": steps,
        "settings_fields": settings_fields,
        "general_errors": trigger_errors + steps_errors + left,
        "step_types": [(kind, STEP_LABELS[kind]) for kind in STEP_TYPES],
    }
