"""Refused calls per source: counted, throttled past an allowance, and audited once per interval with a count.

Anyone who can make a call be refused could otherwise grow the audit chain without bound, one event
per call. So each kind of refused call (a badly signed webhook call, a bad API token) is counted per
source in fixed intervals of THROTTLE_INTERVAL_SECONDS:

- the first refusal of a source in an interval is on the audit chain at once;
- the others are only counted; once the interval has closed, one event records how many there were
  (written by the periodic flush, or by the source's next refusal, whichever comes first);
- past its allowance in an interval, the source's further calls of that kind are answered 429 before
  they are examined (no token lookup, no signature check), and are counted and audited the same way,
  under the throttle's own action.

The counts are shared by every process: in the database (`RefusalCount`), or in Redis at scale
(settings.CACHE_URL). A source is the client's address, as the audit log records it; an IPv6 address
counts by its /64, the least a single host is usually given.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from causeway.audit import context
from causeway.audit.models import Outcome, RefusalCount, RefusalTally
from causeway.audit.services import ANONYMOUS, HasAuditTarget, audit_record
from causeway.db.prepared import PreparedSelect

logger = logging.getLogger(__name__)

REDIS_KEY_PREFIX = "causeway:refusals:"
# How long an interval's count outlives the interval, so a late flush still finds it.
_COUNT_GRACE = timedelta(days=1)
UNKNOWN_SOURCE = "unknown"


@dataclass(frozen=True)
class Throttle:
    """One kind of refused call: how many a source may have refused per interval before it is throttled."""

    name: str
    limit_setting: str
    # The audit action of the calls answered 429 because of it.
    throttled_action: str

    @property
    def limit(self) -> int:
        return int(getattr(settings, self.limit_setting))


WEBHOOK_SIGNATURES = Throttle("webhook", "THROTTLE_WEBHOOK_REFUSALS", "webhook.throttled")
API_TOKENS = Throttle("api-token", "THROTTLE_API_AUTH_FAILURES", "api.auth_throttled")
# Failed sign-ins from one address, whichever accounts they name: the per-account lockout (axes) never
# stops one address trying many accounts, each failure one audit event.
SIGN_INS = Throttle("sign-in", "THROTTLE_SIGN_IN_FAILURES", "auth.login_throttled")


class Throttled(Exception):
    """The source has had its allowance of refused calls for this interval; `retry_after` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        self.detail = f"too many refused calls from this address; retry after {retry_after} s"
        super().__init__(self.detail)


@dataclass(frozen=True)
class _Interval:
    index: int
    seconds: int

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.index * self.seconds, tz=UTC)

    @property
    def end(self) -> datetime:
        return datetime.fromtimestamp((self.index + 1) * self.seconds, tz=UTC)


