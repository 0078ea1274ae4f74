"""`causeway users`: the operator's create, list, disable and enable, in process and as a real command."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from causeway.accounts import services
from causeway.accounts.models import User, UserSession
from causeway.audit.models import AuditEvent
from causeway.workspaces import tokens
from testkit.support import (
    ROOT,
    STRONG_PASSWORD,
    causeway_command,
    https_client,
    make_user,
    process_env,
)

NEW_PASSWORD = "another-Lantern-orbit-4"


def sign_in(client: Any, email: str) -> None:
    assert client.post("/login", {"username": email, "password": STRONG_PASSWORD}).status_code == 302
    assert client.get("/").status_code == 200


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("users", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text(NEW_PASSWORD + "\n")
    return path


@pytest.mark.django_db
def test_create_reads_the_password_from_a_file_and_is_audited(password_file: Path) -> None:
    output = run(
        "create", "--email", "Grace@Example.com", "--first", "Grace", "--last", "Hopper",
        "--password-file", str(password_file),
    )  # fmt: skip
    assert output == "Created standard user grace@example.com.\n"
    user = User.objects.with_email("grace@example.com").get()
    assert user.check_password(NEW_PASSWORD), "the file's trailing newline is not part of the password"
    assert not user.is_staff
    [event] = AuditEvent.objects.filter(action="user.created")
    assert event.actor_type == "system" and event.actor_label.startswith("cli:")


@pytest.mark.django_db
def test_create_staff_from_standard_input(monkeypatch: Any) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(NEW_PASSWORD))
    run(
        "create",
        "--email",
        "ops@example.com",
        "--first",
        "Ops",
        "--last",
        "Team",
        "--staff",
        "--password-file",
        "-",
    )
    assert User.objects.with_email("ops@example.com").get().is_staff


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("first", "last", "email", "words"),
    [
        ("G", "Hopper", "grace@example.com", "First name must be at least 2 letters"),
        ("Grace", "H0pper", "grace@example.com", "Last name may contain letters only"),
        ("Grace", "Hopper", "grace@", "Email is not a valid email address"),
    ],
)
def test_create_refuses_bad_details_naming_the_field(
    password_file: Path, first: str, last: str, email: str, words: str
) -> None:
    with pytest.raises(CommandError, match=words):
        run(
            "create",
            "--email",
            email,
            "--first",
            first,
            "--last",
            last,
            "--password-file",
            str(password_file),
        )
    assert not User.objects.exists()


@pytest.mark.django_db
def test_create_refuses_a_weak_password_and_needs_one_from_somewhere(
    tmp_path: Path, monkeypatch: Any
) -> None:
    weak = tmp_path / "weak"
    weak.write_text("password1234")
    with pytest.raises(CommandError, match="Password: This password is too common"):
        run(
            "create",
            "--email",
            "g@example.com",
            "--first",
            "Grace",
            "--last",
            "Hopper",
            "--password-file",
            str(weak),
        )
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="--password-file: required when not run at a terminal"):
        run("create", "--email", "g@example.com", "--first", "Grace", "--last", "Hopper")
    with pytest.raises(CommandError, match="cannot read"):
        run(
            "create",
            "--email",
            "g@example.com",
            "--first",
            "Grace",
            "--last",
            "Hopper",
            "--password-file",
            "/nope",
        )
    assert not User.objects.exists()


@pytest.mark.django_db
def test_list_shows_every_user_with_status() -> None:
    make_user("ada@example.com")
    services.user_disable(actor=None, user=make_user("bob@example.com", first="Bob", last="Smith"))
    lines = run("list").splitlines()
    assert lines[0].split() == ["EMAIL", "NAME", "TYPE", "STATUS", "MFA", "LAST", "LOGIN"]
    assert lines[1].split() == ["ada@example.com", "Ada", "Lovelace", "standard", "active", "off", "never"]
    assert lines[2].split() == ["bob@example.com", "Bob", "Smith", "standard", "disabled", "off", "never"]


@pytest.mark.django_db
def test_disable_ends_sessions_and_stops_tokens_without_revoking_them() -> None:
    ada = make_user("ada@example.com")
    browsers = [https_client(), https_client()]
    for browser in browsers:
        sign_in(browser, ada.email)
    token, secret = tokens.token_create(actor=ada, name="ci", expires_in_days=5)
    api = https_client()

    output = run("disable", "ADA@example.com")

    assert "ended 2 session(s)" in output
    for browser in browsers:
        assert browser.get("/").status_code == 302
    assert not UserSession.objects.filter(user=ada).exists()
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    token.refresh_from_db()
    assert token.revoked_at is None
    assert AuditEvent.objects.filter(action="user.disabled").count() == 1
    assert (
        https_client().post("/login", {"username": ada.email, "password": STRONG_PASSWORD}).status_code == 200
    )

    with pytest.raises(CommandError, match="already disabled"):
        run("disable", ada.email)
    with pytest.raises(CommandError, match="no user has the address"):
        run("disable", "nobody@example.com")

    run("enable", ada.email)
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    assert AuditEvent.objects.filter(action="user.enabled").count() == 1


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_the_real_command_fails_with_one_line_and_takes_no_password_argument(
    transactional_db: Any, password_file: Path
) -> None:
    env = process_env()
    base = causeway_command("users")
    bad = subprocess.run(
        [*base, "create", "--email", "g@example.com", "--first", "Gr4ce", "--last", "Hopper",
         "--password-file", str(password_file)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines() == [
        "CommandError: First name may contain letters only (no digits, spaces or symbols)."
    ]
    refused = subprocess.run(
        [*base, "create", "--email", "g@example.com", "--first", "Grace", "--last", "Hopper",
         "--password", NEW_PASSWORD],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "unrecognized arguments: --password" in refused.stderr
    assert not User.objects.exists()
    good = subprocess.run(
        [*base, "create", "--email", "g@example.com", "--first", "Grace", "--last", "Hopper",
         "--password-file", str(password_file)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert User.objects.with_email("g@example.com").get().check_password(NEW_PASSWORD)
