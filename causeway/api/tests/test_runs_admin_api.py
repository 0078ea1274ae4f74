"""The job retention API: Admins read and set it, anyone else is refused, bad input is a 4xx."""

from __future__ import annotations

from typing import Any

import pytest

from causeway.audit.models import AuditEvent
from causeway.workspaces.models import Workspace
from causeway.workspaces.tests.helpers import bearer, fast_hashing  # noqa: F401
from testkit.personas import cast
from testkit.support import https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture
def people() -> dict[str, Any]:
    return cast("admin", "analyst", "outsider").people()


def path(people: dict[str, Any]) -> str:
    return f"/api/v1/workspaces/{people['acme'].id}/job-retention"


def caller(user: Any) -> Any:
    return https_client(**bearer(user))


def test_an_admin_reads_and_sets_the_retention_and_the_change_is_audited(people: dict[str, Any]) -> None:
    admin = caller(people["admin"])
    assert admin.get(path(people)).json() == {"days": 30, "min_days": 1, "max_days": 3650}
    answer = admin.put(path(people), {"days": 120}, content_type="application/json")
    assert answer.status_code == 200
    assert answer.json()["days"] == 120
    assert Workspace.objects.get(pk=people["acme"].pk).job_retention_days == 120
    event = AuditEvent.objects.get(action="workspace.job_retention_changed")
    assert event.details == {"from": 30, "to": 120}


def test_others_are_refused_as_the_rules_say(people: dict[str, Any]) -> None:
    analyst = caller(people["analyst"])
    assert analyst.get(path(people)).status_code == 403
    refused = analyst.put(path(people), {"days": 1}, content_type="application/json")
    assert (refused.status_code, refused.json()["permission"]) == (403, "workspace:settings")
    outsider = caller(people["outsider"])
    assert outsider.get(path(people)).status_code == 404
    assert outsider.put(path(people), {"days": 1}, content_type="application/json").status_code == 404
    assert Workspace.objects.get(pk=people["acme"].pk).job_retention_days == 30


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"days": 0}, 400),
        ({"days": 3651}, 400),
        ({"days": "many"}, 422),
        ({"days": 5, "workspace_id": "x"}, 422),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(people: dict[str, Any], body: Any, status: int) -> None:
    answer = caller(people["admin"]).put(path(people), body, content_type="application/json")
    assert answer.status_code == status
    if status == 400:
        assert answer.json()["detail"].startswith("days:")
    assert Workspace.objects.get(pk=people["acme"].pk).job_retention_days == 30
