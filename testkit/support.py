"""Test support, loaded as a pytest plugin before Django starts: data directory, personas, fixtures.

Test processes run side by side (pytest-xdist workers gw0, gw1, ...). Each has what a Causeway
installation has, of its own: a data directory below the run's (root key, certificate, SQLite
database and embedded broker, mail, logs), a test database (pytest-django names it per worker), and
on Redis a key prefix under which every key and channel it keeps there lives (the broker's, the
refusal counts). The Causeway processes a
test starts inherit all three, so they never meet another worker's data or take its jobs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from testkit import STRONG_PASSWORD  # noqa: F401  (the tests import it from here)

ROOT = Path(__file__).resolve().parents[1]
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
    settings.PASSWORD_HASHERS = ["testkit.hashers.CheapArgon2PasswordHasher"]
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


# The tests whose calls coverage measures (`--cov`): those of the policy and the cryptography, and the
# security suites that drive them. The floors in the Makefile concern only `causeway/access` and
# `causeway/vault`, and these tests alone reach them; tracing every other test's call cost the run a
# large share of its time for lines these already cover.
COVERED_TESTS = (
    "causeway/access/",
    "causeway/vault/",
    # The audit chain's MACs and the certificates of the outbound tests' own TLS servers.
    "causeway/audit/tests/",
    "causeway/connections/tests/test_outbound.py",
    "causeway/tests/test_vault_audit.py",
    "causeway/tests/test_rule_10_sealed_profiles_tokens_invitations_audit.py",
    "causeway/tests/test_access_rules.py",
    "causeway/tests/test_permission_matrix.py",
    "causeway/tests/test_rule_02_no_escalation.py",
    "causeway/tests/test_rule_02_policy_model.py",
    "causeway/tests/test_default_deny.py",
    # A workspace's second-factor requirement and step-up are enforced by the policy and the routes.
    "causeway/tests/test_mfa.py",
    "causeway/tests/test_step_up.py",
    # Which groups a sign-in places a person in is decided by the access app's group mappings.
    "causeway/tests/test_group_mappings.py",
)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    """Modules with a test that starts real processes or a browser run first, each kept whole.

    They are the longest tests. Sent out first, one or two at a time (`--maxschedchunk=1` in the
    Makefile), they spread over the test processes and overlap with the many short tests; left where
    they fall, one of them can start last and keep one process busy alone while the others have
    finished. pytest-django sorts after this, keeping this order within each of its kinds (tests in a
    rolled-back transaction, then tests that commit, then tests without a database), so no test that
    expects the migrated data runs after a test that emptied the database.
    """
    slow = {
        item.nodeid.split("::", 1)[0]
        for item in items
        if item.get_closest_marker("server") or item.get_closest_marker("browser")
    }
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in slow)
    if config.pluginmanager.hasplugin("_cov"):
        for item in items:
            if not item.nodeid.startswith(COVERED_TESTS):
                item.add_marker("no_cover")
    yield


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


def commits_without_waiting_for_the_disk() -> None:
    """On PostgreSQL, the test database's commits return without waiting for its WAL to reach the disk.

    `synchronous_commit = off` for the test database (every later connection, the Causeway processes a
    test starts too) and for the connection already open. A commit is still atomic and seen by every
    other connection at once; only a crash of the PostgreSQL server itself could lose the last ones,
    which a test database can afford. On this machine a commit took 6 to 8 ms waiting for the disk, 0.15
    without. SQLite needs nothing: its WAL with `synchronous=NORMAL` waits for the disk only at
    checkpoints.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    name = connection.ops.quote_name(connection.settings_dict["NAME"])
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
        cursor.execute("SET synchronous_commit = off")


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
    _empty_the_broker()
    yield
    _keep_platform_keysets()
    with connection.cursor() as cursor:
        for statement in drop_sql(connection.vendor):
            cursor.execute(statement)


def _empty_the_broker() -> None:
    """Drop the messages earlier tests left in this test process's broker queue.

    A test that makes jobs without a worker to take them (running them here, or not at all) leaves
    their messages behind; the rows they name are gone with that test's data. A worker started by a
    later test would take all of them, oldest first, before its own test's jobs.
    """
    from causeway.celery import app

    app.control.purge()


