"""The Outbound hosts section of the Settings page (rule 20): Admins set it, each change is audited."""

from __future__ import annotations

from typing import Any

import pytest

from causeway.workspaces.models import Workspace
from causeway.workspaces.tests.helpers import AuditWatch, fast_hashing, on_workspace, sign_in  # noqa: F401
from testkit.personas import cast
from testkit.support import field_errors, https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture
def people() -> dict[str, Any]:
    return cast("admin", "analyst").people()


def as_user(user: Any) -> Any:
    return sign_in(https_client(), user)


def test_rule_20_admin_sets_outbound_hosts_on_the_settings_page(people: dict[str, Any]) -> None:
    admin = as_user(people["admin"])
    page = admin.get("/w/acme/settings").content.decode()
    assert 'name="outbound_hosts"' in page
    watch = AuditWatch()
    answer = admin.post(
        "/w/acme/settings",
        {"section": "outbound", "outbound_hosts": "erp.internal.example\n*.corp.example\n10.0.0.5"},
    )
    assert answer.status_code == 302
    assert Workspace.objects.get(slug="acme").outbound_allowed_hosts == [
        "erp.internal.example",
        "*.corp.example",
        "10.0.0.5",
    ]
    assert watch.actions() == [on_workspace(people["acme"], "workspace.outbound_hosts_changed")]
    assert "erp.internal.example" in admin.get("/w/acme/settings").content.decode()


def test_rule_20_a_bad_host_is_a_form_error_and_changes_nothing(people: dict[str, Any]) -> None:
    watch = AuditWatch()
    answer = as_user(people["admin"]).post(
        "/w/acme/settings", {"section": "outbound", "outbound_hosts": "no spaces allowed"}
    )
    assert answer.status_code == 400
    assert field_errors(answer.content.decode(), "outbound_hosts")
    assert Workspace.objects.get(slug="acme").outbound_allowed_hosts == []
    assert watch.new() == []


def test_rule_20_an_analyst_cannot_set_outbound_hosts(people: dict[str, Any]) -> None:
    answer = as_user(people["analyst"]).post(
        "/w/acme/settings", {"section": "outbound", "outbound_hosts": "127.0.0.1"}
    )
    assert answer.status_code == 403
    assert Workspace.objects.get(slug="acme").outbound_allowed_hosts == []
