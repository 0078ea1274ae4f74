"""Rate limits and quotas of API calls: per client and per endpoint, per second and per day.

Each limit counts calls in fixed windows (one second, one UTC day) in a count every web process shares:
the database in the embedded default, Redis at scale (`audit.refusals.shared_count_add`, where the
refusal throttles and connections' rate budgets keep theirs). A call past any of its limits is answered
429 with `Retry-After`; every answer carries the tightest limit in the `RateLimit-*` headers
(`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` in seconds, and `RateLimit-Policy`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from causeway.audit.refusals import shared_count_add

SECOND = 1
DAY = 86_400
MAX_RATE = 100_000
MAX_QUOTA = 1_000_000_000
# Counts outlive their window a little, so a slow call near its end still finds its count.
_GRACE = timedelta(seconds=60)


@dataclass(frozen=True)
class Verdict:
    """What the tightest limit says of this call: `exceeded` when it is past one (then `retry_after`)."""

    exceeded: bool
    headers: dict[str, str]
    retry_after: int = 0


def _limits(client: Any, endpoint: Any) -> list[tuple[str, int, int]]:
    found = []
    for owner, name in ((client, f"client:{client.id}"), (endpoint, f"endpoint:{endpoint.id}")):
        if owner.rate_per_second:
            found.append((name, int(owner.rate_per_second), SECOND))
        if owner.quota_per_day:
            found.append((name, int(owner.quota_per_day), DAY))
    return found


def limits_check(*, client: Any, endpoint: Any, now: datetime) -> Verdict:
    """Count this call against each limit of the client and the endpoint, and say whether it may go on."""
    moment = now.timestamp()
    tightest: tuple[int, int, int, int] | None = None  # remaining, limit, reset, window
    exceeded_reset = 0
    for name, limit, window in _limits(client, endpoint):
        index = int(moment // window)
        ends = (index + 1) * window
        count = shared_count_add(
            f"apicall:{name}:{window}:{index}",
            now=now,
            expires_at=datetime.fromtimestamp(ends, tz=UTC) + _GRACE,
        )
        reset = max(1, math.ceil(ends - moment))
        remaining = max(0, limit - count)
        if count > limit:
            exceeded_reset = max(exceeded_reset, reset)
        if tightest is None or (remaining, -reset) < (tightest[0], -tightest[2]):
            tightest = (remaining, limit, reset, window)
    if tightest is None:
        return Verdict(exceeded=False, headers={})
    remaining, limit, reset, window = tightest
    headers = {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
        "RateLimit-Policy": f"{limit};w={window}",
    }
    if exceeded_reset:
        return Verdict(
            exceeded=True, headers={**headers, "Retry-After": str(exceeded_reset)}, retry_after=exceeded_reset
        )
    return Verdict(exceeded=False, headers=headers)