def make_user(email: str, *, staff: bool = False, first: str = "Ada", last: str = "Lovelace") -> Any:
    """A person (see `testkit.factories.UserFactory`)."""
    from testkit.factories import UserFactory

    return UserFactory.create(email=email, staff=staff, first_name=first, last_name=last)


def make_workspace(name: str, *, members: dict[Any, str] | None = None) -> Any:
    """A workspace, each of `members` given the system role named (see `WorkspaceFactory`)."""
    from testkit.factories import WorkspaceFactory

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


def causeway_command(*args: str) -> list[str]:
    """The command line of a `causeway` process a test starts: `python -m causeway` and the arguments.

    A command that runs Django's system checks as it starts is given `--skip-checks` (right after its
    name, where a command with subcommands takes it too). The checks load every URL pattern and so the
    whole API: 1.5 of the 2.6 CPU-seconds of a `causeway audit verify`. `make test` runs the same checks
    once (`causeway check`), as it does for the workers and beats the tests start (`process_env`).
    """
    import sys

    from django.core.management import get_commands, load_command_class

    app = get_commands().get(args[0]) if args else None
    if app is not None and load_command_class(app, args[0]).requires_system_checks:
        args = (args[0], "--skip-checks", *args[1:])
    return [sys.executable, "-m", "causeway", *args]


