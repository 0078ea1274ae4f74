"""An API endpoint against the same flow through a webhook: a recipe that maps the request and answers.

Both recipes are `map -> respond`; the endpoint's request is checked against its JSON Schema and its
client's key and limits, the webhook's against its signature. Against the embedded default (`causeway
up`: SQLite, the embedded broker, answered jobs run in the web process), over HTTPS on loopback: one
client's p50 and p99 (request sent to answer received), then 32 clients' answered calls per second.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEQUENTIAL = 200
CONCURRENT = 640
CLIENTS = 32
STEPS = [
    {"id": "shape", "type": "map", "fields": {"email": "{{ trigger.body.email | lower }}"}},
    {"id": "answer", "type": "respond", "status": "200", "body": {"email": "{{ steps.shape.email }}"}},
]
SCHEMA = {
    "type": "object",
    "required": ["email"],
    "properties": {"email": {"type": "string", "maxLength": 200}},
}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def _setup() -> dict[str, str]:
    from causeway.accounts.models import User
    from causeway.apiplat import services
    from causeway.recipes.services import project_create, recipe_create
    from causeway.runs.models import WebhookEndpoint
    from causeway.runs.triggers import recipe_start
    from causeway.runs.webhooks import webhook_secret_rotate
    from causeway.workspaces.models import Membership, Role, Workspace

    admin = User.objects.create_user(
        email=f"bench-{uuid.uuid4().hex[:8]}@example.com", password=None, first_name="Bench", last_name="Mark"
    )
    workspace = Workspace.objects.create(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}")
    Membership.objects.create(
        workspace=workspace, user=admin, role=Role.objects.get(workspace=None, key="admin")
    )
    project = project_create(actor=admin, workspace=workspace, name="Bench")
    endpoint_recipe = recipe_create(
        actor=admin,
        workspace=workspace,
        project=project,
        name="Answer by API",
        definition={"trigger": {"type": "api_endpoint"}, "steps": STEPS},
    )
    recipe_start(actor=admin, recipe=endpoint_recipe)
    collection = services.collection_create(
        actor=admin, workspace=workspace, project=project.id, name="Bench", slug="bench"
    )
    services.endpoint_create(
        actor=admin,
        collection=collection,
        method="POST",
        path="/contacts",
        recipe=endpoint_recipe.id,
        request_schema=SCHEMA,
    )
    client = services.client_create(
        actor=admin, workspace=workspace, name="Bench client", collection_ids=[str(collection.id)]
    )
    _, key = services.client_key_issue(actor=admin, client=client, name="bench", expires_in_days=1)
    hook_recipe = recipe_create(
        actor=admin,
        workspace=workspace,
        project=project,
        name="Answer by webhook",
        definition={
            "trigger": {"type": "webhook", "respond": True},
            "steps": [{**STEPS[0], "fields": {"email": "{{ trigger.email | lower }}"}}, STEPS[1]],
        },
    )
    recipe_start(actor=admin, recipe=hook_recipe)
    secret = webhook_secret_rotate(actor=admin, recipe=hook_recipe)
    return {
        "endpoint_path": f"/apis/{workspace.slug}/dev/bench/contacts",
        "key": key,
        "hook_path": f"/hooks/{WebhookEndpoint.objects.get(recipe=hook_recipe).token}",
        "secret": secret,
    }


def _caller(url: str, place: dict[str, str], kind: str) -> Any:
    """A function making one call of `kind` with an httpx client; raises unless it was answered 200."""
    import httpx

    from causeway.runs.webhooks import sign

    def one(http: Any, n: int) -> None:
        body = json.dumps({"email": f"Person{n}@Example.com"}).encode()
        headers = {"Content-Type": "application/json"}
        if kind == "endpoint":
            headers["Authorization"] = f"Bearer {place['key']}"
            path = place["endpoint_path"]
        else:
            headers["X-Causeway-Signature"] = sign(place["secret"], int(time.time()), body)
            path = place["hook_path"]
        try:
            answer = http.post(url + path, content=body, headers=headers)
        except httpx.RemoteProtocolError:
            # A kept-alive connection the server closed as it was reused (its keep-alive time ran out
            # while 32 clients queued): sent again on a fresh connection, as an HTTP client does.
            answer = http.post(url + path, content=body, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"{kind} answered {answer.status_code}: {answer.text[:200]}")

    return one


def _measure(url: str, place: dict[str, str], kind: str) -> dict[str, float]:
    import httpx

    one = _caller(url, place, kind)
    latencies: list[float] = []
    with httpx.Client(verify=False, timeout=60) as http:  # noqa: S501  # nosec B501
        for n in range(SEQUENTIAL + 10):
            start = time.perf_counter()
            one(http, n)
            if n >= 10:  # the first ten warm the connection and the caches
                latencies.append((time.perf_counter() - start) * 1000)
    clients = [httpx.Client(verify=False, timeout=60) for _ in range(CLIENTS)]  # noqa: S501  # nosec B501
    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            list(pool.map(lambda n: one(clients[n % CLIENTS], n), range(CONCURRENT)))
        elapsed = time.perf_counter() - start
    finally:
        for http in clients:
            http.close()
    return {
        "p50_ms": statistics.median(latencies),
        "p99_ms": _percentile(latencies, 0.99),
        "concurrent_per_second": CONCURRENT / elapsed,
    }


def child() -> None:
    from bench.pipeline import _free_port, _process, _ready, _stop

    home = Path(os.environ["CAUSEWAY_HOME"])
    env = {**os.environ, "CAUSEWAY_LOG_LEVEL": "WARNING"}
    causeway = [sys.executable, "-m", "causeway"]
    subprocess.run(  # noqa: S603  # this interpreter, Causeway's own command
        [*causeway, "init", "--no-admin"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    import django

    django.setup()
    place = _setup()
    port = _free_port()
    url = f"https://127.0.0.1:{port}"
    process = _process([*causeway, "up", "--bind", f"127.0.0.1:{port}"], env, home / "up.log")
    try:
        _ready(url, causeway, env)
        figures = {kind: _measure(url, place, kind) for kind in ("endpoint", "webhook")}
    finally:
        _stop(process)
    print(json.dumps(figures))


def main() -> int:
    home = tempfile.mkdtemp(prefix="causeway-bench-apiplat-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSEWAY_")}
    env.update(
        {"CAUSEWAY_HOME": home, "DJANGO_SETTINGS_MODULE": "causeway.settings", "PYTHONPATH": str(ROOT)}
    )
    done = subprocess.run(
        [sys.executable, "-m", "bench.apiplat", "--child"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        print(f"API endpoint bench: could not run (exit status {done.returncode}); logs in {home}")
        print(done.stderr[-2000:])
        return 1
    figures = json.loads(lines[-1])
    print(
        "map and answer: an API endpoint (key, limits, JSON Schema) against a webhook (signature), "
        "embedded default"
    )
    print(f"{'through':<10} {'p50 ms':>8} {'p99 ms':>8} {f'{CLIENTS} clients/s':>14}")
    for kind in ("endpoint", "webhook"):
        f = figures[kind]
        print(f"{kind:<10} {f['p50_ms']:>8.1f} {f['p99_ms']:>8.1f} {f['concurrent_per_second']:>14.1f}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        child()
    else:
        raise SystemExit(main())
