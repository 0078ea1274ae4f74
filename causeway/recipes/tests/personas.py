"""Personas for the recipes tests: Acme with an Admin, an Analyst and an Operator, and an outsider's Other.

Each test module makes them in its own `people` fixture with `acme_people()`.
"""

from __future__ import annotations

from typing import Any

from causeway.recipes import services
from causeway.testing import make_user, make_workspace

HTTP_STEP = {"id": "fetch", "type": "http", "method": "GET", "url": "https://api.example.com/items"}


def definition(*steps: dict[str, Any], trigger: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"trigger": trigger or {"type": "manual"}, "steps": list(steps)}


def acme_people() -> dict[str, Any]:
    admin = make_user("admin@example.com")
    analyst = make_user("analyst@example.com")
    operator = make_user("operator@example.com")
    outsider = make_user("outsider@example.com")
    acme = make_workspace("Acme", members={admin: "admin", analyst: "analyst", operator: "operator"})
    other = make_workspace("Other", members={outsider: "admin"})
    project = services.project_create(actor=admin, workspace=acme, name="Sales")
    recipe = services.recipe_create(
        actor=analyst,
        workspace=acme,
        project=project,
        name="Sync",
        definition=definition(
            HTTP_STEP,
            {"id": "shape", "type": "map", "fields": {"total": "{{ steps.fetch.total }}"}},
        ),
    )
    table = services.lookup_table_create(
        actor=admin,
        workspace=acme,
        project=project,
        name="Prices",
        columns=[{"name": "sku", "type": "text"}, {"name": "price", "type": "number"}],
        key_column="sku",
    )
    other_project = services.project_create(actor=outsider, workspace=other, name="Theirs")
    other_recipe = services.recipe_create(
        actor=outsider,
        workspace=other,
        project=other_project,
        name="Hidden",
        definition=definition(HTTP_STEP),
    )
    return {
        "admin": admin,
        "analyst": analyst,
        "operator": operator,
        "outsider": outsider,
        "acme": acme,
        "other": other,
        "project": project,
        "recipe": recipe,
        "table": table,
        "other_project": other_project,
        "other_recipe": other_recipe,
    }
