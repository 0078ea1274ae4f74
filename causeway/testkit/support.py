"""Test support, loaded as a pytest plugin before Django starts: data directory, personas, fixtures.

Test processes run side by side (pytest-xdist workers gw0, gw1, ...). Each has what a Causeway
installation has, of its own: a data directory below the run's (root key, certificate, SQLite
database and embedded broker, mail, logs), a test database (pytest-django names it per worker), and
on Redis a key prefix under which every key and channel it keeps there lives (the broker's, the
refusal counts). The Causeway processes a
test starts inherit all three, so they never meet another worker's data or take its jobs.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from causeway.testkit import STRONG_PASSWORD  # noqa: F401  (the tests import it from here)

ROOT = Path(__file__).resolve().parents[2]
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
RUN_HOME = Path(os.environ.setdefault("CAUSEWAY_HOME", str(ROOT / "var" / "test")))
TEST_HOME = RUN_HOME / WORKER if WORKER else RUN_HOME
os.environ["CAUSEWAY_HOME"] = str(TEST_HOME)
os.environ["CAUSEWAY_AUDIT_CHECKPOINT_FILE"] = str(TEST_HOME / "audit-checkpoints.jsonl")
# New for every run, so a message a stopped run left behind is never taken by a later one.
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
REDIS_KEY_PREFIX = f"causeway-test-{_RUN_ID[:12]}-{WORKER or 'main'}:"
os.environ["CAUSEWAY_REDIS_KEY_PREFIX"] = REDIS_KEY_PREFIX


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """The data directory's keys and certificate, before Django reads its settings.

    Here rather than on import: pytest-cov starts measuring in its own (earlier) hook of this name, so
    the vault modules this imports are measured from their first line.
    """
    from causeway.bootstrap import prepare_home

    prepare_home()


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # Argon2 at its cheapest cost: each hash carries its parameters, so real server processes
    # (default cost) verify these passwords as they would any other.
    settings.PASSWORD_HASHERS = ["causeway.testkit.hashers.CheapArgon2PasswordHasher"]
    # kombu's SQLAlchemy transport (the embedded broker) still asks SQLAlchemy 2.1 for a deprecated
    # loader strategy when a test process hands a job to it; the warning is theirs, not ours.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning",
    )
    (TEST_HOME / "audit-checkpoints.jsonl").unlink(missing_ok=True)
    shutil.rmtree(TEST_HOME / "mail", ignore_errors=True)
    for old_log in TEST_HOME.glob("web-*.log"):
        old_log.unlink()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On Redis, this process's keys go with it (a reply queue, a job a test left unrun, counts)."""
    import redis
    from django.conf import settings

    for url in {settings.CELERY_BROKER_URL, settings.CACHE_URL}:
        if url.startswith(("redis://", "rediss://")):
            with redis.Redis.from_url(url) as kept:
                for key in kept.scan_iter(match=f"{REDIS_KEY_PREFIX}*"):
                    kept.delete(key)


