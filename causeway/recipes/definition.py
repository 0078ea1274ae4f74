"""A recipe definition checked and normalised before a version is saved, and read back for the runners.

What a definition may hold is described once, by the models of `causeway.recipes.schema`; these functions
give their callers plain JSON (what versions store, seal, diff and export) and Django's ValidationError,
keyed by each bad field's path (`steps[1].url`), with the sentences people read.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from pydantic import ValidationError as ModelValidationError

from causeway.recipes.schema import (
    SECRET_REFERENCE,
    STEPS,
    TRIGGERS,
    Definition,
    Trigger,
    errors_by_path,
)


def definition_load(raw: Any) -> Definition:
    """The definition as its model, or ValidationError naming each bad field by path."""
    try:
        return Definition.model_validate(raw)
    except ModelValidationError as exc:
        raise ValidationError(errors_by_path(exc)) from None


def definition_clean(raw: Any) -> dict[str, Any]:
    """The definition, normalised (defaults filled in), or ValidationError naming each bad field by path,
    such as `steps[1].url`."""
    return definition_load(raw).normalised()


def trigger_load(definition: Any) -> Trigger:
    """The trigger of a stored definition, as its model (none: manual), without reading its steps."""
    raw = definition.get("trigger") if isinstance(definition, dict) else None
    try:
        return TRIGGERS.load(raw if raw is not None else {})
    except ModelValidationError as exc:
        raise ValidationError(errors_by_path(exc)) from None


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
        for branch in STEPS.step_lists(str(step.get("type"))):
            if isinstance(step.get(branch), list):
                found += walk_steps(step[branch])
    return found