def _interval(now: datetime) -> _Interval:
    seconds = int(settings.THROTTLE_INTERVAL_SECONDS)
    return _Interval(index=int(now.timestamp()) // seconds, seconds=seconds)


def source_of(address: str | None) -> str:
    """What a call from this address is counted against: the address, or an IPv6 address's /64."""
    if not address:
        return UNKNOWN_SOURCE
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return UNKNOWN_SOURCE
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


# --- the shared counts --------------------------------------------------------------------------


class _Counts(Protocol):
    def add(self, key: str, *, now: datetime, expires_at: datetime, amount: int = 1) -> int: ...

    def get(self, key: str) -> int | None: ...

    def forget(self, key: str) -> None: ...

    def purge(self, *, now: datetime) -> None: ...

    def forget_all(self) -> None: ...


class _DatabaseCounts:
    """Counts as rows: an UPDATE adds one under the row's lock (SQLite: the write lock), so none is lost."""

    # Every webhook call asks for its source's count: the read is compiled once per connection.
    _read = PreparedSelect(lambda key: RefusalCount.objects.only("count").filter(key=key), key=str)

    def add(self, key: str, *, now: datetime, expires_at: datetime, amount: int = 1) -> int:
        with transaction.atomic():
            if RefusalCount.objects.filter(key=key).update(count=F("count") + amount):
                return RefusalCount.objects.values_list("count", flat=True).get(key=key)
            if amount <= 0:
                # Nothing to take back from: the count has gone (purged past its expiry).
                return 0
            try:
                with transaction.atomic():
                    RefusalCount.objects.create(key=key, count=amount, expires_at=expires_at)
                return amount
            except IntegrityError:
                # Made at the same moment by another process.
                RefusalCount.objects.filter(key=key).update(count=F("count") + amount)
                return RefusalCount.objects.values_list("count", flat=True).get(key=key)

    def get(self, key: str) -> int | None:
        found = self._read.first(key=key)
        return None if found is None else found.count

    def forget(self, key: str) -> None:
        RefusalCount.objects.filter(key=key).delete()

    def purge(self, *, now: datetime) -> None:
        RefusalCount.objects.filter(expires_at__lte=now).delete()

    def forget_all(self) -> None:
        RefusalCount.objects.all().delete()


class _RedisCounts:
    """Counts as Redis integers: created with their expiry and incremented in one MULTI, read as numbers
    (never unpickled, so whoever can write to Redis cannot make a process run code)."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        # The installation's own prefix first: another installation may share this Redis database.
        self._prefix = settings.REDIS_KEY_PREFIX + REDIS_KEY_PREFIX

    def add(self, key: str, *, now: datetime, expires_at: datetime, amount: int = 1) -> int:
        name = self._prefix + key
        ttl = max(1, math.ceil((expires_at - now).total_seconds()))
        pipe = self._client.pipeline(transaction=True)
        pipe.set(name, 0, ex=ttl, nx=True)
        pipe.incrby(name, amount)
        return int(pipe.execute()[1])

    def get(self, key: str) -> int | None:
        value = self._client.get(self._prefix + key)
        return None if value is None else int(value)

    def forget(self, key: str) -> None:
        self._client.delete(self._prefix + key)

    def purge(self, *, now: datetime) -> None:
        """Nothing to do: Redis expires the keys itself."""

    def forget_all(self) -> None:
        # Only Causeway's counts: the broker may share this Redis database.
        for name in self._client.scan_iter(match=self._prefix + "*", count=1000):
            self._client.delete(name)


@functools.cache
def _counts_at(url: str) -> _Counts:
    if url == "database":
        return _DatabaseCounts()
    return _RedisCounts(url)


def _counts() -> _Counts:
    return _counts_at(settings.CACHE_URL)


def shared_count_add(key: str, *, now: datetime, expires_at: datetime, amount: int = 1) -> int:
    """Add `amount` (one; -1 takes one back) to a count shared by every process (the same store as the
    refusal counts: the database, or Redis at scale) and give its new value. For other fixed-interval
    counts, such as connections' rate budgets; `key` names its kind first (`budget:...`) so it meets no
    refusal count."""
    return _counts().add(key, now=now, expires_at=expires_at, amount=amount)


def shared_count_get(key: str) -> int:
    """A shared count's value (0 when nothing was counted)."""
    return _counts().get(key) or 0


def counts_forget_all() -> None:
    """Forget every count (for tests: Redis keeps them across a test's rolled-back transaction)."""
    _counts().forget_all()


def counts_in_database() -> bool:
    return bool(settings.CACHE_URL == "database")


# --- throttling and recording -------------------------------------------------------------------


def _limit_key(throttle: Throttle, source: str, interval: _Interval) -> str:
    return f"limit:{throttle.name}:{source}:{interval.index}"


def _current_source() -> str:
    return source_of(context.current().ip_address)


def throttle_check(throttle: Throttle, *, now: datetime | None = None) -> None:
    """Raise Throttled when the calling source has had its allowance of `throttle`'s refusals.

    Called before the call is examined, so it costs one read of a shared count; a throttled call adds
    one to another count, and only the first of its interval writes an audit event.
    """
    now = now or timezone.now()
    interval = _interval(now)
    source = _current_source()
    if (_counts().get(_limit_key(throttle, source, interval)) or 0) < throttle.limit:
        return
    _tally(
        action=throttle.throttled_action,
        source=source,
        interval=interval,
        now=now,
        target=None,
        workspace_id=None,
        details={"limit": throttle.limit, "interval_seconds": interval.seconds},
    )
    raise Throttled(retry_after=max(1, math.ceil((interval.end - now).total_seconds())))


def refusal_record(
    throttle: Throttle,
    *,
    action: str,
    target: HasAuditTarget | tuple[str, str, str] | None = None,
    workspace_id: uuid.UUID | str | None = None,
    details: dict[str, object] | None = None,
    now: datetime | None = None,
) -> None:
    """Count one refused call against the calling source's allowance, and audit it.

    Audited at once when it is the source's first such refusal (same action, workspace and target) in
    the interval; otherwise counted into the one event written when the interval closes.
    """
    now = now or timezone.now()
    interval = _interval(now)
    source = _current_source()
    _counts().add(_limit_key(throttle, source, interval), now=now, expires_at=interval.end)
    _tally(
        action=action,
        source=source,
        interval=interval,
        now=now,
        target=target,
        workspace_id=workspace_id,
        details=details or {},
    )


def refusal_count(throttle: Throttle, *, now: datetime | None = None) -> None:
    """Count one refused call against the calling source's allowance, leaving its audit to the caller.

    For refusals audited one by one (a failed sign-in is one event each): the allowance bounds how many
    a source can write per interval, and the throttled calls past it are aggregated as usual.
    """
    now = now or timezone.now()
    interval = _interval(now)
    _counts().add(_limit_key(throttle, _current_source(), interval), now=now, expires_at=interval.end)


def _target_tuple(target: HasAuditTarget | tuple[str, str, str] | None) -> tuple[str, str, str]:
    if target is None:
        return ("", "", "")
    if isinstance(target, tuple):
        return target
    return target.audit_target


def _tally(
    *,
    action: str,
    source: str,
    interval: _Interval,
    now: datetime,
    target: HasAuditTarget | tuple[str, str, str] | None,
    workspace_id: uuid.UUID | str | None,
    details: dict[str, object],
) -> None:
    target_type, target_id, target_label = _target_tuple(target)
    key = f"tally:{action}:{workspace_id or '-'}:{target_type}:{target_id}:{source}:{interval.index}"
    if _counts().add(key, now=now, expires_at=interval.end + _COUNT_GRACE) != 1:
        return
    # The first of its interval. What this source's closed intervals still owe the chain comes first.
    refusals_flush(now=now, source=source)
    try:
        with transaction.atomic():
            event = audit_record(
                actor=ANONYMOUS,
                action=action,
                target=(target_type, target_id, target_label),
                workspace_id=workspace_id,
                outcome=Outcome.DENIED,
                details={**details, "source": source},
            )
            RefusalTally.objects.create(
                key=key,
                source=source,
                ip_address=event.ip_address,
                action=action,
                workspace_id=event.workspace_id,
                target_type=target_type,
                target_id=target_id,
                target_label=target_label,
                opened_at=interval.start,
                closes_at=interval.end,
                first_event=event,
            )
    except IntegrityError:
        # The count restarted (Redis lost it) while the interval's tally stands: its first event is
        # on the chain already, so this one is rolled back with the duplicate.
        return


def refusals_flush(*, now: datetime | None = None, source: str | None = None) -> int:
    """Write one event for each closed interval that had refusals beyond its first; how many were written.

    Run by beat every interval, and for one source when that source is refused again.
    """
    now = now or timezone.now()
    closed = RefusalTally.objects.filter(closes_at__lte=now).select_related("first_event")
    if source is not None:
        closed = closed.filter(source=source)
    counts = _counts()
    written = 0
    for tally in closed.order_by("closes_at", "key"):
        with transaction.atomic():
            # Deleting the tally claims it: a flush racing this one deletes nothing and writes nothing.
            if not RefusalTally.objects.filter(pk=tally.pk).delete()[0]:
                continue
            total = counts.get(tally.key)
            if total is None:
                logger.warning("the count of refusals %s was lost; no aggregate event is written", tally.key)
            elif total > 1:
                _write_aggregate(tally, further=total - 1)
                written += 1
        counts.forget(tally.key)
    counts.purge(now=now)
    return written


def _write_aggregate(tally: RefusalTally, *, further: int) -> None:
    # Recorded as coming from the source, whatever request or task happens to write it.
    token = context.activate(
        context.RequestContext(request_id=f"refusals-{uuid.uuid4().hex}", ip_address=tally.ip_address)
    )
    try:
        audit_record(
            actor=ANONYMOUS,
            action=tally.action,
            target=(tally.target_type, tally.target_id, tally.target_label or ""),
            workspace_id=tally.workspace_id,
            outcome=Outcome.DENIED,
            details={
                "source": tally.source,
                "count": further,
                "interval_start": tally.opened_at.isoformat(),
                "interval_end": tally.closes_at.isoformat(),
                "first_seq": tally.first_event.seq,
            },
        )
    finally:
        context.deactivate(token)
