"""The pipeline bench's other measures, each against processes `bench.pipeline` started:

- answering the caller: a webhook set to respond with the result, one client, request to answer;
- an open loop: calls offered at a fixed rate whatever the answers, accepted to finished, none lost;
- the engine's own cost per step: a job of 40 light steps (map and condition), run in this process.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from typing import Any

OVERHEAD_STEPS = 40


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def respond_recipe(recipe: Any, *, tried_once: bool = True) -> tuple[str, str]:
    """A copy of the pipeline's recipe whose webhook answers with the HTTP call's result.

    `tried_once`: its HTTP call has no retries (a caller who waits for the answer retries the call
    itself), so its steps cannot outlast the wait and its job runs in the call's own thread; otherwise
    in one of the web process's job threads."""
    from causeway.recipes.services import recipe_create
    from causeway.runs.models import WebhookEndpoint
    from causeway.runs.triggers import recipe_start
    from causeway.runs.webhooks import webhook_secret_rotate

    admin = _admin(recipe)
    definition = dict(recipe.current_version.definition)
    definition["trigger"] = {"type": "webhook", "respond": True}
    if tried_once:
        definition["steps"] = [
            {**step, "retries": 0} if step.get("type") == "http" else step for step in definition["steps"]
        ]
    answering = recipe_create(
        actor=admin,
        workspace=recipe.workspace,
        project=recipe.project,
        name="Webhook to CRM, answered" + ("" if tried_once else " (retried calls)"),
        definition=definition,
    )
    recipe_start(actor=admin, recipe=answering)
    secret = webhook_secret_rotate(actor=admin, recipe=answering)
    return WebhookEndpoint.objects.get(recipe=answering).token, secret


def _admin(recipe: Any) -> Any:
    from causeway.workspaces.models import Membership

    return Membership.objects.filter(workspace=recipe.workspace).select_related("user").first().user


def respond_latency(url: str, hooks: list[tuple[str, str]], calls: int) -> list[dict[str, float]]:
    """One client: request sent to answer received, for calls answered with the job's result, one figure
    per webhook (token, secret) of `hooks`, their calls taken in turn so that each meets the same load."""
    import httpx

    from causeway.runs.webhooks import sign

    latencies: list[list[float]] = [[] for _ in hooks]
    with httpx.Client(verify=False, timeout=60) as client:  # noqa: S501  # nosec B501
        for n in range(calls + 10):
            for index, (token, secret) in enumerate(hooks):
                body = json.dumps(
                    {"email": f"Answer{n}@Example.com", "n": n, "call": uuid.uuid4().hex}
                ).encode()
                headers = {
                    "Content-Type": "application/json",
                    "X-Causeway-Signature": sign(secret, int(time.time()), body),
                }
                start = time.perf_counter()
                answer = client.post(f"{url}/hooks/{token}", content=body, headers=headers)
                elapsed = (time.perf_counter() - start) * 1000
                if answer.status_code != 200:
                    raise RuntimeError(f"an answered call got {answer.status_code}: {answer.text[:200]}")
                if n >= 10:  # the first ten warm the connection and the caches
                    latencies[index].append(elapsed)
    return [
        {
            "calls_per_second": 1000 / statistics.mean(taken),
            "p50_ms": statistics.median(taken),
            "p99_ms": _percentile(taken, 0.99),
        }
        for taken in latencies
    ]


def open_loop(
    url: str, token: str, secret: str, *, rate: float, seconds: float, sample: Any = None
) -> dict[str, Any]:
    """Calls offered at `rate` a second for `seconds` by `bench.openloop` (a process of its own), each at
    its time whatever the others do; accepted (the job row's creation) to finished, and how many
    accepted jobs never finished (lost). `sample` is called every ten seconds meanwhile (memory)."""
    import os
    import subprocess
    import sys

    from causeway.runs.models import FINISHED, Job

    generator = subprocess.Popen(  # noqa: S603  # this interpreter, the bench's own module
        [sys.executable, "-m", "bench.openloop", url, token, secret, str(rate), str(seconds)],
        env={**os.environ},
        stdout=subprocess.PIPE,
        text=True,
    )
    samples: list[Any] = []
    while True:
        if sample is not None:
            samples.append(sample())
        try:
            out, _ = generator.communicate(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    if generator.returncode != 0:
        raise RuntimeError(f"the open loop's generator exited with {generator.returncode}")
    offered = json.loads(out.strip().splitlines()[-1])
    ids = offered.pop("ids")
    # Every accepted job must finish; one that has not within two minutes of the last call is lost.
    deadline = time.monotonic() + 120
    while Job.objects.filter(pk__in=ids).exclude(status__in=FINISHED).exists():
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if sample is not None:
        samples.append(sample())
    jobs = list(Job.objects.filter(pk__in=ids).only("status", "created_at", "finished_at"))
    finished = [job for job in jobs if job.status in FINISHED]
    latencies = [(job.finished_at - job.created_at).total_seconds() * 1000 for job in finished]
    return {
        **offered,
        "accepted": len(ids),
        "lost": len(ids) - len(finished),
        "failed_jobs": sum(1 for job in finished if job.status != "succeeded"),
        "p50_ms": statistics.median(latencies) if latencies else 0.0,
        "p99_ms": _percentile(latencies, 0.99) if latencies else 0.0,
        "memory_samples": samples,
    }


def step_overhead(recipe: Any, runs: int = 20) -> dict[str, float]:
    """A job of 40 light steps, alternately a mapping and a condition, run here start to finish: its
    duration per step (claim, history written and sealed twice, finish included)."""
    from causeway.recipes.services import recipe_create
    from causeway.runs import runtime
    from causeway.runs.models import Job
    from causeway.runs.services import job_create

    admin = _admin(recipe)
    steps: list[dict[str, Any]] = []
    for n in range(OVERHEAD_STEPS):
        if n % 2 == 0:
            steps.append(
                {"id": f"m{n}", "type": "map", "fields": {"value": "{{ trigger.n + " + str(n) + " }}"}}
            )
        else:
            steps.append({"id": f"c{n}", "type": "condition", "if": f"steps.m{n - 1}.value > 0"})
    light = recipe_create(
        actor=admin,
        workspace=recipe.workspace,
        project=recipe.project,
        name="Forty light steps",
        definition={"trigger": {"type": "manual"}, "steps": steps},
    )
    per_step: list[float] = []
    for n in range(runs + 2):
        job = job_create(actor=admin, recipe=light, trigger_type="manual", payload={"n": n}, is_test=True)
        # The job was also handed to the broker; the claim here wins or the bench is wrong.
        start = time.perf_counter()
        outcome = runtime.run(job.pk)
        elapsed = time.perf_counter() - start
        if outcome != "succeeded":
            raise RuntimeError(f"the 40-step job ended {outcome}: {Job.objects.get(pk=job.pk).error}")
        if n >= 2:
            per_step.append(elapsed * 1000 / OVERHEAD_STEPS)
    return {
        "ms_per_step": statistics.median(per_step),
        "ms_per_job": statistics.median(per_step) * OVERHEAD_STEPS,
    }
