"""Personas for the recipes tests: Acme with an Admin, an Analyst and an Operator, and an outsider's Other.

Each test module makes them in its own `people` fixture with `acme_people()`.
"""

from __future__ import annotations

from typing import Any

from testkit.factories import LookupTableFactory, ProjectFactory, RecipeFactory
from testkit.personas import cast

HTTP_STEP = {"id": "fetch", "type": "http", "method": "GET", "url": "https://api.example.com/items"}


def definition(*steps: dict[str, Any], trigger: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"trigger": trigger or {"type": "manual"}, "steps": list(steps)}


def acme_people() -> dict[str, Any]:
    people = cast("admin", "analyst", "operator", "outsider").people()
    admin, analyst, outsider = people["admin"], people["analyst"], people["outsider"]
    acme, other = people["acme"], people["other"]
    project = ProjectFactory.create(actor=admin, workspace=acme, name="Sales")
    recipe = RecipeFactory.create(
        actor=analyst,
        project=project,
        name="Sync",
        definition=definition(
            HTTP_STEP,
            {"id": "shape", "type": "map", "fields": {"total": "{{ steps.fetch.total }}"}},
        ),
    )
    table = LookupTableFactory.create(
        actor=admin,
        project=project,
        name="Prices",
        columns=[{"name": "sku", "type": "text"}, {"name": "price", "type": "number"}],
        key_column="sku",
    )
    other_project = ProjectFactory.create(actor=outsider, workspace=other, name="Theirs")
    other_recipe = RecipeFactory.create(
        actor=outsider,
        project=other_project,
        name="Hidden",
        definition=definition(HTTP_STEP),
    )
    return {
        **people,
        "project": project,
        "recipe": recipe,
        "table": table,
        "other_project": other_project,
        "other_recipe": other_recipe,
    }
