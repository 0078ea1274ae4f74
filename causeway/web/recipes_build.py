"""The Build page's form: a recipe definition as named form fields and back, and the editing operations
(add, remove and reorder steps in any step list) applied between two renders.

Every field is named by its path in the definition (`trigger.cron`, `steps[1].url`,
`steps[0].then[2].fields`), the same path `definition_clean` names in its errors, so each error is
shown under the field it is about. Mappings (headers, query, fields, values) are edited as one
`name: template` per line; a JSON body as JSON text. Which fields each trigger and step type has, with
their labels, widgets, options, defaults and help, comes from the definition's models.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from causeway.recipes.definition import walk_steps
from causeway.recipes.schema import STEPS, TRIGGERS, Definition, FormField, Settings, Step, form_fields

# The fields every step has, shown first; each type's own fields and nested lists come from its model.
_STEP_BASE = {f.key: f for f in form_fields(Step)}
_SETTINGS = form_fields(Settings)
_TRIGGER_LABEL = {f.key: f for f in form_fields(Definition)}["trigger"].label


def step_label(kind: str) -> str:
    return STEPS.label(kind)


def _shown(fields: tuple[FormField, ...]) -> list[FormField]:
    """The fields that are form inputs (nested step lists are drawn as lists of their own)."""
    return [f for f in fields if f.widget != "steps"]


def _step_fields(kind: str) -> list[FormField]:
    return _shown(STEPS.fields(kind))


def _trigger_fields(kind: str) -> list[FormField]:
    return _shown(TRIGGERS.fields(kind))


def child_lists(kind: str) -> tuple[str, ...]:
    return STEPS.step_lists(kind)


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


def _as_text(spec: FormField, value: Any) -> str:
    """A definition's value as the form's field holds it."""
    if spec.widget == "mapping":
        return _mapping_text(value)
    if spec.widget == "checkbox":
        return "on" if value else ""
    if spec.widget == "json" and value is not None and not isinstance(value, str):
        return json.dumps(value, indent=2)
    return "" if value is None else str(value)


def draft_from_definition(definition: dict[str, Any]) -> dict[str, Any]:
    def step_draft(step: dict[str, Any]) -> dict[str, Any]:
        kind = step.get("type", STEPS.default)
        draft: dict[str, Any] = {"id": step.get("id", ""), "type": kind, "name": step.get("name", "")}
        for spec in _step_fields(kind):
            draft[spec.key] = _as_text(spec, step.get(spec.key))
        for branch in child_lists(kind):
            draft[branch] = [step_draft(s) for s in step.get(branch) or []]
        return draft

    trigger = definition.get("trigger") or {"type": TRIGGERS.default}
    trigger_draft: dict[str, Any] = {"type": trigger.get("type", TRIGGERS.default)}
    for spec in _trigger_fields(trigger_draft["type"]):
        trigger_draft[spec.key] = _as_text(spec, trigger.get(spec.key))
    settings = definition.get("settings") or {}
    return {
        "trigger": trigger_draft,
        "steps": [step_draft(s) for s in definition.get("steps") or []],
        "settings": {spec.key: _as_text(spec, settings.get(spec.key, spec.default)) for spec in _SETTINGS},
    }


def _tokens(path: str) -> list[tuple[str, int | None]]:
    return [(m.group(1), int(m.group(2)) if m.group(2) is not None else None) for m in _TOKEN.finditer(path)]


def draft_from_post(post: Mapping[str, Any]) -> dict[str, Any]:
    """The draft the form holds: steps found by their `<path>.type` field, nested by their paths."""
    trigger_type = post.get("trigger.type", TRIGGERS.default)
    trigger: dict[str, Any] = {"type": trigger_type}
    for spec in _trigger_fields(trigger_type):
        trigger[spec.key] = post.get(f"trigger.{spec.key}", "")
    step_paths = sorted(
        (key[: -len(".type")] for key in post if key.startswith("steps[") and key.endswith(".type")),
        key=lambda p: [(name, index) for name, index in _tokens(p)],
    )
    drafts: dict[str, dict[str, Any]] = {}
    root: list[dict[str, Any]] = []
    for path in step_paths:
        kind = post.get(f"{path}.type", STEPS.default)
        step: dict[str, Any] = {
            "id": post.get(f"{path}.id", ""),
            "type": kind,
            "name": post.get(f"{path}.name", ""),
        }
        for spec in _step_fields(kind):
            step[spec.key] = post.get(f"{path}.{spec.key}", "")
        for branch in child_lists(kind):
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
        "settings": {spec.key: post.get(f"settings.{spec.key}", "") for spec in _SETTINGS},
    }


def definition_from_draft(draft: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The definition to check and save, and the errors of the form's own formats (mappings, JSON body)."""
    errors: dict[str, list[str]] = {}

    def value_of(spec: FormField, owner: dict[str, Any], path: str) -> Any:
        value = owner.get(spec.key, "")
        if spec.widget == "mapping":
            parsed, problem = _mapping_parse(value)
            if problem:
                errors.setdefault(f"{path}.{spec.key}", []).append(problem)
            return parsed
        if spec.widget == "checkbox":
            return value == "on"
        if spec.widget == "json" and spec.json_when is not None and str(value).strip():
            other, wanted = spec.json_when
            if owner.get(other) == wanted:
                try:
                    return json.loads(value)
                except json.JSONDecodeError as exc:
                    errors.setdefault(f"{path}.{spec.key}", []).append(
                        f"not valid JSON: {exc.msg} (line {exc.lineno})"
                    )
        return value

    def convert(step: dict[str, Any], path: str) -> dict[str, Any]:
        kind = str(step.get("type"))
        out: dict[str, Any] = {"id": step.get("id", ""), "type": step.get("type")}
        if step.get("name"):
            out["name"] = step["name"]
        for spec in _step_fields(kind):
            out[spec.key] = value_of(spec, step, path)
        for branch in child_lists(kind):
            out[branch] = [convert(s, f"{path}.{branch}[{i}]") for i, s in enumerate(step.get(branch) or [])]
        return out

    trigger_in = draft.get("trigger") or {}
    trigger: dict[str, Any] = {"type": trigger_in.get("type", TRIGGERS.default)}
    for spec in _trigger_fields(trigger["type"]):
        trigger[spec.key] = value_of(spec, trigger_in, "trigger")
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
    """A step of the type, with a fresh id, its fields at the type's defaults."""
    step: dict[str, Any] = {"id": _fresh_id(draft, kind), "type": kind, "name": ""}
    for spec in _step_fields(kind):
        step[spec.key] = _as_text(spec, spec.default)
    for branch in child_lists(kind):
        step[branch] = []
    return step


