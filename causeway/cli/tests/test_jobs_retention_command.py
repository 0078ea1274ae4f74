"""`causeway jobs-retention`: shows and sets a workspace's job history retention, as a real process."""

from __future__ import annotations

import pytest

from causeway.audit.models import ActorType, AuditEvent
from causeway.cli.tests.processes import causeway, run
from causeway.workspaces.models import Workspace
from testkit.support import make_user, make_workspace, process_env

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def test_jobs_retention_shows_sets_and_refuses_bad_values_in_one_line() -> None:
    admin = make_user("admin@example.com")
    acme = make_workspace("Acme", members={admin: "admin"})
    env = process_env()

    shown = run(causeway("jobs-retention", "acme"), env)
    assert (shown.returncode, shown.stdout) == (0, "acme: job history kept 30 days.\n")

    changed = run(causeway("jobs-retention", str(acme.id), "--days", "400"), env)
    assert (changed.returncode, changed.stdout) == (0, "acme: job history kept 400 days.\n")
    assert Workspace.objects.get(pk=acme.pk).job_retention_days == 400
    event = AuditEvent.objects.get(action="workspace.job_retention_changed")
    assert event.actor_type == ActorType.SYSTEM
    assert event.details == {"from": 30, "to": 400}

    for days, message in (
        ("0", "days: must be between 1 and 3650 days"),
        ("x", "days: must be a whole number of days"),
    ):
        refused = run(causeway("jobs-retention", "acme", "--days", days), env)
        assert refused.returncode == 1
        assert refused.stderr.strip().endswith(message) and len(refused.stderr.splitlines()) == 1
    missing = run(causeway("jobs-retention", "nowhere"), env)
    assert missing.returncode == 1 and "no workspace 'nowhere'" in missing.stderr
    assert Workspace.objects.get(pk=acme.pk).job_retention_days == 400
