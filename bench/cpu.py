"""CPU time per job of the pipeline flow, in one process: a figure the machine's load barely moves.

The signed webhook call goes through Django's whole request handling (middleware, routing, the view) by
Django's test client, without TLS; its job runs in this process's job threads, as the embedded default
runs it (claimed as it is inserted, history sealed twice, finished in one UPDATE), and posts to a local
server. The CPU time of the process (every thread, the local server's too) is divided by the jobs run.
Three flows: a job started by the call (answered 202), and one whose call waits for its answer, run in
the call's own thread (its HTTP call tried once) or, with the call's retries, in a job thread.

CPU time still moves with what else the machine runs (caches, frequency). Run under callgrind, the
same flows give instruction counts, which do not: each flow's measured calls alone are counted.

    CAUSEWAY_BENCH_CPU_JOBS=50 valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file=/tmp/cpu.%p python -m bench.cpu
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path

JOBS = int(os.environ.get("CAUSEWAY_BENCH_CPU_JOBS", "300"))
WARM_UP = 30
ROOT = Path(__file__).resolve().parent.parent


def _setup_django() -> None:
    from django.apps import apps

    if apps.ready:
        return
    os.environ["CAUSEWAY_HOME"] = tempfile.mkdtemp(prefix="causeway-bench-cpu-")
    os.environ.pop("CAUSEWAY_DATABASE_URL", None)
    os.environ.pop("CAUSEWAY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "causeway.settings")
    os.environ.setdefault("CAUSEWAY_LOG_LEVEL", "WARNING")
    subprocess.run(
        [sys.executable, "-m", "causeway", "init", "--no-admin"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )
    import django

    django.setup()


def _callgrind(*arguments: str) -> bool:
    """Tell callgrind, when this process runs under it, to count (or stop, or dump); False otherwise."""
    control = shutil.which("callgrind_control")
    if control is None or "valgrind" not in os.environ.get("LD_PRELOAD", ""):
        return False
    subprocess.run([control, *arguments, str(os.getpid())], check=True, capture_output=True)  # noqa: S603
    return True


def _instructions(label: str) -> int | None:
    """The instructions callgrind counted since it was last zeroed, from the dump it writes as `label`."""
    before = set(Path(tempfile.gettempdir()).glob("*"))
    if not _callgrind("--dump=" + label):
        return None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for path in set(Path(tempfile.gettempdir()).glob("*")) - before:
            text = path.read_text(errors="replace") if path.is_file() else ""
            if f"desc: Trigger: dump {label}\n" in text:
                for line in text.splitlines():
                    if line.startswith("totals:"):
                        return int(line.split()[1])
        time.sleep(0.05)
    return None


def measure(jobs: int = JOBS) -> dict[str, float]:
    """CPU milliseconds per job for each flow, and the load average while it ran."""
    _setup_django()
    from django.test import Client

    from bench import pipeline, scenarios
    from causeway.runs import local
    from causeway.runs.webhooks import sign

    server = ThreadingHTTPServer(("127.0.0.1", 0), pipeline._Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token, secret, recipe = pipeline._setup(f"http://127.0.0.1:{server.server_address[1]}")
    answered = scenarios.respond_recipe(recipe)
    answered_thread = scenarios.respond_recipe(recipe, tried_once=False)
    client = Client(HTTP_HOST="localhost")
    # Under callgrind every look at the queue is counted: look seldom, so the counts are the job's.
    poll = 0.02 if "valgrind" in os.environ.get("LD_PRELOAD", "") else 0.001

    def call(n: int, hook: tuple[str, str]) -> None:
        body = json.dumps({"email": f"Cpu{n}@Example.com", "n": n, "call": uuid.uuid4().hex}).encode()
        answer = client.post(
            f"/hooks/{hook[0]}",
            data=body,
            content_type="application/json",
            secure=True,
            headers={"X-Causeway-Signature": sign(hook[1], int(time.time()), body)},
        )
        if answer.status_code not in (200, 202):
            raise RuntimeError(f"a call answered {answer.status_code}")
        deadline = time.monotonic() + 60
        while local.runner().pending:
            if time.monotonic() > deadline:
                raise RuntimeError("a job run here did not finish within 60 s")
            time.sleep(poll)

    was = local.enabled()
    local.enable(True)
    figures: dict[str, float] = {"load_before": os.getloadavg()[0]}
    try:
        flows = (("started", (token, secret)), ("answered_thread", answered_thread), ("answered", answered))
        for label, hook in flows:
            for n in range(WARM_UP):
                call(n, hook)
            _callgrind("--zero") and _callgrind("--instr=on")
            start = time.process_time()
            for n in range(jobs):
                call(n, hook)
            figures[f"{label}_ms"] = (time.process_time() - start) * 1000 / jobs
            if _callgrind("--instr=off"):
                counted = _instructions(label)
                if counted is not None:
                    figures[f"{label}_instructions"] = counted / jobs
    finally:
        local.enable(was)
        server.shutdown()
    figures["load_after"] = os.getloadavg()[0]
    return figures


def main() -> None:
    figures = measure()
    print(f"CPU per job, accepted and run in one process (Django's test client, no TLS), {JOBS} jobs")
    print(f"  job started by the call:    {figures['started_ms']:6.2f} ms")
    print(f"  call answered with the job: {figures['answered_ms']:6.2f} ms (run in the call's thread)")
    print(f"  the same, its call retried: {figures['answered_thread_ms']:6.2f} ms (run in a job thread)")
    for label in ("started", "answered", "answered_thread"):
        if f"{label}_instructions" in figures:
            print(f"  instructions per job, {label}: {figures[f'{label}_instructions'] / 1e6:.2f} million")
    print(f"  (load average {figures['load_before']:.1f} before, {figures['load_after']:.1f} after)")


if __name__ == "__main__":
    main()
