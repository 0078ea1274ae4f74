"""`causeway workspaces` and `causeway invite`: operator commands, audited as the system actor."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from causeway.accounts.models import UserType
from causeway.audit.models import ActorType
from causeway.workspaces.models import Invitation, Membership, Workspace, invitation_email_index
from causeway.workspaces.selectors import invitation_digest
from causeway.workspaces.tests.helpers import AuditWatch, on_platform, on_workspace, token_of
from testkit.support import ROOT, causeway_command, make_user, make_workspace, process_env

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_workspaces_create_gives_the_named_user_admin_and_is_audited_as_the_system() -> None:
    alice = make_user("alice@example.com")
    watch = AuditWatch()
    output = run("workspaces", "create", "--name", "Acme Corp", "--admin", "alice@example.com")
    workspace = Workspace.objects.get(slug="acme-corp")
    assert "/w/acme-corp/" in output
    assert workspace.created_by is None
    assert Membership.objects.get(workspace=workspace).user == alice
    assert watch.actions() == [on_workspace(workspace, "workspace.created")]
    event = watch.new()[0]
    assert event.actor_type == ActorType.SYSTEM
    assert event.actor_label.startswith("cli (")


def test_workspaces_create_refuses_an_unknown_admin() -> None:
    with pytest.raises(CommandError, match="admin_email: no active user"):
        run("workspaces", "create", "--name", "Acme", "--admin", "nobody@example.com")
    assert not Workspace.objects.exists()


def test_workspaces_list_shows_every_workspace() -> None:
    make_workspace("Acme", members={make_user("a@example.com"): "admin"})
    make_workspace("Zeta")
    lines = run("workspaces", "list").splitlines()
    assert [line.split("\t")[0] for line in lines] == ["acme", "zeta"]
    assert "1 members" in lines[0]
    assert "timeout 10080 min" in lines[0]


def test_workspaces_settings_changes_the_timeout_and_refuses_out_of_range() -> None:
    workspace = make_workspace("Acme")
    watch = AuditWatch()
    assert "60 minutes" in run("workspaces", "settings", "acme", "--session-timeout", "60")
    workspace.refresh_from_db()
    assert workspace.session_timeout == timedelta(minutes=60)
    assert watch.actions() == [on_workspace(workspace, "workspace.settings_changed")]
    for bad in ("5", "20161", "ten"):
        with pytest.raises(CommandError, match=r"^session_timeout: "):
            run("workspaces", "settings", "acme", "--session-timeout", bad)
    with pytest.raises(CommandError, match="workspace: no workspace"):
        run("workspaces", "settings", "missing", "--name", "X")


def test_invite_to_the_platform_prints_the_link_once_and_stores_only_its_digest(
    mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    watch = AuditWatch()
    with django_capture_on_commit_callbacks(execute=True):
        output = run("invite", "--email", "new@example.com", "--staff")
    link = output.strip().splitlines()[-1]
    assert output.count(link) == 1
    invitation = Invitation.objects.get(email_index=invitation_email_index("new@example.com"))
    assert invitation.digest == invitation_digest(token_of(link))
    assert (invitation.workspace, invitation.user_type, invitation.invited_by) == (None, UserType.STAFF, None)
    assert link in mailoutbox[0].body
    assert watch.actions() == [on_platform("invitation.sent")]
    assert watch.new()[0].actor_type == ActorType.SYSTEM


def test_invite_into_a_workspace_with_a_role(mailoutbox: list[Any]) -> None:
    workspace = make_workspace("Acme")
    watch = AuditWatch()
    output = run("invite", "--workspace", "acme", "--email", "bob@example.com", "--role", "analyst")
    invitation = Invitation.objects.get(email_index=invitation_email_index("bob@example.com"))
    assert (invitation.workspace, invitation.role.key) == (workspace, "analyst")
    assert invitation.digest == invitation_digest(token_of(output.strip().splitlines()[-1]))
    assert watch.actions() == [on_workspace(workspace, "invitation.sent")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workspace", "acme", "--email", "b@example.com"], "--role: required"),
        (["--workspace", "acme", "--email", "b@example.com", "--role", "owner"], "role: must be one of"),
        (
            ["--workspace", "nowhere", "--email", "b@example.com", "--role", "analyst"],
            "workspace: no workspace",
        ),
        (["--email", "b@example.com", "--role", "analyst"], "--role: only with --workspace"),
        (["--workspace", "acme", "--email", "b@example.com", "--role", "admin", "--staff"], "--staff: only"),
        (["--email", "not-an-email"], "Email is not a valid email address"),
    ],
)
def test_invite_refuses_bad_input(args: list[str], message: str, mailoutbox: list[Any]) -> None:
    make_workspace("Acme")
    with pytest.raises(CommandError, match=message):
        run("invite", *args)
    assert not Invitation.objects.exists()
    assert mailoutbox == []


@pytest.mark.django_db(transaction=True)
def test_an_out_of_range_timeout_exits_non_zero_with_one_line_on_stderr(transactional_db: None) -> None:
    make_workspace("Acme")
    done = subprocess.run(
        causeway_command("workspaces", "settings", "acme", "--session-timeout", "14"),
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "session_timeout" in lines[0] and "15" in lines[0]
    assert Workspace.objects.get(slug="acme").session_timeout == timedelta(days=7)
