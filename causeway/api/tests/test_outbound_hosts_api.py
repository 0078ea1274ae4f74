"""GET/PUT /workspaces/{id}/outbound-hosts (rule 20): Admin only, audited, extra fields refused."""

from __future__ import annotations

from typing import Any

import pytest

from causeway.workspaces.models import Workspace
from causeway.workspaces.tests.helpers import AuditWatch, bearer, fast_hashing, on_workspace  # noqa: F401
from testkit.personas import cast
from testkit.support import https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture
def people() -> dict[str, Any]:
    return cast("admin", "operator", "outsider").people()


def api(user: Any) -> Any:
    return https_client(**bearer(user))


def test_rule_20_admin_reads_and_replaces_outbound_hosts(people: dict[str, Any]) -> None:
    path = f"/api/v1/workspaces/{people['acme'].id}/outbound-hosts"
    admin = api(people["admin"])
    assert admin.get(path).json() == {"hosts": []}
    watch = AuditWatch()
    answer = admin.put(path, {"hosts": ["Localhost", "*.corp.example"]}, content_type="application/json")
    assert answer.status_code == 200
    assert answer.json() == {"hosts": ["localhost", "*.corp.example"]}
    assert watch.actions() == [on_workspace(people["acme"], "workspace.outbound_hosts_changed")]
    assert admin.get(path).json() == {"hosts": ["localhost", "*.corp.example"]}


def test_rule_20_bad_input_is_a_400_and_extra_fields_are_refused(people: dict[str, Any]) -> None:
    path = f"/api/v1/workspaces/{people['acme'].id}/outbound-hosts"
    admin = api(people["admin"])
    assert admin.put(path, {"hosts": ["not a host"]}, content_type="application/json").status_code == 400
    extra = {"hosts": ["a.example"], "workspace_id": "x"}
    assert admin.put(path, extra, content_type="application/json").status_code in (400, 422)
    assert Workspace.objects.get(slug="acme").outbound_allowed_hosts == []


def test_rule_20_operators_get_403_and_outsiders_404(people: dict[str, Any]) -> None:
    path = f"/api/v1/workspaces/{people['acme'].id}/outbound-hosts"
    body = {"hosts": ["127.0.0.1"]}
    assert api(people["operator"]).get(path).status_code == 403
    assert api(people["operator"]).put(path, body, content_type="application/json").status_code == 403
    assert api(people["outsider"]).put(path, body, content_type="application/json").status_code == 404
    assert Workspace.objects.get(slug="acme").outbound_allowed_hosts == []