def https_client(**defaults: Any) -> Any:
    """Django's test client, speaking HTTPS as every real client of Causeway does."""
    from django.test import Client

    class HttpsClient(Client):
        def generic(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            kwargs["secure"] = True
            return super().generic(method, path, *args, **kwargs)

    return HttpsClient(HTTP_USER_AGENT="pytest", **defaults)


@pytest.fixture
def client() -> Any:
    return https_client()


def migrate_database(targets: list[tuple[str, str]] | None = None) -> Any:
    """Migrate the test database to targets (None: the latest) and return the apps of that state."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from causeway.vault.keysets import forget_cached_keysets

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    forget_cached_keysets()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def latest_afterwards() -> Iterator[None]:
    """For a test that migrates the database back: forward to the latest again afterwards."""
    yield
    migrate_database()


@pytest.fixture(autouse=True)
def _fresh_key_caches() -> Iterator[None]:
    """Keysets cached by one test may have been rolled back or flushed away by the next."""
    from causeway.vault.keysets import forget_cached_keysets

    forget_cached_keysets()
    yield
    forget_cached_keysets()


@pytest.fixture(autouse=True)
def _fresh_refusal_counts() -> Iterator[None]:
    """Every test starts with no refused calls counted against any address.

    Counts kept in the database go with each test's data; counts kept in Redis outlive it.
    """
    from causeway.audit.refusals import counts_forget_all, counts_in_database

    if not counts_in_database():
        counts_forget_all()
    yield


def _commits_for_real(request: pytest.FixtureRequest) -> bool:
    if {"transactional_db", "live_server"} & set(request.fixturenames):
        return True
    marker = request.node.get_closest_marker("django_db")
    return bool(marker and (marker.kwargs.get("transaction") or marker.args[:1] == (True,)))


# The platform's AEAD and blind-index keysets as the last committed test left them (see below).
_kept_keysets: list[tuple[str, bytes]] = []


def _keep_platform_keysets() -> None:
    from causeway.vault.keysets import BLIND_INDEX_PURPOSE, PLATFORM_PURPOSE
    from causeway.vault.models import WrappedKeyset

    rows = WrappedKeyset.objects.filter(
        purpose__in=(PLATFORM_PURPOSE, BLIND_INDEX_PURPOSE), workspace_id__isnull=True
    ).values_list("purpose", "wrapped")
    _kept_keysets[:] = [(purpose, bytes(wrapped)) for purpose, wrapped in rows]


def _restore_platform_keysets() -> None:
    """Write back the platform keysets the emptying deleted.

    A Causeway process that outlives one test (the https_server) caches keysets for a few seconds, as
    in production, where keysets are never deleted. Were the emptying to delete them, this process
    would make new ones that the server's cache does not know: the email index of a user made here
    would not match the one the server computes at sign-in. Keysets wrapped by a root key a test made
    for itself are left out.
    """
    from causeway.vault import keysets
    from causeway.vault.models import WrappedKeyset
    from causeway.vault.rootkey import RootKeyError, current_root_key

    root = current_root_key()
    for purpose, wrapped in _kept_keysets:
        if WrappedKeyset.objects.filter(purpose=purpose, workspace_id__isnull=True).exists():
            continue
        try:
            keysets.unwrap(root, purpose, None, wrapped)
        except RootKeyError:
            continue
        WrappedKeyset.objects.create(purpose=purpose, workspace_id=None, wrapped=wrapped)


@pytest.fixture(autouse=True)
def _committed_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests that commit for real get a database as migrations leave it, and can empty it afterwards.

    Emptying removes the seeded system roles, so they are written again before each such test;
    the append-only audit triggers are switched off only for the emptying that follows it. The
    platform keysets are written back too (`_restore_platform_keysets`).
    """
    if not _commits_for_real(request):
        yield
        return
    from django.db import connection

    from causeway.access.seed import ensure_system_roles
    from causeway.audit.triggers import drop_sql, enable

    request.getfixturevalue("transactional_db")
    enable()
    ensure_system_roles()
    _restore_platform_keysets()
    yield
    _keep_platform_keysets()
    with connection.cursor() as cursor:
        for statement in drop_sql(connection.vendor):
            cursor.execute(statement)


def make_user(email: str, *, staff: bool = False, first: str = "Ada", last: str = "Lovelace") -> Any:
    """A person (see `causeway.testkit.factories.UserFactory`)."""
    from causeway.testkit.factories import UserFactory

    return UserFactory.create(email=email, staff=staff, first_name=first, last_name=last)


def make_workspace(name: str, *, members: dict[Any, str] | None = None) -> Any:
    """A workspace, each of `members` given the system role named (see `WorkspaceFactory`)."""
    from causeway.testkit.factories import WorkspaceFactory

    return WorkspaceFactory.create(name=name, members=members or {})


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url() -> str:
    """The URL of the database the tests are using, for Causeway processes started by a test."""
    from django.db import connection

    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    auth = config["USER"] + (f":{config['PASSWORD']}" if config["PASSWORD"] else "")
    return f"postgresql://{auth}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{config['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    """The environment for a Causeway process started by a test: same data directory, same database."""
    env = dict(os.environ)
    env.update(
        {
            "CAUSEWAY_HOME": str(TEST_HOME),
            "CAUSEWAY_DATABASE_URL": database_url(),
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


class RunningServer:
    def __init__(self, url: str, process: Any, log_path: Path) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path


# gunicorn's line when another process holds the address it was asked to bind.
_ADDRESS_TAKEN = "Connection in use"


def _start_web(env: dict[str, str], *, tries: int = 5) -> tuple[RunningServer, Any]:
    """A `causeway web` over HTTPS on a free port, answering /health; with its open log file.

    A port free when chosen can be taken before the server binds it (by another test process that
    chose the same one, or by an outgoing connection); the server then starts again on another port.
    Readiness is checked against this data directory's own certificate, so a server of another test
    process that holds the port is never mistaken for this one.
    """
    import ssl
    import subprocess
    import sys

    import httpx

    trust = ssl.create_default_context(cafile=str(TEST_HOME / "tls" / "localhost.crt"))

    for _ in range(tries):
        port = free_port()
        url = f"https://127.0.0.1:{port}"
        log_path = TEST_HOME / f"web-{port}.log"
        log = open(log_path, "w")  # closed when the server stops
        process = subprocess.Popen(
            [sys.executable, "-m", "causeway", "web", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=ROOT,
            env={**env, "CAUSEWAY_CSRF_TRUSTED_ORIGINS": url},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def state(process: Any = process, url: str = url, log_path: Path = log_path) -> str:
            if _ADDRESS_TAKEN in log_path.read_text(errors="replace"):
                return "taken"
            if process.poll() is not None:
                return "exited"
            try:
                answer = httpx.get(f"{url}/health", verify=trust, timeout=2)
            except httpx.TransportError:
                return ""
            return "ready" if answer.status_code == 200 else ""

        try:
            outcome = poll_until(state, seconds=60, what="causeway web to answer /health")
        except AssertionError:
            outcome = "slow"
        if outcome == "ready":
            return RunningServer(url, process, log_path), log
        process.kill()
        process.wait(timeout=30)
        log.close()
        if outcome != "taken":
            raise RuntimeError(f"causeway web did not start ({outcome}); see {log_path}")
    raise RuntimeError(f"causeway web found no free port in {tries} tries")


@pytest.fixture(scope="session")
def https_server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[RunningServer]:
    """A real `causeway web` process over HTTPS on a free port, sharing this test process's database.

    Tests that use it need `transactional_db`, so what they write is committed and visible to it.
    """
    with django_db_blocker.unblock():
        env = process_env()
    server, log = _start_web(env)
    yield server
    server.process.terminate()
    server.process.wait(timeout=15)
    log.close()


def poll_until(condition: Any, *, seconds: float, what: str, interval: float = 0.1) -> Any:
    """The condition's first true value, polled until a deadline; AssertionError naming `what` after it."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds:g} s waiting for {what}")
        time.sleep(interval)


class CausewayProcess:
    """A `causeway` command run as a real process, leading its own process group, its output in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        import subprocess
        import sys

        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "w")  # closed in stop() or kill_group()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "causeway", *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def children(self) -> set[int]:
        """Process ids whose parent is this process (a worker's pool processes)."""
        return self.children_of(self.pid)

    @staticmethod
    def children_of(parent: int) -> set[int]:
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.add(int(stat.parent.name))
        return found

    def kill_group(self) -> None:
        """SIGKILL to the process and everything in its group, as a machine that loses power would."""
        import signal

        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self._log.close()

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM, a bounded wait, then SIGKILL to whatever is left of the group."""
        import signal
        import subprocess

        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self._log.close()
        return self.process.returncode


def start_worker(env: dict[str, str], log_dir: Path, *, name: str = "") -> CausewayProcess:
    """A real `causeway worker`, ready (its pool started and the broker reached) when this returns."""
    import secrets
    import socket

    hostname = name or f"test-{secrets.token_hex(4)}@{socket.gethostname()}"
    worker = CausewayProcess(
        ["worker", "--hostname", hostname], env, log_dir / f"worker-{hostname.split('@')[0]}.log"
    )
    try:
        poll_until(
            lambda: " ready." in worker.output() or not worker.alive(), seconds=90, what="the worker to start"
        )
    except AssertionError:
        worker.stop()
        raise
    if not worker.alive():
        raise RuntimeError(f"causeway worker did not start:\n{worker.output()}")
    return worker


def start_beat(env: dict[str, str], log_dir: Path) -> CausewayProcess:
    """A real `causeway beat`, sending its first tasks when this returns."""
    beat = CausewayProcess(["beat"], env, log_dir / "beat.log")
    try:
        poll_until(
            lambda: "Sending due task" in beat.output() or not beat.alive(),
            seconds=90,
            what="beat to send its first task",
        )
    except AssertionError:
        beat.stop()
        raise
    if not beat.alive():
        raise RuntimeError(f"causeway beat did not start:\n{beat.output()}")
    return beat


def field_errors(html: str, field: str, ids: str = "id_%s") -> list[str]:
    """The errors a page shows next to one form field: the list Django ties to the field by id."""
    match = re.search(rf'<ul class="errorlist" id="{re.escape(ids % field)}_error">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", match.group(1), re.S) if match else []
