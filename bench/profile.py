"""Flame graphs of the embedded default under the 32-client load: `python -m bench.profile <prefix>`.

Starts `causeway up` in a fresh data directory, sends the pipeline flow's webhook calls from 32 clients,
and records each Causeway process with py-spy (from PyPI; not a dependency of Causeway: put it on PATH
or name it in PY_SPY) while the load runs, twice: every thread's time, waits included
(`bench/profiles/<prefix>-<process>-<pid>.svg`), and the samples that held the interpreter's lock, which
is where the CPU goes (`...-gil.svg`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SECONDS = 20
ROOT = Path(__file__).resolve().parent.parent


def main(prefix: str) -> None:
    spy = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if not spy:
        raise SystemExit("profile: py-spy not found (pip install py-spy, or set PY_SPY)")
    home = tempfile.mkdtemp(prefix="causeway-profile-")
    os.environ.update(
        {
            "CAUSEWAY_HOME": home,
            "DJANGO_SETTINGS_MODULE": "causeway.settings",
            "CAUSEWAY_LOG_LEVEL": "WARNING",
        }
    )
    env = {**os.environ}
    subprocess.run([sys.executable, "-m", "causeway", "init", "--no-admin"], cwd=ROOT, env=env, check=True)
    import django

    django.setup()
    from http.server import ThreadingHTTPServer

    from bench import pipeline

    server = ThreadingHTTPServer(("127.0.0.1", 0), pipeline._Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token, secret, _ = pipeline._setup(f"http://127.0.0.1:{server.server_address[1]}")
    port = pipeline._free_port()
    url = f"https://127.0.0.1:{port}"
    up = pipeline._process(
        [sys.executable, "-m", "causeway", "up", "--bind", f"127.0.0.1:{port}"], env, Path(home) / "up.log"
    )
    try:
        pipeline._ready(url, [sys.executable, "-m", "causeway"], env)
        pipeline._measure(url, token, secret, 20, 4)
        load = threading.Thread(
            target=pipeline._fire, args=(url, token, secret, 3000, pipeline.CLIENTS), daemon=True
        )
        load.start()
        recorders = []
        out = ROOT / "bench" / "profiles"
        out.mkdir(exist_ok=True)
        for pid in pipeline._descendants([up.pid])[1:]:
            name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[3].decode()
            # Where the time goes, waits included; and where the CPU goes (samples holding the GIL).
            for mode, suffix in (("--idle", ""), ("--gil", "-gil")):
                target = out / f"{prefix}-{name}-{pid}{suffix}.svg"
                recorders.append(
                    subprocess.Popen(  # noqa: S603  # py-spy, named by the operator
                        [
                            spy,
                            "record",
                            "--nonblocking",
                            mode,
                            "-d",
                            str(SECONDS),
                            "-o",
                            str(target),
                            "-p",
                            str(pid),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        for recorder in recorders:
            recorder.wait()
    finally:
        pipeline._stop(up)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "profile")
