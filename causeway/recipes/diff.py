"""A readable difference between two recipe definitions: the trigger's and settings' changed fields, and
step by step which steps were added, removed or moved and which of their fields changed, old → new.

Steps are matched by their id (unique in a recipe, nested steps included). A step counts as moved when
it sits in another list (say, from a condition's `then` to its `else`) or when its order among the
steps kept in the same list changed; inserting or removing a neighbour does not move it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from causeway.recipes.schema import STEPS


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass
class StepChange:
    id: str
    kind: str  # added, removed, moved, changed
    type: str
    old_path: str | None = None
    new_path: str | None = None
    moved: bool = False
    changes: list[FieldChange] = field(default_factory=list)


@dataclass
class DefinitionDiff:
    trigger: list[FieldChange] = field(default_factory=list)
    settings: list[FieldChange] = field(default_factory=list)
    steps: list[StepChange] = field(default_factory=list)
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        return not (self.trigger or self.settings or self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "trigger": [asdict(c) for c in self.trigger],
            "settings": [asdict(c) for c in self.settings],
            "steps": [asdict(s) for s in self.steps],
            "unchanged_steps": self.unchanged,
        }


@dataclass(frozen=True)
class _Placed:
    step: dict[str, Any]
    path: str
    container: str
    index: int


def _place(steps: list[dict[str, Any]], container: str, found: dict[str, _Placed]) -> None:
    for index, step in enumerate(steps):
        path = f"{container}[{index}]"
        found[str(step.get("id"))] = _Placed(step, path, container, index)
        for branch in STEPS.step_lists(str(step.get("type"))):
            if isinstance(step.get(branch), list):
                _place(step[branch], f"{path}.{branch}", found)


def _flat(value: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Fields one level down too, so a changed header reads `headers.Authorization`, not the whole map."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if key in skip:
            continue
        if isinstance(item, dict) and key != "body":
            for sub, subitem in item.items():
                flat[f"{key}.{sub}"] = subitem
        else:
            flat[key] = item
    return flat


def _fields(old: dict[str, Any], new: dict[str, Any], skip: tuple[str, ...] = ()) -> list[FieldChange]:
    a, b = _flat(old, skip), _flat(new, skip)
    changes = []
    for key in list(a) + [k for k in b if k not in a]:
        if a.get(key) != b.get(key):
            changes.append(FieldChange(key, a.get(key), b.get(key)))
    return changes


def _kept_in_order(old_ids: list[str], new_ids: list[str]) -> set[str]:
    """The longest run of ids in the same relative order in both lists (an LCS); the rest moved."""
    n, m = len(old_ids), len(new_ids)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if old_ids[i] == new_ids[j]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    kept: set[str] = set()
    i = j = 0
    while i < n and j < m:
        if old_ids[i] == new_ids[j]:
            kept.add(old_ids[i])
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return kept


def definition_diff(old: dict[str, Any], new: dict[str, Any]) -> DefinitionDiff:
    result = DefinitionDiff(
        trigger=_fields(old.get("trigger") or {}, new.get("trigger") or {}),
        settings=_fields(old.get("settings") or {}, new.get("settings") or {}),
    )
    before: dict[str, _Placed] = {}
    after: dict[str, _Placed] = {}
    _place(old.get("steps") or [], "steps", before)
    _place(new.get("steps") or [], "steps", after)

    kept: set[str] = set()
    for container in {p.container for p in after.values()}:
        common_old = [sid for sid, p in before.items() if p.container == container and sid in after]
        common_new = [sid for sid, p in after.items() if p.container == container and sid in before]
        common_old = [sid for sid in common_old if after[sid].container == container]
        common_new = [sid for sid in common_new if before[sid].container == container]
        common_old.sort(key=lambda sid: before[sid].index)
        common_new.sort(key=lambda sid: after[sid].index)
        kept |= _kept_in_order(common_old, common_new)

    for sid, placed in after.items():
        if sid not in before:
            result.steps.append(StepChange(sid, "added", str(placed.step.get("type")), new_path=placed.path))
            continue
        was = before[sid]
        moved = sid not in kept
        nested = STEPS.step_lists(str(was.step.get("type"))) + STEPS.step_lists(str(placed.step.get("type")))
        changes = _fields(was.step, placed.step, skip=nested)
        if not moved and not changes:
            result.unchanged += 1
            continue
        result.steps.append(
            StepChange(
                sid,
                "moved" if moved else "changed",
                str(placed.step.get("type")),
                old_path=was.path,
                new_path=placed.path,
                moved=moved,
                changes=changes,
            )
        )
    for sid, placed in before.items():
        if sid not in after:
            result.steps.append(
                StepChange(sid, "removed", str(placed.step.get("type")), old_path=placed.path)
            )
    return result
