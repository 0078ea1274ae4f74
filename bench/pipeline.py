"""End-to-end jobs per second: signed webhook calls -> a 3-step recipe (webhook, map, HTTP call to a local
server) -> finished jobs, through real Causeway processes, against the same machine's raw Celery
throughput for a no-op task on the same broker.

Two configurations, each in a child process with its own data directory, and both must run:

- the embedded default: exactly what `make up` starts (`causeway up`: SQLite, the embedded broker);
- PostgreSQL + Redis: `causeway web` and `causeway worker` processes on the database and broker named by
  `CAUSEWAY_BENCH_DATABASE_URL` and `CAUSEWAY_BENCH_BROKER_URL` (or `CAUSEWAY_DATABASE_URL` and
  `CAUSEWAY_BROKER_URL`). The database is emptied and rebuilt; the Redis database is flushed.

Latency is from the webhook call being accepted (the job row's creation) to the job finishing, as the job
rows record it. Every job keeps its full history, masked and sealed twice, as in production. After the
32-client run the resident memory of every process of the configuration is read from /proc, and the
per-job counts (`bench.counts`) are taken in the child's own process.

The run prints one table, and exits non-zero when a configuration could not run.

Reference (n8n 1.123, a machine like ours, SQLite, history kept): about 80 such jobs per second with
32 concurrent clients, 47 per second with one client at a p50 of 20 ms.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.scenarios import OVERHEAD_STEPS

JOBS_CONCURRENT = int(os.environ.get("CAUSEWAY_BENCH_JOBS", "600"))
JOBS_SEQUENTIAL = 100
CLIENTS = 32
JOBS_SCALE = int(os.environ.get("CAUSEWAY_BENCH_SCALE_JOBS", "300"))
SCALE_WORKERS = (1, 2, 4)
# The open loop: calls offered at this rate for this long, whatever the answers.
OPEN_RATE = float(os.environ.get("CAUSEWAY_BENCH_OPEN_RATE", "100"))
OPEN_SECONDS = float(os.environ.get("CAUSEWAY_BENCH_OPEN_SECONDS", "60"))
NOOP_TASKS = 2000
N8N_CONCURRENT = 80.0
GOAL_EMBEDDED = 2 * N8N_CONCURRENT
GOAL_RATIO = 0.5
GOAL_MEMORY_MB = 500
ROOT = Path(__file__).resolve().parent.parent


class _Target(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b"{}"
        payload = json.dumps({"ok": True, "received": json.loads(body or b"{}")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _setup(target_url: str) -> tuple[str, str, Any]:
    """A workspace with a started webhook recipe: webhook -> map -> HTTP POST to the target."""
    from causeway.accounts.models import User
    from causeway.connections.outbound import outbound_hosts_set
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
    outbound_hosts_set(actor=admin, workspace=workspace, hosts=["127.0.0.1"])
    project = project_create(actor=admin, workspace=workspace, name="Bench")
    recipe = recipe_create(
        actor=admin,
        workspace=workspace,
        project=project,
        name="Webhook to CRM",
        definition={
            "trigger": {"type": "webhook"},
            "steps": [
                {
                    "id": "shape",
                    "type": "map",
                    "fields": {"email": "{{ trigger.email | lower }}", "n": "{{ trigger.n }}"},
                },
                {
                    "id": "send",
                    "type": "http",
                    "method": "POST",
                    "url": f"{target_url}/contacts",
                    "body_type": "json",
                    "body": {"email": "{{ steps.shape.email }}", "n": "{{ steps.shape.n }}"},
                },
            ],
        },
    )
    recipe_start(actor=admin, recipe=recipe)
    secret = webhook_secret_rotate(actor=admin, recipe=recipe)
    token = WebhookEndpoint.objects.get(recipe=recipe).token
    return token, secret, recipe


def _process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=20)


def _fire(url: str, token: str, secret: str, count: int, clients: int) -> tuple[list[str], float]:
    import httpx

    from causeway.runs.webhooks import sign

    ids: list[str] = []
    lock = threading.Lock()
    local = threading.local()

    def one(n: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(verify=False, timeout=60)  # noqa: S501  # nosec B501
        # Each body differs, so no two calls in one second carry the same signature (a replay).
        body = json.dumps({"email": f"Person{n}@Example.com", "n": n, "call": uuid.uuid4().hex}).encode()
        answer = client.post(
            f"{url}/hooks/{token}",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Causeway-Signature": sign(secret, int(time.time()), body),
            },
        )
        if answer.status_code != 202:
            raise RuntimeError(f"webhook answered {answer.status_code}: {answer.text[:200]}")
        with lock:
            ids.append(answer.json()["job"])

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one, range(count)))
    return ids, start


def _finished(ids: list[str], seconds: float) -> list[Any]:
    from causeway.runs.models import FINISHED, Job

    def done() -> bool:
        return Job.objects.filter(pk__in=ids, status__in=FINISHED).count() == len(ids)

    _wait(done, seconds, f"{len(ids)} jobs to finish")
    return list(Job.objects.filter(pk__in=ids).only("status", "created_at", "finished_at"))


def _measure(url: str, token: str, secret: str, count: int, clients: int) -> dict[str, float]:
    ids, start = _fire(url, token, secret, count, clients)
    jobs = _finished(ids, 600)
    failed = sum(1 for j in jobs if j.status != "succeeded")
    if failed:
        raise RuntimeError(f"{failed} of {count} jobs failed")
    last = max(j.finished_at for j in jobs)
    first = min(j.created_at for j in jobs)
    wall = time.perf_counter() - start
    latencies = sorted((j.finished_at - j.created_at).total_seconds() * 1000 for j in jobs)
    return {
        # From the first call accepted to the last job finished; the wall clock of the clients is a bound.
        "jobs_per_second": count / max((last - first).total_seconds(), 1e-9),
        "wall_seconds": wall,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def _raw_celery(env: dict[str, str], broker: str, home: Path) -> float:
    """No-op tasks per second through a bare Celery worker (2 pool processes) on the same broker."""
    from bench import celery_noop

    noop_env = {**env, "CAUSEWAY_BENCH_BROKER": broker}
    worker = _process(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.celery_noop",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "-O",
            "fair",
            "-Q",
            "bench-noop",
            "--loglevel=WARNING",
            f"--hostname=noop-{uuid.uuid4().hex[:6]}@%h",
        ],
        noop_env,
        home / "noop-worker.log",
    )
    try:
        os.environ["CAUSEWAY_BENCH_BROKER"] = broker
        celery_noop.app.conf.broker_url = broker
        reply_to = f"bench.reply.{uuid.uuid4().hex}"
        with celery_noop.app.connection_for_write() as connection:
            replies = connection.SimpleQueue(reply_to)
            # Warm up: the worker is consuming before the clock starts.
            celery_noop.marker.apply_async(args=[reply_to])
            replies.get(block=True, timeout=120).ack()
            start = time.perf_counter()
            with celery_noop.app.producer_or_acquire() as producer:
                for _ in range(NOOP_TASKS):
                    celery_noop.noop.apply_async(producer=producer)
                celery_noop.marker.apply_async(args=[reply_to], producer=producer)
            replies.get(block=True, timeout=600).ack()
            elapsed = time.perf_counter() - start
            replies.queue.delete()
            replies.close()
        return NOOP_TASKS / elapsed
    finally:
        _stop(worker)


def _descendants(roots: list[int]) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return sorted(found)


def _status_kb(pid: int, field: str, source: str = "status") -> int:
    try:
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(roots: list[int]) -> dict[str, Any]:
    """Resident memory (RSS, and PSS, which shares pages between forked processes fairly) of every process
    under `roots`, in MB."""
    processes = []
    for pid in _descendants(roots):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [part.decode(errors="replace") for part in argv if part]
        if any(word.endswith("supervisor.py") for word in words):
            name = "causeway up (supervisor)"
        else:
            name = " ".join(w for w in words[1:4] if not w.startswith("/")) or (words[0] if words else "?")
        processes.append(
            {
                "pid": pid,
                "name": name[:60],
                "rss_mb": _status_kb(pid, "VmRSS") / 1024,
                "pss_mb": _status_kb(pid, "Pss", "smaps_rollup") / 1024,
            }
        )
    return {
        "processes": processes,
        "rss_mb": sum(p["rss_mb"] for p in processes),
        "pss_mb": sum(p["pss_mb"] for p in processes),
    }


def _start(
    causeway: list[str], env: dict[str, str], home: Path, port: int, *, embedded: bool, workers: int = 2
) -> list[subprocess.Popen[bytes]]:
    if embedded:
        # Exactly what `make up` runs.
        return [_process([*causeway, "up", "--bind", f"127.0.0.1:{port}"], env, home / "up.log")]
    worker_env = {**env, "CAUSEWAY_WORKER_CONCURRENCY": str(workers)}
    return [
        _process([*causeway, "web", "--bind", f"127.0.0.1:{port}"], env, home / "web.log"),
        _process([*causeway, "worker"], worker_env, home / f"worker-{workers}.log"),
    ]


def _ready(url: str, causeway: list[str], env: dict[str, str]) -> None:
    import httpx

    def web_up() -> bool:
        try:
            return httpx.get(f"{url}/health", verify=False, timeout=2).status_code == 200  # noqa: S501  # nosec B501
        except httpx.TransportError:
            return False

    _wait(web_up, 120, "causeway web")
    # The worker logs at WARNING here; a health probe through the broker says it is taking tasks.
    subprocess.run(
        [*causeway, "worker", "--probe", "--timeout", "120"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def child(label: str) -> None:
    """One configuration, in this process's own data directory; prints one JSON line of figures."""
    from bench import scenarios

    home = Path(os.environ["CAUSEWAY_HOME"])
    embedded = "CAUSEWAY_DATABASE_URL" not in os.environ
    env = {**os.environ, "CAUSEWAY_WORKER_CONCURRENCY": "2", "CAUSEWAY_LOG_LEVEL": "WARNING"}
    subprocess.run(
        [sys.executable, "-m", "causeway", "init", "--no-admin"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    import django

    django.setup()
    from django.conf import settings

    from bench import counts

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token, secret, recipe = _setup(f"http://127.0.0.1:{server.server_address[1]}")
    answer_token, answer_secret = scenarios.respond_recipe(recipe)
    retried_token, retried_secret = scenarios.respond_recipe(recipe, tried_once=False)
    port = _free_port()
    url = f"https://127.0.0.1:{port}"
    causeway = [sys.executable, "-m", "causeway"]
    figures: dict[str, Any] = {"label": label}
    processes = _start(causeway, env, home, port, embedded=embedded)
    try:
        _ready(url, causeway, env)
        _measure(url, token, secret, 20, 4)  # warm-up
        figures["sequential"] = _measure(url, token, secret, JOBS_SEQUENTIAL, 1)
        figures["concurrent"] = _measure(url, token, secret, JOBS_CONCURRENT, CLIENTS)
        figures["memory"] = memory([p.pid for p in processes])
        figures["respond"], figures["respond_retried"] = scenarios.respond_latency(
            url, [(answer_token, answer_secret), (retried_token, retried_secret)], JOBS_SEQUENTIAL * 2
        )
        if embedded:
            figures["open_loop"] = scenarios.open_loop(
                url,
                token,
                secret,
                rate=OPEN_RATE,
                seconds=OPEN_SECONDS,
                sample=lambda: memory([p.pid for p in processes])["rss_mb"],
            )
    finally:
        for process in processes:
            _stop(process)
    if not embedded:
        # The scale curve: the same flow with 1, 2 and 4 worker pool processes behind 2 web processes.
        figures["scale"] = {}
        for workers in SCALE_WORKERS:
            processes = _start(causeway, env, home, port, embedded=False, workers=workers)
            try:
                _ready(url, causeway, env)
                _measure(url, token, secret, 20, 4)
                figures["scale"][str(workers)] = _measure(url, token, secret, JOBS_SCALE, CLIENTS)
            finally:
                for process in processes:
                    _stop(process)
    figures["counts"] = counts.per_job(token, secret)
    figures["overhead"] = scenarios.step_overhead(recipe)
    figures["raw"] = _raw_celery(env, settings.CELERY_BROKER_URL, home)
    print(json.dumps(figures))


def _run_child(label: str, extra: dict[str, str]) -> dict[str, Any] | None:
    home = tempfile.mkdtemp(prefix="causeway-bench-pipeline-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSEWAY_")}
    env.update(
        {"CAUSEWAY_HOME": home, "DJANGO_SETTINGS_MODULE": "causeway.settings", "PYTHONPATH": str(ROOT)}
    )
    env.update(extra)
    done = subprocess.run(
        [sys.executable, "-m", "bench.pipeline", "--child", label],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        print(
            f"{label}: could not run (exit status {done.returncode}); logs in {home}\n{done.stderr[-2000:]}"
        )
        return None
    found: dict[str, Any] = json.loads(lines[-1])
    return found


def postgres_and_redis() -> dict[str, str] | None:
    """The scale configuration's settings, its database emptied and its Redis database flushed; None
    when none is named."""
    database = os.environ.get("CAUSEWAY_BENCH_DATABASE_URL") or os.environ.get("CAUSEWAY_DATABASE_URL")
    broker = os.environ.get("CAUSEWAY_BENCH_BROKER_URL") or os.environ.get("CAUSEWAY_BROKER_URL")
    if not (database and broker and database.startswith("postgresql") and broker.startswith("redis")):
        return None
    db = urlsplit(database)
    name = db.path.lstrip("/")
    connect = ["-h", db.hostname or "127.0.0.1", "-p", str(db.port or 5432), "-U", db.username or "postgres"]
    subprocess.run(["dropdb", *connect, "--if-exists", name], check=True, capture_output=True)
    subprocess.run(["createdb", *connect, name], check=True, capture_output=True)
    redis = urlsplit(broker)
    number = redis.path.lstrip("/") or "0"
    subprocess.run(
        [
            "redis-cli",
            "-h",
            redis.hostname or "127.0.0.1",
            "-p",
            str(redis.port or 6379),
            "-n",
            number,
            "FLUSHDB",
        ],
        check=True,
        capture_output=True,
    )
    return {"CAUSEWAY_DATABASE_URL": database, "CAUSEWAY_BROKER_URL": broker}


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def report(results: dict[str, dict[str, Any]]) -> None:
    print(
        "end-to-end jobs (webhook -> map -> HTTP call), 2 worker pool processes, history kept, sealed twice"
    )
    print(
        f"{'configuration':<20} {'clients':>7} {'jobs/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'raw celery/s':>13} {'ratio':>6} {'RSS MB':>7} {'PSS MB':>7}"
    )
    for label, figures in results.items():
        raw = figures["raw"]
        for clients, key in ((1, "sequential"), (CLIENTS, "concurrent")):
            f = figures[key]
            print(
                f"{label:<20} {clients:>7} {f['jobs_per_second']:>8.1f}"
                f" {f['p50_ms']:>8.0f} {f['p99_ms']:>8.0f}"
                f" {raw:>13.0f} {f['jobs_per_second'] / raw:>6.2f}"
                f" {figures['memory']['rss_mb']:>7.0f} {figures['memory']['pss_mb']:>7.0f}"
            )
    print()
    print("per job: database round trips, commits that wrote, sealing / opening calls, broker messages")
    print("(web, worker: a job handed to the broker; run here: accepted and run in the web process)")
    print(
        f"{'configuration':<20} {'side':<8} {'round trips':>11} {'commits':>8}"
        f" {'seals':>6} {'opens':>6} {'messages':>8}"
    )
    for label, figures in results.items():
        for side, name in (("web", "web"), ("worker", "worker"), ("here", "run here")):
            c = figures["counts"][side]
            print(
                f"{label:<20} {name:<8} {c['round_trips']:>11.1f} {c['commits']:>8.1f} {c['seals']:>6.1f}"
                f" {c['opens']:>6.1f} {c['messages']:>8.1f}"
            )
    print()
    print("answering the caller (webhook set to respond with the HTTP call's result), one client:")
    print("the call tried once (the job runs in the call's thread), or with its retries (in a job thread),")
    print("the two recipes called in turn")
    for label, figures in results.items():
        for key, how in (("respond", "call's thread"), ("respond_retried", "job thread")):
            r = figures[key]
            print(
                f"{label:<20} {how:<14} {r['calls_per_second']:>6.1f} calls/s"
                f"  p50 {r['p50_ms']:>6.1f} ms  p99 {r['p99_ms']:>6.1f} ms"
            )
    print()
    print(f"engine overhead, a job of {OVERHEAD_STEPS} light steps (map, condition) run start to finish")
    for label, figures in results.items():
        o = figures["overhead"]
        print(f"{label:<20} {o['ms_per_step']:>6.2f} ms per step  ({o['ms_per_job']:.0f} ms per job)")
    for label, figures in results.items():
        if "open_loop" in figures:
            o = figures["open_loop"]
            samples = o["memory_samples"]
            print()
            print(
                f"open loop, {label}: {o['offered']} calls offered at {o['offered_rate']:.1f}/s"
                f" (latest call {o['late_p99_ms']:.0f} ms behind its time, p99);"
                f" {o['accepted']} accepted, {o['refused']} refused, {o['failed']} not answered;"
                f" call to answer p50 {o['answer_p50_ms']:.0f} ms, p99 {o['answer_p99_ms']:.0f} ms;"
                f" accepted to finished p50 {o['p50_ms']:.0f} ms, p99 {o['p99_ms']:.0f} ms;"
                f" {o['lost']} lost, {o['failed_jobs']} failed;"
                f" memory (RSS) {samples[0]:.0f} MB at the start, {max(samples):.0f} MB at most,"
                f" {samples[-1]:.0f} MB at the end"
            )
        if "scale" in figures:
            print()
            print(f"scale curve, {label}: 2 web processes, {CLIENTS} clients, {JOBS_SCALE} jobs")
            for workers, f in figures["scale"].items():
                print(
                    f"  {workers} worker pool process(es): {f['jobs_per_second']:>6.1f} jobs/s"
                    f"  ({f['jobs_per_second'] / figures['raw']:.2f} x raw)  p50 {f['p50_ms']:.0f} ms"
                )
    print()
    print("resident memory after the 32-client run, per process")
    for label, figures in results.items():
        for p in figures["memory"]["processes"]:
            print(
                f"{label:<20} {p['pid']:>7} {p['name']:<48}"
                f" RSS {p['rss_mb']:>6.0f} MB  PSS {p['pss_mb']:>6.0f} MB"
            )
    print()
    embedded = results.get("embedded (SQLite)")
    if embedded is not None:
        rate = embedded["concurrent"]["jobs_per_second"]
        print(
            f"goal: >= {GOAL_EMBEDDED:.0f} jobs/s with {CLIENTS} clients on the embedded default: "
            f"{'met' if rate >= GOAL_EMBEDDED else 'not met'} ({rate:.1f}, {rate / N8N_CONCURRENT:.2f} x n8n)"
        )
        rss = embedded["memory"]["rss_mb"]
        print(
            f"goal: the embedded default under {GOAL_MEMORY_MB} MB resident after the run: "
            f"{'met' if rss < GOAL_MEMORY_MB else 'not met'}"
            f" ({rss:.0f} MB RSS, {embedded['memory']['pss_mb']:.0f} MB PSS)"
        )
        answered = embedded["respond"]
        print(
            "goal: answered calls p50 <= 10 ms, p99 <= 25 ms on the embedded default: "
            f"{'met' if answered['p50_ms'] <= 10 and answered['p99_ms'] <= 25 else 'not met'}"
            f" (p50 {answered['p50_ms']:.1f}, p99 {answered['p99_ms']:.1f} ms)"
        )
    scale = results.get("PostgreSQL + Redis")
    if scale is not None:
        ratio = scale["concurrent"]["jobs_per_second"] / scale["raw"]
        print(
            f"goal: >= {GOAL_RATIO} x raw Celery on PostgreSQL + Redis: "
            f"{'met' if ratio >= GOAL_RATIO else 'not met'} ({ratio:.2f})"
        )


def main() -> int:
    """Run both configurations and print their table; 1 when either could not run."""
    print(f"load average before: {_load()}")
    results: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    embedded = _run_child("embedded (SQLite)", {})
    if embedded is None:
        failed.append("embedded (SQLite)")
    else:
        results["embedded (SQLite)"] = embedded
    scale = postgres_and_redis()
    if scale is None:
        print(
            "PostgreSQL + Redis: not configured; set CAUSEWAY_BENCH_DATABASE_URL=postgresql://... and "
            "CAUSEWAY_BENCH_BROKER_URL=redis://..."
        )
        failed.append("PostgreSQL + Redis")
    else:
        figures = _run_child("PostgreSQL + Redis", scale)
        if figures is None:
            failed.append("PostgreSQL + Redis")
        else:
            results["PostgreSQL + Redis"] = figures
    print(f"load average after: {_load()}")
    if failed:
        print(f"bench: {' and '.join(failed)} could not run; no table")
        return 1
    report(results)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        raise SystemExit(main())