def run_causeway(*args: str, **env: str) -> Any:
    """Run a `causeway` command to its end, as an operator would, against this test's database; its
    exit code and output (a `subprocess.CompletedProcess`), whatever they are."""
    import subprocess

    return subprocess.run(
        causeway_command(*args),
        cwd=ROOT,
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def process_env(**extra: str) -> dict[str, str]:
    """The environment for a Causeway process started by a test: same data directory, same database."""
    env = dict(os.environ)
    env.update(
        {
            "CAUSEWAY_HOME": str(TEST_HOME),
            "CAUSEWAY_DATABASE_URL": database_url(),
            "PYTHONPATH": str(ROOT),
            # Celery runs Django's system checks as a worker or beat starts, which loads every URL
            # pattern and so the whole API: more than half of a start's CPU. `make test` runs the same
            # checks once (`causeway check`); the processes a test starts skip them.
            "CELERY_SKIP_CHECKS": "1",
            # The tests' identity providers run over http on 127.0.0.1 (docs/sso.md).
            "CAUSEWAY_SSO_LOOPBACK_HTTP": "on",
        }
    )
    env.update(extra)
    return env


# The Causeway processes (and web servers) started since the current test began: a poll that gives up
# shows the end of each one's log.
_STARTED: list[Any] = []


@pytest.fixture(autouse=True)
def _processes_of_this_test() -> Iterator[None]:
    _STARTED.clear()
    yield
    _STARTED.clear()


class RunningServer:
    def __init__(self, url: str, process: Any, log_path: Path) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path
        _STARTED.append(self)

    def tail(self, lines: int = 25) -> str:
        return _log_tail(f"causeway web at {self.url}", self.process, self.log_path, lines)


def _log_tail(name: str, process: Any, log_path: Path, lines: int) -> str:
    """Whether the process runs (or how it ended), and the last lines of its log."""
    code = process.poll()
    state = "running" if code is None else f"exited with {code}"
    last = log_path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join([f"--- {name} (pid {process.pid}, {state}), last lines:", *last])


# gunicorn's line when another process holds the address it was asked to bind.
_ADDRESS_TAKEN = "Connection in use"


def _start_web(env: dict[str, str], *, tries: int = 5, host: str = "127.0.0.1") -> tuple[RunningServer, Any]:
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
        url = f"https://{host}:{port}"
        log_path = TEST_HOME / f"web-{port}.log"
        log = open(log_path, "w")  # closed when the server stops
        process = subprocess.Popen(
            [sys.executable, "-m", "causeway", "web", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=ROOT,
            env={
                **env,
                "CAUSEWAY_CSRF_TRUSTED_ORIGINS": url,
                **({"CAUSEWAY_BASE_URL": url} if host != "127.0.0.1" else {}),
            },
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
            # As long as `wait_started` allows a process: a start on a loaded machine is slow, not stuck.
            outcome = poll_until(state, seconds=120, what="causeway web to answer /health")
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
    stop_server(server, log)


@pytest.fixture(scope="session")
def localhost_server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[RunningServer]:
    """As `https_server`, reached as https://localhost:PORT, its base URL: a browser takes a host name,
    not an address, as a passkey's relying party."""
    with django_db_blocker.unblock():
        env = process_env()
    server, log = _start_web(env, host="localhost")
    yield server
    stop_server(server, log)


def stop_server(server: RunningServer, log: Any, timeout: float = 60) -> None:
    """SIGTERM, a bounded wait (a loaded machine may take a while to shut gunicorn down), then SIGKILL."""
    import subprocess

    server.process.terminate()
    try:
        server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=30)
    log.close()


def poll_until(condition: Any, *, seconds: float, what: str, interval: float = 0.1, saw: Any = None) -> Any:
    """The condition's first true value, polled until a deadline; AssertionError naming `what` after it.

    The error says what the test could see when it gave up, so that a failure explains itself: `saw` (a
    callable: the jobs' rows with `jobs_seen`, the broker with `broker_seen`), then whether each process
    the test started still runs and the last lines of its log.
    """
    import time

    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"gave up after {seconds:g} s waiting for {what}{_seen(saw)}{_seen(_started_seen)}"
            )
        time.sleep(interval)


def _seen(saw: Any) -> str:
    if saw is None:
        return ""
    try:
        return "\n" + str(saw())
    except Exception as exc:  # what went wrong while looking must not hide the failure itself
        return f"\n(could not say what was seen: {type(exc).__name__}: {exc})"


def jobs_seen(job_ids: Any) -> str:
    """One line per job: status, attempts, what it waits for, its lease and its failure, as the row says."""
    from django.utils import timezone

    from causeway.runs.models import Job

    ids = [getattr(job, "pk", job) for job in job_ids]
    now = timezone.now()
    lines = [f"jobs at {now:%H:%M:%S.%f} UTC:"]
    for job in Job.objects.filter(pk__in=ids).order_by("created_at"):
        lease = ""
        if job.lease_expires_at is not None:
            lease = f" lease {job.lease_owner} for {(job.lease_expires_at - now).total_seconds():.1f} s more"
        lines.append(
            f"  {job.pk} {job.status} attempts={job.attempts}{lease}"
            f" dispatched={job.dispatched_at and f'{job.dispatched_at:%H:%M:%S.%f}'}"
            f" started={job.started_at and f'{job.started_at:%H:%M:%S.%f}'}"
            f" finished={job.finished_at and f'{job.finished_at:%H:%M:%S.%f}'}"
            f" waiting_for={job.waiting_for!r} error={job.error!r}"
        )
    missing = len(ids) - (len(lines) - 1)
    if missing:
        lines.append(f"  ({missing} of the jobs have no row)")
    return "\n".join(lines)


def broker_seen() -> str:
    """How many messages wait in the broker's queue, and (embedded broker) how many were taken unacked."""
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if url.startswith("sqla+sqlite:///"):
        import sqlite3

        path = url.removeprefix("sqla+sqlite:///")
        if not Path(path).exists():
            return "broker: no file yet (nothing was ever sent)"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as broker:
            counts = dict(broker.execute("SELECT visible, count(*) FROM kombu_message GROUP BY visible"))
        waiting, delivered = counts.get(1, 0), counts.get(0, 0)
        return f"broker: {waiting} messages waiting, {delivered} delivered (kept until purged)"
    import redis

    with redis.Redis.from_url(url) as kept:
        waiting = kept.llen(f"{settings.REDIS_KEY_PREFIX}celery")
        unacked = kept.hlen(f"{settings.REDIS_KEY_PREFIX}unacked")
    return f"broker: {waiting} messages waiting, {unacked} delivered and not acknowledged"


def processes_seen(*processes: Any, lines: int = 25) -> str:
    """Each process: alive or how it ended, and the last lines of its log."""
    return "\n".join(process.tail(lines) for process in processes)


def _started_seen() -> str:
    return processes_seen(*_STARTED)


class CausewayProcess:
    """A `causeway` command run as a real process, leading its own process group, its output in a file."""

    # The line its log shows once it is ready (see `wait_started`).
    ready_line = ""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        import subprocess

        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "w")  # closed in stop() or kill_group()
        self.process = subprocess.Popen(
            causeway_command(*args),
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _STARTED.append(self)

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 25) -> str:
        return _log_tail(f"causeway {' '.join(self.args)}", self.process, self.log_path, lines)

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

        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        return self._ended(timeout)

    def _ended(self, timeout: float) -> int | None:
        """A bounded wait for a process told to stop, then SIGKILL to whatever is left of the group."""
        import signal
        import subprocess

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


