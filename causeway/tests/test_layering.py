"""The layering matches the foreign keys: application code looks a model up by importing it, never by
its name through the app registry, and no model change is heard through a signal (what follows a
change is called by the service that makes it). Migrations keep their historical `apps.get_model`;
tests may do as they need.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

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