@dataclass
class Outcome:
    """What an editing operation did: a message if it could not be done, and the step to select after."""

    problem: str | None = None
    selected: str = ""


def _step_in_list(draft: dict[str, Any], path: str) -> tuple[list[dict[str, Any]], int, str] | None:
    """The list holding the step at `path`, the step's index in it, and the list's path."""
    container, _, last = path.rpartition(".")
    match = _TOKEN.fullmatch(last)
    if match is None or match.group(2) is None:
        return None
    list_path = f"{container}.{match.group(1)}" if container else match.group(1)
    steps = _list_at(draft, list_path)
    index = int(match.group(2))
    if steps is None or index >= len(steps):
        return None
    return steps, index, list_path


def _whole(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 6 else None


def apply_operation(draft: dict[str, Any], op: str, post: Mapping[str, Any]) -> Outcome:
    """Apply `add:<list>` (at its end), `insert:<list>:<index>`, `remove:<step>`, `up:<step>`,
    `down:<step>` or `move:<step>:<index>` (to that place in its own list)."""
    verb, _, rest = op.partition(":")
    if verb in ("add", "insert"):
        path, _, at = rest.partition(":") if verb == "insert" else (rest, "", "")
        kind = post.get(f"newtype:{path}", "") or post.get("newtype", "") or STEPS.default
        steps = _list_at(draft, path)
        if steps is None or kind not in STEPS.models:
            return Outcome("that step list no longer exists")
        index = len(steps) if verb == "add" else _whole(at)
        if index is None or index > len(steps):
            return Outcome("no such place in the list")
        steps.insert(index, new_step(draft, kind))
        return Outcome(selected=f"{path}[{index}]")
    path, _, to = rest.partition(":")
    found = _step_in_list(draft, path)
    if found is None:
        return Outcome("no such step")
    steps, index, list_path = found
    target = {"up": index - 1, "down": index + 1, "move": _whole(to) if verb == "move" else None}
    if verb == "remove":
        steps.pop(index)
        return Outcome(selected=f"{list_path}[{index - 1}]" if index else "")
    if verb not in target:
        return Outcome("no such operation")
    place = target[verb]
    if place is None or not 0 <= place < len(steps):
        return Outcome(selected=path)
    steps.insert(place, steps.pop(index))
    return Outcome(selected=f"{list_path}[{place}]")


# What the template shows.


@dataclass
class Field:
    name: str
    label: str
    kind: str
    value: str
    # (value, label) of each option of a select.
    options: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    help: str = ""

    @classmethod
    def of(cls, spec: FormField, name: str, value: Any, errors: list[str] | None = None) -> Field:
        return cls(
            name,
            spec.label,
            "textarea" if spec.widget == "json" else spec.widget,
            str(value),
            [(option, option) for option in spec.options],
            errors or [],
            spec.help,
        )

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
    # The status the step had in the recipe's latest job the viewer may see; "" if it did not run.
    last_status: str = ""
    # What the flow calls the step before it in the same list ("" for the first), to name the gap.
    previous: str = ""

    @property
    def step_id(self) -> str:
        return self.fields[0].value

    @property
    def title(self) -> str:
        """What the flow calls the step: its name, else its id."""
        return self.fields[1].value or self.step_id

    @property
    def anchor(self) -> str:
        """The id of the step's panel in the form, which its node on the flow selects."""
        return anchor_of(self.path)

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or any(f.errors for f in self.fields))


