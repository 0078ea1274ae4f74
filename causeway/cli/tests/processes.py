"""Helpers for tests that run `causeway` commands as real processes, each in a data directory of its own."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from testkit.support import ROOT, causeway_command


def own_environment(home: Path, **extra: str) -> dict[str, str]:
    """The test's environment without any Causeway setting, pointed at its own data directory."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CAUSEWAY_")}
    env.update({"CAUSEWAY_HOME": str(home), "PYTHONPATH": str(ROOT)})
    env.update(extra)
    return env


def causeway(*args: str) -> list[str]:
    return causeway_command(*args)


def run(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # A bound for a machine busy with other work too: `causeway init` migrates a new database, ten
    # CPU-seconds, and outlasted 120 s on a machine loaded fourteen-fold.
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def snapshot(home: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and directory under home with its size, modification time and mode."""
    found = {}
    for path in sorted(home.rglob("*")):
        status = path.stat()
        found[str(path.relative_to(home))] = (status.st_size, status.st_mtime_ns, status.st_mode)
    return found


def wait_for(condition: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds:g} s waiting for {what}")
        time.sleep(0.1)


def staff_emails(database: Path) -> list[str]:
    """The staff users of another installation, read through its own `causeway users list`.

    Emails are sealed under that installation's root key, so only its own processes can read them.
    """
    home = database.parent
    listed = run(causeway("users", "list"), own_environment(home))
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:] if line.strip()]
    return sorted(row[0] for row in rows if "staff" in row)