def stop_together(*processes: CausewayProcess) -> None:
    """End the processes a test is done with: each group killed at once, then each reaped.

    A graceful stop costs a worker 7 to 10 s on a loaded machine (2 to 5 s for beat), paid at the end of
    every process test. Causeway is built to survive a process killed at any moment (rule 15), and
    `causeway/cli/tests/test_worker.py` checks the graceful stop itself.
    """
    for process in processes:
        process.kill_group()


def launch_worker(env: dict[str, str], log_dir: Path, *, name: str = "") -> CausewayProcess:
    """A real `causeway worker`, starting (see `wait_started`)."""
    import secrets
    import socket

    hostname = name or f"test-{secrets.token_hex(4)}@{socket.gethostname()}"
    worker = CausewayProcess(
        ["worker", "--hostname", hostname], env, log_dir / f"worker-{hostname.split('@')[0]}.log"
    )
    # Its pool started and the broker reached.
    worker.ready_line = " ready."
    return worker


def launch_beat(env: dict[str, str], log_dir: Path) -> CausewayProcess:
    """A real `causeway beat`, starting (see `wait_started`)."""
    beat = CausewayProcess(["beat"], env, log_dir / "beat.log")
    # Sending its first tasks.
    beat.ready_line = "Sending due task"
    return beat


def wait_started(*processes: CausewayProcess, seconds: float | None = None) -> None:
    """Wait until every process launched together is ready; if one is not, stop them all and say why.

    Processes start side by side: on two cores, most of a start is importing, which overlaps. The bound
    (by default 120 s for each process started) is for a machine busy with other work as well, where a
    start's two CPU-seconds can take ten times as long; a process that dies ends the wait at once.
    """
    seconds = 120.0 * len(processes) if seconds is None else seconds
    try:
        poll_until(
            lambda: (
                all(p.ready_line in p.output() for p in processes) or not all(p.alive() for p in processes)
            ),
            seconds=seconds,
            what=f"{len(processes)} Causeway process(es) to start",
        )
        gone = [p for p in processes if not p.alive()]
        if gone:
            raise RuntimeError(f"a Causeway process did not start:\n{processes_seen(*gone, lines=60)}")
    except BaseException:
        stop_together(*processes)
        raise


def start_worker(env: dict[str, str], log_dir: Path, *, name: str = "") -> CausewayProcess:
    """A real `causeway worker`, ready (its pool started and the broker reached) when this returns."""
    worker = launch_worker(env, log_dir, name=name)
    wait_started(worker)
    return worker


def start_beat(env: dict[str, str], log_dir: Path) -> CausewayProcess:
    """A real `causeway beat`, sending its first tasks when this returns."""
    beat = launch_beat(env, log_dir)
    wait_started(beat)
    return beat


def field_errors(html: str, field: str, ids: str = "id_%s") -> list[str]:
    """The errors a page shows next to one form field: the list Django ties to the field by id."""
    match = re.search(rf'<ul class="errorlist" id="{re.escape(ids % field)}_error">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", match.group(1), re.S) if match else []


@contextlib.contextmanager
def clear_of_a_day_end(seconds: float) -> Iterator[None]:
    """Run the block at least `seconds` before the end of the UTC day, the clock ticking on.

    Rate budgets count in periods aligned on the epoch, so a day-long period ends at midnight UTC: a test
    that needs a wait longer than a job's time limit would otherwise see a short one near midnight. When
    the day ends too soon the clock moves on to just after midnight, a few minutes at most.
    """
    import time_machine
    from django.utils import timezone

    now = timezone.now()
    left = 86_400 - now.timestamp() % 86_400
    start = now if left > seconds else now + timedelta(seconds=left + 1)
    with time_machine.travel(start, tick=True):
        yield
