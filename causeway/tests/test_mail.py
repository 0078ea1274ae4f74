"""Causeway's own email: the outbox of the embedded default and `causeway mail`, delivery to a real SMTP
server (aiosmtpd, started here) over STARTTLS and implicit TLS, CAUSEWAY_SMTP_URL refused by name when
malformed, and the notice of a sign-in from a browser and address not seen before."""

from __future__ import annotations

import io
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import override_settings

from causeway import mail
from causeway.config import SmtpSettings, smtp_from_url
from causeway.connections.tests.mail import MailServer, mail_server
from testkit.support import STRONG_PASSWORD, https_client, make_user

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SMTP_PASSWORD = "smtp-relay-canary-51c2"


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "mail"
    with override_settings(EMAIL_BACKEND="causeway.mail.OutboxBackend", EMAIL_FILE_PATH=folder):
        yield folder


def command(*args: str) -> str:
    out = io.StringIO()
    call_command("mail", *args, stdout=out)
    return out.getvalue()


def test_the_outbox_keeps_one_private_file_per_message_that_causeway_mail_lists_and_shows(
    outbox: Path,
) -> None:
    assert "is empty" in command("list")
    assert mail.deliver(to="ada@example.com", subject="First", body="One line.\n")
    assert mail.deliver(to="bob@example.com", subject="Second", body="Two lines.\nAnd this.\n")
    files = sorted(outbox.iterdir())
    assert len(files) == 2
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files), "messages hold sign-in links"
    lines = command("list").splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("ada@example.com  First") and lines[1].endswith("bob@example.com  Second")
    shown = command("show", files[1].stem)
    assert "To: bob@example.com" in shown and "Subject: Second" in shown
    assert shown.endswith("Two lines.\nAnd this.\n")


@pytest.mark.parametrize("asked", ["20260101T000000.000000Z-00000000", "../../etc/passwd", "x"])
def test_showing_a_message_that_is_not_there_is_one_line(outbox: Path, asked: str) -> None:
    with pytest.raises(CommandError, match="ID: no message"):
        command("show", asked)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://relay.example.com", SmtpSettings("relay.example.com", 587, "", "", False, True)),
        (
            "smtps://mailer:p%40ss%2Fword@relay.example.com",
            SmtpSettings("relay.example.com", 465, "mailer", "p@ss/word", True, False),
        ),
        ("smtp://u:p@relay.example.com:2525", SmtpSettings("relay.example.com", 2525, "u", "p", False, True)),
        ("smtp://localhost:25?starttls=off", SmtpSettings("localhost", 25, "", "", False, False)),
    ],
)
def test_smtp_url_gives_the_server_port_credentials_and_tls(url: str, expected: SmtpSettings) -> None:
    assert smtp_from_url("CAUSEWAY_SMTP_URL", url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://relay.example.com", "expected an smtp:// or smtps:// URL"),
        ("smtp://", "names no host"),
        ("smtp://relay.example.com:99999", "Port out of range"),
        ("smtp://relay.example.com?tls=1", "unknown option 'tls'"),
        ("smtp://relay.example.com?starttls=maybe", "starttls must be on or off"),
        ("smtps://relay.example.com?starttls=on", "applies to smtp:// only"),
        ("smtp://relay.example.com?starttls=off", "only for a relay on this machine"),
    ],
)
def test_a_malformed_smtp_url_is_refused_by_name(url: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message) as refused:
        smtp_from_url("CAUSEWAY_SMTP_URL", url)
    assert str(refused.value).startswith("CAUSEWAY_SMTP_URL: ")


def _smtp_settings(server: MailServer, ca_file: Path | None, *, implicit: bool) -> Any:
    scheme = "smtps" if implicit else "smtp"
    parsed = smtp_from_url(
        "CAUSEWAY_SMTP_URL", f"{scheme}://{server.user}:{server.password}@localhost:{server.port}"
    )
    return override_settings(
        EMAIL_BACKEND="causeway.mail.SmtpBackend",
        EMAIL_HOST=parsed.host,
        EMAIL_PORT=parsed.port,
        EMAIL_HOST_USER=parsed.user,
        EMAIL_HOST_PASSWORD=parsed.password,
        EMAIL_USE_SSL=parsed.use_ssl,
        EMAIL_USE_TLS=parsed.use_tls,
        SMTP_CA_FILE=str(ca_file) if ca_file else "",
        EMAIL_TIMEOUT=10,
    )


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "smtps"])
def test_messages_go_to_a_real_smtp_server_over_tls_with_its_certificate_checked(
    tmp_path: Path, implicit: bool
) -> None:
    with mail_server(tmp_path, implicit_tls=implicit, password=SMTP_PASSWORD) as server:
        with _smtp_settings(server, tmp_path / "smtp.crt", implicit=implicit):
            assert mail.deliver(to="ada@example.com", subject="Hello", body="Over TLS.\n")
        [got] = server.delivered
        assert got.recipients == ["ada@example.com"]
        assert got.message["Subject"] == "Hello"
        assert server.logins == [(server.user, True)]


def test_a_server_whose_certificate_is_not_trusted_gets_nothing_and_the_failure_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with mail_server(tmp_path, password=SMTP_PASSWORD) as server:
        with _smtp_settings(server, None, implicit=False), caplog.at_level(logging.WARNING, "causeway.mail"):
            assert not mail.deliver(to="ada@example.com", subject="Hello", body="Refused.\n")
        assert server.delivered == [] and server.logins == []
    assert "could not be sent: SSLCertVerificationError" in caplog.text
    assert SMTP_PASSWORD not in caplog.text


def _sign_in(user_agent: str) -> None:
    response = https_client().post(
        "/login", {"username": "ada@example.com", "password": STRONG_PASSWORD}, HTTP_USER_AGENT=user_agent
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_a_sign_in_from_a_browser_not_seen_before_is_told_by_email(
    mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    make_user("ada@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        _sign_in(FIREFOX)
        assert mailoutbox == [], "the account's first sign-in is its owner's"
        _sign_in(FIREFOX)
        assert mailoutbox == [], "the same browser from the same address is known"
        _sign_in(CHROME)
    [notice] = mailoutbox
    assert notice.to == ["ada@example.com"]
    assert notice.subject == "New sign-in to your Causeway account"
    assert "Chrome on Windows, from 127.0.0.1" in notice.body
    assert "/profile/sessions" in notice.body


def test_the_default_backend_is_the_outbox_under_the_data_directory() -> None:
    # pytest-django swaps the backend for its in-memory one; the settings module's own choice is read here.
    import subprocess
    import sys

    from testkit.support import process_env

    env = process_env()
    env.pop("CAUSEWAY_EMAIL_BACKEND", None)
    env.pop("CAUSEWAY_SMTP_URL", None)
    shown = subprocess.run(
        [sys.executable, "-c", "import django;django.setup();from django.conf import settings as s;"
         "print(s.EMAIL_BACKEND, s.EMAIL_FILE_PATH == s.HOME / 'mail')"],
        env={**env, "DJANGO_SETTINGS_MODULE": "causeway.settings"},
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert shown.stdout.split() == ["causeway.mail.OutboxBackend", "True"]
    assert os.environ.get("CAUSEWAY_SMTP_URL") is None
