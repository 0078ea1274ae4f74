"""The system roles of an installation seeded before a change to rule 4 are brought up to date by a
migration: stored rows, not the code, are what the policy reads."""

from __future__ import annotations

import pytest

from causeway.access import policy
from causeway.access.perms import SYSTEM_ROLES, Perm, perms_of
from causeway.workspaces.models import Role
from testkit.support import make_user, make_workspace, migrate_database

BEFORE_JOB_HISTORY = [("access", "0005_reseed_system_roles")]


@pytest.mark.django_db(transaction=True)
def test_rule_04_analysts_and_operators_of_an_earlier_installation_get_job_history(
    latest_afterwards: None,
) -> None:

    old = migrate_database(BEFORE_JOB_HISTORY)
    seeded = old.get_model("access", "Role").objects.filter(workspace=None)
    stored = {role.key: set(role.permissions) for role in seeded}
    assert "recipe:debug" not in stored["analyst"] | stored["operator"]
    assert "recipe:debug" in stored["admin"]

    migrate_database()
    for key, perms in SYSTEM_ROLES.items():
        assert perms_of(Role.objects.get(workspace=None, key=key).permissions) == perms
    analyst = make_user("analyst@example.com")
    operator = make_user("operator@example.com")
    acme = make_workspace("Acme", members={analyst: "analyst", operator: "operator"})
    for user in (analyst, operator):
        assert policy.explain(user, Perm.RECIPE_DEBUG, acme).allowed
