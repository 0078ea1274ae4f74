"""Test helpers for triggers: a workspace with its people, and a started recipe with a given trigger."""

from __future__ import annotations

from typing import Any

from causeway.access.policy import Actor
from causeway.recipes.models import Recipe
from causeway.recipes.services import project_create, recipe_create
from causeway.runs.triggers import recipe_start
from causeway.workspaces.models import Workspace
from testkit.personas import cast

STEPS = [{"id": "note", "type": "map", "fields": {"seen": "{{ trigger }}"}}]


def people() -> dict[str, Any]:
    return cast("admin", "analyst", "operator", "outsider").people()


def started_recipe(
    actor: Actor, workspace: Workspace, trigger: dict[str, Any], *, name: str = "Hooked", start: bool = True
) -> Recipe:
    project = project_create(actor=actor, workspace=workspace, name=f"Project of {name}")
    recipe = recipe_create(
        actor=actor,
        workspace=workspace,
        project=project,
        name=name,
        definition={"trigger": trigger, "steps": STEPS},
    )
    if start:
        recipe = recipe_start(actor=actor, recipe=recipe)
    return recipe
