"""The open loop's load generator, in a process of its own: signed webhook calls offered at a fixed rate
for a fixed time, each sent at its due time whatever the earlier ones' answers.

One asyncio loop over HTTP keep-alive connections, so the generator needs neither a thread per call
nor the bench process's CPU (which also serves the flow's target): the offered rate is the one asked
for, and the run says how late calls left if it was not. Prints one JSON line:

    python -m bench.openloop URL TOKEN SECRET RATE SECONDS

with the job ids of the accepted calls, the refused and failed counts, the rate really offered, how
late calls left (p99) and each call's time to its answer (p50, p99).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import uuid
from typing import Any

# Calls in flight at once; a call past this many waits for a free one (counted in its answer time).
CONNECTIONS = 64


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


async def offer(url: str, token: str, secret: str, rate: float, seconds: float) -> dict[str, Any]:
    import httpx

    from causeway.runs.webhooks import sign

    total = int(rate * seconds)
    ids: list[str] = []
    refused: list[int] = []
    failed: list[str] = []
    answered_ms: list[float] = []
    late_ms: list[float] = []
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(verify=False, timeout=60, limits=limits) as client:  # noqa: S501  # nosec B501
        in_flight = asyncio.Semaphore(CONNECTIONS)

        async def one(n: int) -> None:
            due = time.perf_counter()
            # Signed once a connection is free: a call that waited for one is late (counted in its
            # answer time), never refused for a signature that aged in the generator's own queue.
            async with in_flight:
                body = json.dumps(
                    {"email": f"Open{n}@Example.com", "n": n, "call": uuid.uuid4().hex}
                ).encode()
                headers = {
                    "Content-Type": "application/json",
                    "X-Causeway-Signature": sign(secret, int(time.time()), body),
                }
                try:
                    answer = await client.post(f"{url}/hooks/{token}", content=body, headers=headers)
                except httpx.HTTPError as exc:
                    failed.append(type(exc).__name__)
                    return
            answered_ms.append((time.perf_counter() - due) * 1000)
            if answer.status_code == 202:
                ids.append(answer.json()["job"])
            else:
                refused.append(answer.status_code)

        calls = []
        start = time.perf_counter()
        for n in range(total):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            late_ms.append(max(0.0, time.perf_counter() - due) * 1000)
            calls.append(asyncio.create_task(one(n)))
        offered_for = time.perf_counter() - start
        await asyncio.gather(*calls)
    return {
        "offered": total,
        "offered_rate": total / offered_for,
        "late_p99_ms": _percentile(late_ms, 0.99),
        "ids": ids,
        "refused": len(refused),
        "failed": len(failed),
        "answer_p50_ms": statistics.median(answered_ms) if answered_ms else 0.0,
        "answer_p99_ms": _percentile(answered_ms, 0.99),
    }


def main(argv: list[str]) -> None:
    import django

    django.setup()
    url, token, secret, rate, seconds = argv
    print(json.dumps(asyncio.run(offer(url, token, secret, float(rate), float(seconds)))))


if __name__ == "__main__":
    main(sys.argv[1:])
