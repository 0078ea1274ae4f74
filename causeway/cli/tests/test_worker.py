"""A real `causeway worker` takes a real task from the configured broker (embedded SQLite or Redis)."""

from __future__ import annotations

import re
import secrets
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from kombu import Connection

from causeway.cli.tests.processes import causeway, run, wait_for
from testkit.support import ROOT, database_url, process_env

pytestmark = pytest.mark.server


@pytest.fixture
def test_env(transactional_db: None) -> dict[str, str]:
    """The environment of the test run: its database, its data directory and its broker setting.

    Asking for the database makes pytest-django create the test database even when no other test
    of the session needs one, so the worker never reaches the development database by mistake.
    """
    return process_env(CAUSEWAY_DATABASE_URL=database_url())


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.name = f"probe-{secrets.token_hex(4)}@{socket.gethostname()}"
        self.log = log
        self._output = open(log, "w")  # closed in stop()
        self.process = subprocess.Popen(
            causeway("worker", "--hostname", self.name),
            env=env,
            cwd=ROOT,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._output.close()


@pytest.fixture
def worker(test_env: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    running = Worker(test_env, tmp_path / "worker.log")
    yield running
    running.stop()


def test_probe_without_a_worker_fails_with_one_line(test_env: dict[str, str]) -> None:
    result = run(causeway("worker", "--probe", "--timeout", "3"), test_env)
    assert result.returncode == 1
    assert result.stderr == "causeway: no worker answered the health probe within 3 s\n"


def test_worker_takes_a_real_task_from_the_configured_broker(
    worker: Worker, test_env: dict[str, str]
) -> None:
    from django.db import connection

    result = run(causeway("worker", "--probe", "--timeout", "90"), test_env)
    assert result.returncode == 0, result.stderr + worker.output()
    answer = re.fullmatch(
        r"Worker (\S+) answered health probe ([0-9a-f]{16}) \(database: (\w+)\)\.\n", result.stdout
    )
    assert answer, result.stdout
    assert answer.group(1) == worker.name
    assert answer.group(3) == connection.vendor
    probe_id = answer.group(2)

    # The worker's own log tells the same story, and names the broker the settings chose.
    expected = f"health probe {probe_id} answered by {worker.name} (database: {connection.vendor})"
    wait_for(lambda: expected in worker.output(), seconds=30, what="the worker to log the probe")
    # Celery prints the broker's address with any password masked, as kombu writes it.
    assert f"transport:   {Connection(settings.CELERY_BROKER_URL).as_uri()}" in worker.output()
    assert f"concurrency: {settings.CELERY_WORKER_CONCURRENCY} (prefork)" in worker.output()

    assert worker.stop() == 0, worker.output()


def test_worker_concurrency_comes_from_the_setting(test_env: dict[str, str], tmp_path: Path) -> None:
    env = {**test_env, "CAUSEWAY_WORKER_CONCURRENCY": "3"}
    started = Worker(env, tmp_path / "worker.log")
    try:
        wait_for(
            lambda: "ready." in started.output() or started.process.poll() is not None,
            seconds=90,
            what="the worker to start",
        )
        assert "concurrency: 3 (prefork)" in started.output()
    finally:
        assert started.stop() == 0, started.output()
