"""`causeway up`'s supervisor: runs web and worker as children and stops them together.

It imports the standard library only: `causeway up` prepares the installation, then replaces itself with
this module run as a script (`run_detached`), so the process that stays for the installation's whole life
holds a few megabytes rather than all of Django.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from urllib.parse import urlsplit

# How long children get to finish what they are doing after SIGTERM before they are killed.
STOP_GRACE_SECONDS = 20.0
POLL_SECONDS = 0.2


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # Each child leads its own process group, so stopping it reaches the processes it forked
        # (gunicorn's workers, the Celery pool) even when it must be killed.
        self.process = subprocess.Popen(self.argv, start_new_session=True)  # noqa: S603

    @property
    def exit_status(self) -> int | None:
        return None if self.process is None else self.process.returncode

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


@dataclass
class Supervisor:
    children: list[Child]
    ready: Callable[[], bool]
    on_ready: Callable[[], None]
    signals_received: list[int] = field(default_factory=list)

    def _note_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals_received.append(signum)

    def run(self) -> int:
        """Start every child; 0 after a stop asked by a signal, 1 when a child died on its own."""
        # SIGHUP too: closing the terminal must stop the children, not orphan them.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._note_signal)
        for child in self.children:
            child.start()
        announced = False
        while not self.signals_received:
            dead = next((child for child in self.children if not child.running), None)
            if dead is not None:
                others = [child.name for child in self.children if child is not dead]
                sys.stderr.write(
                    f"causeway: {dead.name} stopped unexpectedly (exit status {dead.exit_status}); "
                    f"stopping {' and '.join(others)}\n"
                )
                self.stop()
                return 1
            if not announced and self.ready():
                self.on_ready()
                announced = True
            time.sleep(POLL_SECONDS)
        self.stop()
        return 0

    def stop(self) -> None:
        """SIGTERM to every child still running, a bounded wait, then SIGKILL to whatever is left."""
        already_received = len(self.signals_received)
        for child in self.children:
            if child.running and child.process is not None:
                child.process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        # Another Ctrl-C while stopping means "now": stop waiting for a graceful end.
        while (
            any(child.running for child in self.children)
            and time.monotonic() < deadline
            and len(self.signals_received) == already_received
        ):
            time.sleep(POLL_SECONDS)
        for child in self.children:
            # The whole group, also when the leader has exited: a pool process may outlive it.
            child.signal_group(signal.SIGKILL)
            if child.process is not None:
                child.process.wait()


def health_answers(url: str, *, cafile: str) -> Callable[[], bool]:
    """A readiness test: url/health answers 200 over TLS verified against Causeway's own certificate."""
    context = ssl.create_default_context(cafile=cafile)
    parts = urlsplit(url)

    def check() -> bool:
        connection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, context=context, timeout=1.0
        )
        try:
            connection.request("GET", "/health")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    return check


def run_detached(
    *, children: list[tuple[str, list[str]]], url: str, local_url: str, cafile: str, created: bool
) -> None:
    """Replace this process with the supervisor alone (same pid, a fresh interpreter)."""
    sys.stdout.flush()
    sys.stderr.flush()
    config = {"children": children, "url": url, "local_url": local_url, "cafile": cafile, "created": created}
    os.execv(sys.executable, [sys.executable, "-I", __file__, json.dumps(config)])  # noqa: S606


def _main(config: dict[str, object]) -> int:
    children = [Child(str(name), list(argv)) for name, argv in config["children"]]  # type: ignore[attr-defined]
    names = [child.name for child in children]

    def ready() -> None:
        sys.stdout.write(f"Causeway is ready: {config['url']}\n")
        if config["created"]:
            sys.stdout.write("Sign in with the staff user and one-time password printed above.\n")
        sys.stdout.write(f"Ctrl-C stops {' and '.join(names)}.\n")
        sys.stdout.flush()

    supervisor = Supervisor(
        children=children,
        ready=health_answers(str(config["local_url"]), cafile=str(config["cafile"])),
        on_ready=ready,
    )
    status = supervisor.run()
    if status == 0:
        sys.stdout.write(f"Stopped {' and '.join(names)}.\n")
    return status


if __name__ == "__main__":
    raise SystemExit(_main(json.loads(sys.argv[1])))
