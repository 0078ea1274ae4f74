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

from causeway.audit.refusals import shared_count_add, shared_count_get

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


@dataclass(frozen=True)
class _Window:
    limit: int
    seconds: int
    key: str
    # When the count may go: its window's end, and a little grace.
    expires: datetime
    reset: int


def _windows(client: Any, endpoint: Any, moment: float) -> list[_Window]:
    found = []
    owners = [(client, f"client:{client.id}")]
    if endpoint is not None:
        owners.append((endpoint, f"endpoint:{endpoint.id}"))
    for owner, name in owners:
        for limit, seconds in ((owner.rate_per_second, SECOND), (owner.quota_per_day, DAY)):
            if limit:
                index = int(moment // seconds)
                ends = float((index + 1) * seconds)
                reset = max(1, math.ceil(ends - moment))
                key = f"apicall:{name}:{seconds}:{index}"
                expires = datetime.fromtimestamp(ends, tz=UTC) + _GRACE
                found.append(_Window(int(limit), seconds, key, expires, reset))
    return found


def _verdict(windows: list[_Window], counts: list[int], exceeded: bool) -> Verdict:
    remaining, _reset, window = min(
        ((max(0, w.limit - count), -w.reset, w) for w, count in zip(windows, counts, strict=True)),
        key=lambda item: item[:2],
    )
    headers = {
        "RateLimit-Limit": str(window.limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(window.reset),
        "RateLimit-Policy": f"{window.limit};w={window.seconds}",
    }
    if not exceeded:
        return Verdict(exceeded=False, headers=headers)
    retry = max(w.reset for w, count in zip(windows, counts, strict=True) if count >= w.limit)
    return Verdict(exceeded=True, headers={**headers, "Retry-After": str(retry)}, retry_after=retry)


def limits_check(*, client: Any, endpoint: Any = None, now: datetime) -> Verdict:
    """Count this call against each limit of the client (and of the endpoint, when it calls one), and say
    whether it may go on.

    A call refused for one limit counts against none: a client past its rate does not use up its own
    quota, nor the endpoint's, by calling again. A call already past a limit costs a read of each count;
    two calls taking the last place at once both count, and the one found over gives its places back."""
    moment = now.timestamp()
    windows = _windows(client, endpoint, moment)
    if not windows:
        return Verdict(exceeded=False, headers={})
    counts = [shared_count_get(w.key) for w in windows]
    if any(count >= w.limit for w, count in zip(windows, counts, strict=True)):
        return _verdict(windows, counts, exceeded=True)
    added = [shared_count_add(w.key, now=now, expires_at=w.expires) for w in windows]
    if any(count > w.limit for w, count in zip(windows, added, strict=True)):
        for w in windows:
            shared_count_add(w.key, now=now, expires_at=w.expires, amount=-1)
        return _verdict(windows, [count - 1 for count in added], exceeded=True)
    return _verdict(windows, added, exceeded=False)
