"""`causeway workspaces outbound-hosts` (rule 20): shows and sets the list, audited as the system."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from causeway.workspaces.tests.helpers import AuditWatch, on_workspace
from testkit.support import make_workspace

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_rule_20_outbound_hosts_are_shown_set_and_emptied() -> None:
    workspace = make_workspace("Acme")
    assert "no outbound hosts allowed" in run("workspaces", "outbound-hosts", "acme")
    watch = AuditWatch()
    assert run("workspaces", "outbound-hosts", "acme", "--set", "127.0.0.1", "*.corp.example").split() == [
        "127.0.0.1",
        "*.corp.example",
    ]
    assert watch.actions() == [on_workspace(workspace, "workspace.outbound_hosts_changed")]
    assert run("workspaces", "outbound-hosts", "acme").split() == ["127.0.0.1", "*.corp.example"]
    assert "no outbound hosts allowed" in run("workspaces", "outbound-hosts", "acme", "--set")
    workspace.refresh_from_db()
    assert workspace.outbound_allowed_hosts == []


def test_rule_20_a_bad_host_or_workspace_is_one_line_on_stderr() -> None:
    make_workspace("Acme")
    with pytest.raises(CommandError, match=r"^hosts: "):
        run("workspaces", "outbound-hosts", "acme", "--set", "not a host")
    with pytest.raises(CommandError, match="workspace: no workspace"):
        run("workspaces", "outbound-hosts", "missing")
