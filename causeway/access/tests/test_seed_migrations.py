"""The system roles of an installation seeded before a change to rule 4 are brought up to date by a
migration: stored rows, not the code, are what the policy reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from causeway.access import policy
from causeway.access.models import Role
from causeway.access.perms import SYSTEM_ROLES, Perm
from causeway.testing import make_user, make_workspace
from causeway.vault import keysets

BEFORE_JOB_HISTORY = [("access", "0005_reseed_system_roles")]


def _migrate(targets: list[tuple[str, str]] | None = None) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    keysets.forget_cached_keysets()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def latest_afterwards() -> Iterator[None]:
    yield
    _migrate()


@pytest.mark.django_db(transaction=True)
def test_rule_04_analysts_and_operators_of_an_earlier_installation_get_job_history(
    latest_afterwards: None,
) -> None:

    old = _migrate(BEFORE_JOB_HISTORY)
    seeded = old.get_model("access", "Role").objects.filter(workspace=None)
    stored = {role.key: set(role.permissions) for role in seeded}
    assert "recipe:debug" not in stored["analyst"] | stored["operator"]
    assert "recipe:debug" in stored["admin"]

    _migrate()
    for key, perms in SYSTEM_ROLES.items():
        assert Role.objects.get(workspace=None, key=key).perms == perms
    analyst = make_user("analyst@example.com")
    operator = make_user("operator@example.com")
    acme = make_workspace("Acme", members={analyst: "analyst", operator: "operator"})
    for user in (analyst, operator):
        assert policy.explain(user, Perm.RECIPE_DEBUG, acme).allowed
