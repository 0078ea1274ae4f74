"""`causeway up`'s supervisor: runs web, worker and beat as children and stops them together."""

from __future__ import annotations

import http.client
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
