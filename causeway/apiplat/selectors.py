"""Reads of the API platform: usage per client and endpoint (calls, errors, latency percentiles)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from causeway.apiplat.models import ApiCall, ApiCollection, ApiRefusals

MAX_DAYS = 90
# What usage is counted per: endpoint (with its method and path), client (with its name), environment.
_GROUP = (
    "endpoint_id",
    "endpoint__method",
    "endpoint__path",
    "client_id",
    "client__service_account__name",
    "environment",
)
_PURGE_CHUNK = 5000


@dataclass(frozen=True)
class Usage:
    endpoint_id: str
    method: str
    path: str
    client_id: str
    client: str
    environment: str
    calls: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


def _percentile(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of an ordered list (0 for an empty one: only refused calls)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(share * len(ordered)))
    return round(ordered[rank - 1], 1)


def collection_usage(*, collection: ApiCollection, days: int = 7) -> list[Usage]:
    """Calls to the collection over the last `days` days, per endpoint, client and environment.

    The caller has read the collection through `services.collection_get`. An error is an answer of 400 or
    more (refused calls and failed jobs alike, calls refused for a limit counted by the day); latency
    is the time the call took in the web process."""
    since = timezone.now() - timedelta(days=max(1, min(days, MAX_DAYS)))
    rows = (
        ApiCall.objects.filter(endpoint__collection=collection, at__gte=since)
        .values_list(*_GROUP, "status", "latency_ms")
        .order_by()
    )
    groups: dict[tuple[Any, ...], list[tuple[int, float]]] = {}
    for endpoint_id, method, path, client_id, client, environment, status, latency in rows.iterator():
        key = (str(endpoint_id), method, path, str(client_id), client, environment)
        groups.setdefault(key, []).append((status, latency))
    # Calls refused for a limit are tallied per day, not recorded one by one: errors with no latency.
    refused: dict[tuple[Any, ...], int] = {}
    tallies = (
        ApiRefusals.objects.filter(endpoint__collection=collection, day__gte=since.date())
        .values_list(*_GROUP)
        .annotate(refused=Sum("count"))
        .order_by()
    )
    for endpoint_id, method, path, client_id, client, environment, count in tallies:
        key = (str(endpoint_id), method, path, str(client_id), client, environment)
        refused[key] = int(count or 0)
        groups.setdefault(key, [])
    found = []
    for (endpoint_id, method, path, client_id, client, environment), calls in sorted(
        groups.items(), key=lambda item: (item[0][2], item[0][1], item[0][4], item[0][5])
    ):
        latencies = sorted(latency for _, latency in calls)
        more = refused.get((endpoint_id, method, path, client_id, client, environment), 0)
        found.append(
            Usage(
                endpoint_id=endpoint_id,
                method=method,
                path=path,
                client_id=client_id,
                client=client,
                environment=environment,
                calls=len(calls) + more,
                errors=sum(1 for status, _ in calls if status >= 400) + more,
                p50_ms=_percentile(latencies, 0.50),
                p95_ms=_percentile(latencies, 0.95),
                p99_ms=_percentile(latencies, 0.99),
            )
        )
    return found


def calls_purge(now: datetime | None = None) -> int:
    """Forget the calls (and the tallies of refused ones) older than API_CALL_RETENTION_DAYS: beat's daily
    purge runs it. The number of rows deleted."""
    before = (now or timezone.now()) - timedelta(days=settings.API_CALL_RETENTION_DAYS)
    deleted = 0
    while ids := list(ApiCall.objects.filter(at__lt=before).values_list("pk", flat=True)[:_PURGE_CHUNK]):
        deleted += ApiCall.objects.filter(pk__in=ids).delete()[0]
    deleted += ApiRefusals.objects.filter(day__lt=before.date()).delete()[0]
    return deleted
