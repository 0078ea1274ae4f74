"""The layering matches the foreign keys: every relation between models points down the layers that
import-linter enforces on the code, application code looks a model up by importing it, never by its
name through the app registry, and no model change is heard through a signal (what follows a change is
called by the service that makes it). Migrations keep their historical `apps.get_model`; tests may do
as they need.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.apps import apps
from django.db import models
from django.db.migrations.loader import MigrationLoader

import causeway

ROOT = Path(causeway.__file__).parent
# The signals sent when a row changes. (`post_init`, sent when a row is loaded, is how a sealed field
# remembers the binding it was read with: part of the field, not a reaction to a change.)
MODEL_SIGNALS = {"pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed"}


def application_files() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if "tests" in parts or "migrations" in parts or path.name in {"testing.py", "conftest.py"}:
            continue
        yield path


def lookups_by_name(source: str) -> list[int]:
    """Lines that call `get_model` on anything (the app registry, a config, a state)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get_model"
    ]


def model_signal_uses(source: str) -> list[int]:
    """Lines that import or name one of Django's model-change signals."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "django.db.models.signals":
            if any(alias.name in MODEL_SIGNALS for alias in node.names):
                found.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr in MODEL_SIGNALS:
            if isinstance(node.value, ast.Name | ast.Attribute) and ast.unparse(node.value).endswith(
                "signals"
            ):
                found.append(node.lineno)
    return found


def test_the_detectors_find_what_they_look_for() -> None:
    assert lookups_by_name('from django.apps import apps\nRole = apps.get_model("access", "Role")\n') == [2]
    assert model_signal_uses("from django.db.models.signals import post_save\n") == [1]
    assert model_signal_uses("from django.db.models import signals\nsignals.post_delete.connect(f)\n") == [2]
    # A field's own `pre_save` method is not a signal, nor are the sign-in signals.
    assert model_signal_uses("class F:\n    def pre_save(self): ...\n") == []
    assert model_signal_uses("from django.contrib.auth.signals import user_logged_in\n") == []


def test_application_code_looks_models_up_by_import() -> None:
    found = [
        f"{path.relative_to(ROOT.parent)}:{line}"
        for path in application_files()
        for line in lookups_by_name(path.read_text())
    ]
    assert found == []


def test_application_code_has_no_model_change_signal_receivers() -> None:
    found = [
        f"{path.relative_to(ROOT.parent)}:{line}"
        for path in application_files()
        for line in model_signal_uses(path.read_text())
    ]
    assert found == []


def layer_ranks() -> dict[str, int]:
    """Each layered package's place in import-linter's layers contract, 0 at the top."""
    config = tomllib.loads((ROOT.parent / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    return {
        package.strip(): rank for rank, layer in enumerate(contract["layers"]) for package in layer.split("|")
    }


def upward_relations(found: Iterable[type[models.Model]]) -> list[str]:
    """Every foreign key, one-to-one and many-to-many (and each field of a many-to-many's own table) that
    points from a model to a model of a higher layer."""
    ranks = layer_ranks()
    out = []
    for model in found:
        source = ranks.get(f"causeway.{model._meta.app_label}")
        for field in model._meta.get_fields(include_hidden=True):
            if not field.is_relation or field.auto_created or field.related_model is None:
                continue
            target = field.related_model._meta  # type: ignore[union-attr]
            rank = ranks.get(f"causeway.{target.app_label}")
            if source is not None and rank is not None and rank < source:
                out.append(f"{model._meta.label}.{field.name} -> {target.label}")
    return sorted(out)


def test_the_relation_walk_finds_the_relations_that_pointed_up_before_roles_and_grants_moved() -> None:
    before = [
        ("access", "0006_job_history_for_analysts_and_operators"),
        ("workspaces", "0004_api_tokens_of_both_kinds"),
        ("recipes", "0002_lookup_key_index_length"),
    ]
    state = MigrationLoader(None, ignore_no_migrations=True).project_state(before)
    assert upward_relations(state.apps.get_models(include_auto_created=True)) == [
        "access.RecipeGrant.recipe -> recipes.Recipe",
        "access.Role.projects -> recipes.Project",
        "access.Role_projects.project -> recipes.Project",
        "workspaces.Invitation.role -> access.Role",
        "workspaces.Membership.role -> access.Role",
    ]


def test_every_model_relation_points_down_the_layers() -> None:
    assert len(layer_ranks()) >= 10
    assert upward_relations(apps.get_models(include_auto_created=True)) == []