def anchor_of(path: str) -> str:
    return "step-" + re.sub(r"[^a-z0-9_]+", "-", path.lower()).strip("-")


@dataclass
class ListNode:
    path: str
    label: str
    steps: list[StepNode]
    depth: int

    @property
    def title(self) -> str:
        """A nested list's heading on the flow: a condition's two branches, a for-each's body."""
        return "the recipe" if self.depth == 1 else _LIST_TITLES.get(self.label, self.label)

    def walk(self) -> list[StepNode]:
        """Every step in the list and the lists inside it, in the flow's order: the editor's panels."""
        found: list[StepNode] = []
        for step in self.steps:
            found.append(step)
            for child in step.children:
                found += child.walk()
        return found


_LIST_TITLES = {"then": "If true", "else": "Otherwise", "steps": "For each item"}


def with_statuses(steps: ListNode, statuses: Mapping[str, str]) -> ListNode:
    """The step tree with each step's status in the latest job, by the step's id."""
    for step in steps.steps:
        step.last_status = statuses.get(step.step_id, "")
        for child in step.children:
            with_statuses(child, statuses)
    return steps


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
    kind = str(step.get("type", STEPS.default))
    fields = [
        Field.of(_STEP_BASE["id"], f"{path}.id", step.get("id", ""), errors.claim(f"{path}.id")),
        Field.of(_STEP_BASE["name"], f"{path}.name", step.get("name", ""), errors.claim(f"{path}.name")),
        Field(
            f"{path}.type",
            _STEP_BASE["type"].label,
            "steptype",
            kind,
            STEPS.labels(),
            errors=errors.claim(f"{path}.type"),
        ),
    ]
    for spec in _step_fields(kind):
        fields.append(Field.of(spec, f"{path}.{spec.key}", step.get(spec.key, "")))
    children = [
        _list_node(step.get(branch) or [], f"{path}.{branch}", branch, depth + 1, errors)
        for branch in child_lists(kind)
    ]
    # Fields claim after their children, so `steps[0].then[1].url` is not taken by `steps[0].then`.
    for f in fields[3:]:
        f.errors = errors.claim(f.name)
    return StepNode(path, kind, step_label(kind), index, last, fields, children, errors.claim(path))


def _list_node(steps: list[dict[str, Any]], path: str, label: str, depth: int, errors: _Errors) -> ListNode:
    nodes = [
        _step_node(step, f"{path}[{i}]", i, i == len(steps) - 1, depth, errors)
        for i, step in enumerate(steps)
    ]
    for before, node in pairwise(nodes):
        node.previous = before.title
    return ListNode(path, label, nodes, depth)


def editor(draft: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    """The template's view of the draft: trigger fields, the step tree, settings, and errors left over."""
    pool = _Errors(errors)
    steps = _list_node(draft.get("steps") or [], "steps", "steps", 1, pool)
    trigger = draft.get("trigger") or {}
    trigger_type = str(trigger.get("type", TRIGGERS.default))
    trigger_fields = [
        Field(
            "trigger.type",
            _TRIGGER_LABEL,
            "triggertype",
            trigger_type,
            TRIGGERS.labels(),
            pool.claim("trigger.type"),
        )
    ]
    for spec in _trigger_fields(trigger_type):
        full = f"trigger.{spec.key}"
        trigger_fields.append(Field.of(spec, full, trigger.get(spec.key, ""), pool.claim(full)))
    settings = draft.get("settings") or {}
    settings_fields = [
        Field.of(spec, f"settings.{spec.key}", settings.get(spec.key, ""), pool.claim(f"settings.{spec.key}"))
        for spec in _SETTINGS
    ]
    trigger_errors = pool.claim("trigger")
    steps_errors = pool.claim("steps")
    left = [f"{key}: {message}" for key, messages in pool.left.items() for message in messages]
    return {
        "trigger_fields": trigger_fields,
        "steps": steps,
        "panels": steps.walk(),
        "settings_fields": settings_fields,
        "general_errors": trigger_errors + steps_errors + left,
        "step_types": STEPS.labels(),
        "trigger_label": TRIGGERS.label(trigger_type),
        "trigger_errors": any(f.errors for f in trigger_fields),
    }
