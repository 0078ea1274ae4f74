"""`causeway up` as a real process tree: first and later starts, SIGINT, SIGTERM, SIGHUP, a dying child."""

from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from causeway.cli.tests.processes import causeway, own_environment, staff_emails, wait_for
from testkit.support import ROOT, free_port

pytestmark = pytest.mark.server

# gunicorn's line when another process holds the address web was asked to bind.
ADDRESS_TAKEN = "Connection in use"
PASSWORD_LINE = re.compile(r"One-time password \(shown only now\): (\S+)")


def _children_by_parent() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name may hold spaces and parentheses; the parent id follows the last ")".
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        found.setdefault(parent, []).append(int(entry.name))
    return found


def descendants(pid: int) -> set[int]:
    tree = _children_by_parent()
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in tree.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def assert_all_gone(tree: set[int]) -> None:
    """Every process `causeway up` started has ended (or is a zombie left to init).

    The supervisor ends with SIGKILL to each child's process group; the kernel finishes a killed
    process a moment after the signal is sent, so a busy machine may still list it briefly.
    """
    wait_for(
        lambda: not [pid for pid in tree if alive(pid)],
        seconds=15,
        what=f"processes that outlived causeway up: {sorted(pid for pid in tree if alive(pid))}",
    )


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Up:
    """One `causeway up` process with its output in a file."""

    def __init__(self, home: Path, port: int, log: Path) -> None:
        self.home = home
        self.port = port
        self.log = log
        self._output = open(log, "w")  # closed in finish()
        self.process = subprocess.Popen(
            causeway("up", "--bind", f"127.0.0.1:{port}"),
            env=own_environment(home),
            cwd=ROOT,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self) -> bool:
        """True once up says it is ready; False when its web server found the port taken."""
        wait_for(
            lambda: (
                f"Causeway is ready: https://localhost:{self.port}" in self.output()
                or self.process.poll() is not None
            ),
            seconds=180,
            what="causeway up to be ready",
        )
        if self.process.poll() is not None and ADDRESS_TAKEN in self.output():
            return False
        assert self.process.poll() is None, self.output()
        return True

    def health(self) -> int:
        context = ssl.create_default_context(cafile=str(self.home / "tls" / "localhost.crt"))
        return httpx.get(f"https://localhost:{self.port}/health", verify=context, timeout=10).status_code

    def children(self) -> dict[str, int]:
        """web and worker (beat runs inside the worker): the direct children, by the command each runs."""
        named = {}
        for pid in descendants(self.process.pid):
            words = command_line(pid).split()
            if "causeway" in words and words.index("causeway") + 1 < len(words):
                role = words[words.index("causeway") + 1]
                if role in {"web", "worker", "beat"} and self.process.pid == _parent(pid):
                    named[role] = pid
        return named

    def finish(self, signum: int) -> int:
        try:
            if self.process.poll() is None:
                self.process.send_signal(signum)
            return self.process.wait(timeout=90)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._output.close()


def _parent(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def start_up(home: Path, log: Path, started: list[Up], *, port: int = 0, first: bool = False) -> Up:
    """`causeway up` on the port given (a free one if none), ready when this returns.

    A port free when chosen can be taken before web binds it (another test process chose the same
    one): up then stops, and starts again on another port; a first start from an empty data
    directory again, so it is still a first start.
    """
    for _ in range(5):
        up = Up(home, port or free_port(), log)
        started.append(up)
        if up.wait_ready():
            return up
        up.finish(signal.SIGTERM)
        port = 0
        if first:
            shutil.rmtree(home)
    raise AssertionError(f"causeway up found no free port in 5 tries:\n{up.output()}")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def started() -> Iterator[list[Up]]:
    """Every `up` a test starts is stopped, whatever the test's outcome."""
    runs: list[Up] = []
    yield runs
    for run in runs:
        if run.process.poll() is None:
            run.finish(signal.SIGTERM)


def _sign_in(port: int, home: Path, email: str, password: str) -> int:
    context = ssl.create_default_context(cafile=str(home / "tls" / "localhost.crt"))
    origin = f"https://localhost:{port}"
    with httpx.Client(base_url=origin, verify=context, headers={"Origin": origin}, timeout=30) as browser:
        form = browser.get("/login").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert token
        return browser.post(
            "/login",
            data={"csrfmiddlewaretoken": token.group(1), "username": email, "password": password},
        ).status_code


def test_up_first_start_second_start_and_stop(home: Path, tmp_path: Path, started: list[Up]) -> None:
    first = start_up(home, tmp_path / "first.log", started, first=True)

    assert first.health() == 200
    root_key = home / "root-key.json"
    assert root_key.stat().st_mode & 0o777 == 0o600
    assert (home / "tls" / "localhost.crt").is_file()
    assert (home / "tls" / "localhost.key").stat().st_mode & 0o777 == 0o600
    passwords = PASSWORD_LINE.findall(first.output())
    assert len(passwords) == 1, first.output()
    assert first.output().count(passwords[0]) == 1
    assert staff_emails(home / "causeway.sqlite3") == ["admin@localhost.localdomain"]
    assert _sign_in(first.port, home, "admin@localhost.localdomain", passwords[0]) == 302

    children = first.children()
    assert sorted(children) == ["web", "worker"], first.output()
    # Beat runs in a thread of the worker: its schedule file is there all the same.
    wait_for(lambda: any(home.glob("beat-schedule*")), seconds=60, what="beat's schedule file")
    # The supervisor that stays holds the standard library only, not Django.
    assert "causeway/cli/supervisor.py" in command_line(first.process.pid)
    tree = descendants(first.process.pid)
    assert first.finish(signal.SIGINT) == 0, first.output()
    assert_all_gone(tree)

    key_bytes = root_key.read_bytes()
    second = start_up(home, tmp_path / "second.log", started, port=first.port)
    assert second.health() == 200
    assert "One-time password" not in second.output()
    assert "Created" not in second.output()
    assert root_key.read_bytes() == key_bytes
    assert staff_emails(home / "causeway.sqlite3") == ["admin@localhost.localdomain"]
    tree = descendants(second.process.pid)
    assert second.finish(signal.SIGTERM) == 0, second.output()
    assert "Stopped web and worker." in second.output()
    assert_all_gone(tree)

    # Closing the terminal (SIGHUP) stops everything just as cleanly.
    third = start_up(home, tmp_path / "third.log", started, port=second.port)
    tree = descendants(third.process.pid)
    assert third.finish(signal.SIGHUP) == 0, third.output()
    assert_all_gone(tree)


@pytest.mark.parametrize("victim", ["worker", "web"])
def test_up_stops_everything_when_one_child_dies(
    home: Path, tmp_path: Path, started: list[Up], victim: str
) -> None:
    up = start_up(home, tmp_path / "up.log", started)
    children = up.children()
    assert sorted(children) == ["web", "worker"], up.output()
    tree = descendants(up.process.pid)
    os.kill(children[victim], signal.SIGKILL)
    assert up.process.wait(timeout=90) == 1
    assert up.finish(signal.SIGTERM) == 1
    others = " and ".join(name for name in ("web", "worker") if name != victim)
    assert f"causeway: {victim} stopped unexpectedly (exit status -9); stopping {others}" in up.output()
    assert_all_gone(tree)
