"""Start-up refusals: a bad root key or malformed setting stops each process in one line, writing nothing."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from causeway.bootstrap import prepare_home
from causeway.cli.tests.processes import causeway, own_environment, run, snapshot, staff_emails
from testkit.support import STRONG_PASSWORD, free_port

pytestmark = pytest.mark.server

PROCESSES = {
    "web": lambda: causeway("web", "--bind", f"127.0.0.1:{free_port()}", "--workers", "1"),
    "worker": lambda: causeway("worker"),
    "beat": lambda: causeway("beat"),
    # Without --bind, so that CAUSEWAY_WEB_BIND is what decides.
    "web-bound-by-setting": lambda: causeway("web", "--workers", "1"),
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data directory with a root key, a secret and a certificate, and nothing else."""
    home = tmp_path / "home"
    for name in [name for name in os.environ if name.startswith("CAUSEWAY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CAUSEWAY_HOME", str(home))
    prepare_home()
    yield home


def _break_root_key(key: Path, fault: str) -> None:
    if fault == "missing":
        key.unlink()
    elif fault == "not-a-keyset":
        key.write_text('{"primaryKeyId": 1, "key": []}')
    elif fault == "readable-by-others":
        key.chmod(0o644)


def assert_refused(
    result: subprocess.CompletedProcess[str],
    home: Path,
    before: dict[str, tuple[int, int, int]],
    setting: str,
) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"causeway: {setting}"), lines[0]
    assert snapshot(home) == before, "the refused process wrote to the data directory"


@pytest.mark.parametrize("fault", ["missing", "not-a-keyset", "readable-by-others"])
@pytest.mark.parametrize("process", ["web", "worker", "beat"])
def test_processes_refuse_a_bad_root_key_and_write_nothing(home: Path, process: str, fault: str) -> None:
    _break_root_key(home / "root-key.json", fault)
    before = snapshot(home)
    result = run(PROCESSES[process](), own_environment(home))
    assert_refused(result, home, before, "CAUSEWAY_ROOT_KEY_FILE")
    assert "Traceback" not in result.stderr
    # No database, no broker, no schedule: nothing was opened for writing.
    assert not (home / "causeway.sqlite3").exists()
    assert not (home / "broker.sqlite3").exists()
    assert not list(home.glob("beat-schedule*"))


MALFORMED = [
    ("web", "CAUSEWAY_DATABASE_URL", "mysql://x"),
    ("worker", "CAUSEWAY_DATABASE_URL", "not a url"),
    ("worker", "CAUSEWAY_BROKER_URL", "amqp://x"),
    ("beat", "CAUSEWAY_BROKER_URL", "memory://"),
    ("web", "CAUSEWAY_WEB_WORKERS", "lots"),
    ("web", "CAUSEWAY_WEB_WORKERS", "0"),
    ("worker", "CAUSEWAY_WORKER_CONCURRENCY", "many"),
    ("web-bound-by-setting", "CAUSEWAY_WEB_BIND", "nonsense"),
    ("web-bound-by-setting", "CAUSEWAY_WEB_BIND", "127.0.0.1:70000"),
    ("web-bound-by-setting", "CAUSEWAY_WEB_BIND", "[not-ipv6]:8443"),
    ("beat", "CAUSEWAY_SSL_REDIRECT", "maybe"),
    ("web", "CAUSEWAY_SECRET_KEY", "too-short"),
    ("worker", "CAUSEWAY_LOGIN_FAILURE_LIMIT", "0"),
    ("beat", "CAUSEWAY_AUDIT_CHECKPOINT_SECONDS", "1"),
    ("web", "CAUSEWAY_CSRF_TRUSTED_ORIGINS", "example.com"),
    ("worker", "CAUSEWAY_BASE_URL", "http://example.com"),
    ("web", "CAUSEWAY_EMAIL_BACKEND", "no.such.Backend"),
    ("beat", "CAUSEWAY_EMAIL_FROM", "nobody"),
    ("web", "CAUSEWAY_TLS_CERT", "/nonexistent/cert.pem"),
    ("worker", "CAUSEWAY_HOME", ""),
    ("web", "CAUSEWAY_SECRET_KEY_FILE", "/nonexistent/secret"),
]


@pytest.mark.parametrize(("process", "variable", "value"), MALFORMED, ids=lambda v: str(v) or "empty")
def test_malformed_setting_stops_start_up_with_one_line_naming_it(
    home: Path, process: str, variable: str, value: str
) -> None:
    before = snapshot(home)
    result = run(PROCESSES[process](), own_environment(home, **{variable: value}))
    assert_refused(result, home, before, variable)


def test_web_refuses_a_malformed_bind_option(home: Path) -> None:
    before = snapshot(home)
    result = run(causeway("web", "--bind", "localhost"), own_environment(home))
    assert_refused(result, home, before, "--bind: expected host:port, got 'localhost'")


def test_up_refuses_a_malformed_setting_before_preparing_anything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = run(causeway("up"), own_environment(home, CAUSEWAY_WEB_WORKERS="lots"))
    assert result.returncode == 2
    assert result.stderr == "causeway: CAUSEWAY_WEB_WORKERS: expected a whole number, got 'lots'\n"


def test_init_honours_the_chosen_staff_email_and_password(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = own_environment(
        home, CAUSEWAY_ADMIN_EMAIL="ops@example.com", CAUSEWAY_ADMIN_PASSWORD=STRONG_PASSWORD
    )
    first = run(causeway("init"), env)
    assert first.returncode == 0, first.stderr
    assert "Created staff user ops@example.com." in first.stdout
    assert "password" not in first.stdout.lower()
    assert STRONG_PASSWORD not in first.stdout + first.stderr
    assert staff_emails(home / "causeway.sqlite3") == ["ops@example.com"]
    again = run(causeway("init"), env)
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert staff_emails(home / "causeway.sqlite3") == ["ops@example.com"]


def test_init_refuses_a_weak_chosen_password_naming_the_variable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = run(causeway("init"), own_environment(home, CAUSEWAY_ADMIN_PASSWORD="tiny-Pw1"))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: CAUSEWAY_ADMIN_PASSWORD: Password: This password is too short")
    assert "tiny-Pw1" not in result.stdout + result.stderr
    assert staff_emails(home / "causeway.sqlite3") == []
