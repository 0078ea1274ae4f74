"""Giving asks the app that keeps what a gift reaches; what no app answers for cannot be given."""

from __future__ import annotations

import pytest

from causeway.access import giving, policy
from causeway.workspaces.tests.helpers import fast_hashing  # noqa: F401
from testkit.personas import cast

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


def test_giving_something_no_app_answers_for_is_refused_not_allowed() -> None:
    people = cast("operator").people()
    acme = people["acme"]
    st = policy.standing(people["operator"], acme)
    with pytest.raises(TypeError, match="cannot say what giving a Workspace gives"):
        giving.gap(acme, st)
