"""Memory over a long open loop on the embedded default: `python -m bench.soak [seconds] [calls per second]`.

Starts exactly what `make up` starts (`causeway up`) in a fresh data directory, warms it with the
32-client run of `bench.pipeline`, then offers the pipeline's webhook calls at a fixed rate (default 10
minutes at 40 a second: a rate this machine's one web process keeps up with, so the run measures
memory, not a backlog) and reads the resident memory of every process every ten seconds. Prints the
samples, the growth from the first sample after the warm-up to the last, and the slope of a straight
line through them; exits 1 when a process could not run or a job was lost.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(seconds: float, rate: float) -> int:
    home = tempfile.mkdtemp(prefix="causeway-bench-soak-")
    os.environ.update(
        {
            "CAUSEWAY_HOME": home,
            "DJANGO_SETTINGS_MODULE": "causeway.settings",
            "CAUSEWAY_LOG_LEVEL": "WARNING",
        }
    )
    env = {**os.environ}
    subprocess.run(
        [sys.executable, "-m", "causeway", "init", "--no-admin"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    import django

    django.setup()
    from bench import pipeline, scenarios

    server = ThreadingHTTPServer(("127.0.0.1", 0), pipeline._Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token, secret, _ = pipeline._setup(f"http://127.0.0.1:{server.server_address[1]}")
    port = pipeline._free_port()
    url = f"https://127.0.0.1:{port}"
    up = pipeline._process(
        [sys.executable, "-m", "causeway", "up", "--bind", f"127.0.0.1:{port}"], env, Path(home) / "up.log"
    )
    print(f"load average before: {pipeline._load()}")
    try:
        pipeline._ready(url, [sys.executable, "-m", "causeway"], env)
        pipeline._measure(url, token, secret, pipeline.JOBS_CONCURRENT, pipeline.CLIENTS)

        def rss() -> float:
            return float(pipeline.memory([up.pid])["rss_mb"])

        found = scenarios.open_loop(url, token, secret, rate=rate, seconds=seconds, sample=rss)
        processes = pipeline.memory([up.pid])["processes"]
    finally:
        pipeline._stop(up)
    print(f"load average after: {pipeline._load()}")
    samples = found["memory_samples"]
    minutes = [10 * n / 60 for n in range(len(samples))]
    slope = statistics.linear_regression(minutes, samples).slope if len(samples) > 1 else 0.0
    print(
        f"open loop, embedded default: {found['offered']} calls offered at {found['offered_rate']:.1f}/s"
        f" for {seconds:.0f} s; {found['accepted']} accepted, {found['refused']} refused,"
        f" {found['failed']} not answered; call to answer p50 {found['answer_p50_ms']:.0f} ms,"
        f" p99 {found['answer_p99_ms']:.0f} ms; accepted to finished p50 {found['p50_ms']:.0f} ms,"
        f" p99 {found['p99_ms']:.0f} ms; {found['lost']} lost, {found['failed_jobs']} failed"
    )
    print("resident memory (RSS MB) every 10 s: " + " ".join(f"{value:.0f}" for value in samples))
    print(
        f"memory: {samples[0]:.0f} MB after the warm-up, {max(samples):.0f} MB at most, {samples[-1]:.0f} MB"
        f" at the end ({samples[-1] - samples[0]:+.0f} MB; a straight line through the samples rises"
        f" {slope:+.2f} MB a minute)"
    )
    for process in processes:
        print(f"  {process['pid']:>7} {process['name']:<48} RSS {process['rss_mb']:>6.0f} MB")
    return 1 if found["lost"] else 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    raise SystemExit(
        main(float(arguments[0]) if arguments else 600.0, float(arguments[1]) if len(arguments) > 1 else 40.0)
    )
