"""Test support for jobs: a recipe to run, and a local HTTP service that honours idempotency keys."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from testkit.support import make_user, make_workspace

# How long a held request waits for the test to let it go before it answers anyway.
HOLD_LIMIT_SECONDS = 120


@dataclass
class Call:
    path: str
    key: str | None


@dataclass
class Service:
    """What the local service saw: every call, and the effects it applied (one per idempotency key)."""

    calls: list[Call] = field(default_factory=list)
    effects: dict[str, int] = field(default_factory=dict)
    held: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls_to(self, path: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.path == path]

    def held_now(self) -> int:
        with self.lock:
            return self.held


class LocalService:
    """A real HTTP server on 127.0.0.1, in a thread of the test process.

    `/effect` applies its effect at once. `/hold` applies its effect, then holds the answer until the
    test calls `let_go()`: the job is mid-step for as long as the test wants. A repeated call with an
    idempotency key already seen answers at once with the first answer and applies nothing (as an
    idempotent API would); `/hold-always` holds every call, key or not.
    """

    def __init__(self) -> None:
        self.seen = Service()
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                key = self.headers.get("Idempotency-Key")
                path = self.path.split("?")[0]
                with seen.lock:
                    seen.calls.append(Call(path, key))
                    first = key is None or key not in seen.effects
                    if first:
                        effect = key or f"no-key-{len(seen.calls)}"
                        seen.effects[effect] = seen.effects.get(effect, 0) + 1
                    hold = path == "/hold-always" or (path == "/hold" and first)
                    if hold:
                        seen.held += 1
                if hold:
                    seen.release.wait(HOLD_LIMIT_SECONDS)
                body = json.dumps({"ok": True, "path": path}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the worker that asked was killed meanwhile

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def let_go(self) -> None:
        self.seen.release.set()

    def close(self) -> None:
        self.let_go()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def http_step(step_id: str, url: str) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "http",
        "method": "POST",
        "url": url,
        "body_type": "json",
        "body": {"step": step_id},
        "timeout_seconds": 300,
        "retries": 0,
        "idempotency_key": True,
    }


def definition(*steps: dict[str, Any], max_duration_seconds: int | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"trigger": {"type": "manual"}, "steps": list(steps)}
    if max_duration_seconds is not None:
        found["settings"] = {"max_duration_seconds": max_duration_seconds}
    return found


@dataclass
class Setting:
    admin: Any
    workspace: Any
    project: Any


def setting(name: str = "Acme", *, environment: str = "dev", allow_local: bool = True) -> Setting:
    """A workspace with an Admin and one project; recipes may call this machine's local services."""
    from causeway.access.services import environment_policy_set
    from causeway.recipes.services import project_create

    admin = make_user(f"admin@{name.lower()}.example")
    workspace = make_workspace(name, members={admin: "admin"})
    if allow_local:
        # The test's own services listen on loopback, which rule 20 refuses unless an Admin allows it.
        workspace.outbound_allowed_hosts = ["127.0.0.1"]
        workspace.save(update_fields=["outbound_allowed_hosts"])
    # These tests start jobs as the Admin. Rule 5's defaults let no person execute, so DEV's policy is
    # widened with execute, as an Admin may (the policy's own tests keep the defaults).
    environment_policy_set(
        actor=admin,
        workspace=workspace,
        environment="dev",
        capabilities=["read", "write", "execute", "debug"],
    )
    project = project_create(actor=admin, workspace=workspace, name="Integrations", environment=environment)
    return Setting(admin=admin, workspace=workspace, project=project)


def recipe(place: Setting, body: dict[str, Any], name: str = "Sync") -> Any:
    from causeway.recipes.services import recipe_create

    return recipe_create(
        actor=place.admin, workspace=place.workspace, project=place.project, name=name, definition=body
    )
