"""The step-by-step diff: added, removed, moved and changed steps, field by field, old → new."""

from __future__ import annotations

from typing import Any

from causeway.recipes.definition import definition_clean
from causeway.recipes.diff import FieldChange, definition_diff


def clean(*steps: dict[str, Any], trigger: dict[str, Any] | None = None) -> dict[str, Any]:
    return definition_clean({"trigger": trigger or {"type": "manual"}, "steps": list(steps)})


def http(step_id: str, url: str = "https://example.com/", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "http", "url": url, **extra}


def mapping(step_id: str, **fields: str) -> dict[str, Any]:
    return {"id": step_id, "type": "map", "fields": fields}


def test_identical_definitions_have_no_differences() -> None:
    a = clean(http("a"), mapping("b", x="1"))
    diff = definition_diff(a, a)
    assert diff.empty and diff.unchanged == 2


def test_added_removed_and_changed_fields_old_to_new() -> None:
    old = clean(http("fetch", headers={"Accept": "json"}), mapping("shape", total="1"), mapping("gone"))
    new = clean(
        http("fetch", url="https://example.com/v2", headers={"Accept": "json", "X-Key": "k"}),
        mapping("shape", total="1"),
        {"id": "halt", "type": "stop", "message": "done"},
    )
    diff = definition_diff(old, new)
    by_id = {s.id: s for s in diff.steps}
    assert set(by_id) == {"fetch", "halt", "gone"}
    assert by_id["fetch"].kind == "changed" and not by_id["fetch"].moved
    assert by_id["fetch"].changes == [
        FieldChange("url", "https://example.com/", "https://example.com/v2"),
        FieldChange("headers.X-Key", None, "k"),
    ]
    assert (by_id["halt"].kind, by_id["halt"].new_path, by_id["halt"].type) == ("added", "steps[2]", "stop")
    assert (by_id["gone"].kind, by_id["gone"].old_path) == ("removed", "steps[2]")
    assert diff.unchanged == 1


def test_inserting_a_step_moves_none_of_the_others() -> None:
    old = clean(mapping("a"), mapping("b"), mapping("c"))
    new = clean(mapping("new"), mapping("a"), mapping("b"), mapping("c"))
    diff = definition_diff(old, new)
    assert [(s.id, s.kind) for s in diff.steps] == [("new", "added")]
    assert diff.unchanged == 3


def test_a_reordered_step_is_moved_and_its_neighbours_are_not() -> None:
    old = clean(mapping("a"), mapping("b"), mapping("c"))
    new = clean(mapping("c"), mapping("a"), mapping("b", x="2"))
    diff = definition_diff(old, new)
    by_id = {s.id: s for s in diff.steps}
    assert by_id["c"].kind == "moved" and (by_id["c"].old_path, by_id["c"].new_path) == (
        "steps[2]",
        "steps[0]",
    )
    assert by_id["b"].kind == "changed" and not by_id["b"].moved
    assert by_id["b"].changes == [FieldChange("fields.x", None, "2")]
    assert "a" not in by_id


def test_a_step_moved_between_branches_and_nested_changes() -> None:
    old = clean(
        {
            "id": "check",
            "type": "condition",
            "if": "trigger.ok",
            "then": [mapping("yes")],
            "else": [mapping("no")],
        }
    )
    new = clean(
        {
            "id": "check",
            "type": "condition",
            "if": "trigger.ok == true",
            "then": [],
            "else": [mapping("no", reason="late"), mapping("yes")],
        }
    )
    diff = definition_diff(old, new)
    by_id = {s.id: s for s in diff.steps}
    assert by_id["check"].changes == [FieldChange("if", "trigger.ok", "trigger.ok == true")]
    assert (by_id["yes"].kind, by_id["yes"].old_path, by_id["yes"].new_path) == (
        "moved",
        "steps[0].then[0]",
        "steps[0].else[1]",
    )
    assert by_id["no"].kind == "changed"


def test_trigger_and_settings_changes_and_the_dict_form() -> None:
    old = clean(trigger={"type": "manual"})
    new = definition_clean(
        {
            "trigger": {"type": "schedule", "cron": "*/5 * * * *"},
            "steps": [],
            "settings": {"max_duration_seconds": 60},
        }
    )
    diff = definition_diff(old, new)
    assert FieldChange("type", "manual", "schedule") in diff.trigger
    assert FieldChange("cron", None, "*/5 * * * *") in diff.trigger
    assert diff.settings == [FieldChange("max_duration_seconds", 3600, 60)]
    as_dict = diff.as_dict()
    assert as_dict["settings"] == [{"field": "max_duration_seconds", "old": 3600, "new": 60}]
    assert as_dict["unchanged_steps"] == 0
