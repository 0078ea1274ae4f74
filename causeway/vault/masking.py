"""Masking: every known secret, credential and token value in a text becomes `[masked:NAME]`.

The registry is per process: values enter it where the process meets them (a secret resolved for a
step, a secret set through a page, a token created), and from the secret store (`SecretFeed`), so a
process masks what it could leak. Each value is also found in the forms it takes on its way out:
URL-encoded (as a path or a query, either case of hex digits), JSON-escaped, HTML-escaped (as a page
shows it), Python-escaped (as Django logs a request's path, as repr quotes it), and base64 (standard
and URL-safe alphabets) at each of the three alignments it can have inside a longer encoded text. Text
with percent-escapes is also decoded and searched, since clients escape different sets of characters.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
import uuid
from base64 import b64encode, urlsafe_b64encode
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

# Shorter values would mask half of every log line; shorter encoded fragments match by chance.
MIN_VALUE_LENGTH = 4
MIN_FORM_LENGTH = 4
# A long-running process meets many tokens; the oldest are forgotten first.
MAX_VALUES = 10_000

_HEX_ESCAPE = re.compile(r"%[0-9A-F]{2}")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.:@/-]")
# A run of URL text holding a percent-escape or a "+": clients escape different sets of characters (a
# browser leaves "+", "=" and "&" in a path as they are, a form may write a space as "+" and leave the
# rest), so such a run is also decoded and searched.
# Runs end at white space and at what no client leaves unescaped in a URL but JSON, HTML and log lines
# use as delimiters (split first, then searched piece by piece: linear, whatever the text).
_RUN_SEPARATORS = re.compile(r"([\s\"<>]+)")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# What a decoded run may show as it is. The rest (spaces, line breaks, the separators) is escaped again,
# so a masked run cannot break a log line, a JSON string or a page.
_SHOWN_AS_IS = "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum() and chr(c) not in '"<>')


def _base64_fragments(data: bytes, encode: Callable[[bytes], bytes]) -> set[str]:
    """The part of data's base64 that is the same wherever data starts relative to a 3-byte group."""
    found = set()
    for offset in range(3):
        encoded = encode(b"\0" * offset + data).decode("ascii")
        start = -(-8 * offset // 6)  # the first character made only from data's bits
        end = 8 * (offset + len(data)) // 6  # the last character made only from data's bits
        found.add(encoded[start:end])
    return found


def encoded_forms(value: str) -> set[str]:
    """Every form of value that masking looks for."""
    forms = {value}
    for quoted in (quote(value, safe=""), quote(value), quote_plus(value)):
        forms.add(quoted)
        forms.add(_HEX_ESCAPE.sub(lambda match: match.group(0).lower(), quoted))
    for escaped in (json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
        forms.add(escaped)
        forms.add(escaped.replace("/", "\\/"))
    # As Django's templates escape it (html.escape), and as text outside attributes is often escaped.
    forms.add(html.escape(value))
    forms.add(html.escape(value, quote=False))
    # As Python escapes it: Django logs each 4xx/5xx path with unicode_escape, and messages quote with repr.
    forms.add(value.encode("unicode_escape").decode("ascii"))
    forms.add(repr(value)[1:-1])
    forms.add(ascii(value)[1:-1])
    data = value.encode("utf-8")
    forms |= _base64_fragments(data, b64encode)
    forms |= _base64_fragments(data, urlsafe_b64encode)
    return {form for form in forms if len(form) >= MIN_FORM_LENGTH}


class MaskRegistry:
    """Known values and the name each is masked as; one compiled pattern, rebuilt when values change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: OrderedDict[str, str] = OrderedDict()
        self._pattern: re.Pattern[str] | None = None
        self._names: dict[str, str] = {}
        # Bumped whenever values are dropped, so a feed knows it must register everything again.
        self.generation = 0

    def register(self, name: str, value: str) -> None:
        if len(value) < MIN_VALUE_LENGTH:
            return
        label = _UNSAFE_NAME.sub("_", name)[:100] or "secret"
        with self._lock:
            if self._values.get(value) == label:
                self._values.move_to_end(value)
                return
            self._values[value] = label
            self._values.move_to_end(value)
            while len(self._values) > MAX_VALUES:
                self._values.popitem(last=False)
                self.generation += 1
            self._pattern = None

    def forget(self, value: str) -> None:
        with self._lock:
            if self._values.pop(value, None) is not None:
                self._pattern = None
                self.generation += 1

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None
            self.generation += 1

    def __len__(self) -> int:
        return len(self._values)

    def _compiled(self) -> tuple[re.Pattern[str] | None, dict[str, str]]:
        with self._lock:
            if self._pattern is None and self._values:
                names: dict[str, str] = {}
                for value, label in self._values.items():
                    for form in encoded_forms(value):
                        names.setdefault(form, label)
                # Longest first, so a value containing another is masked whole.
                ordered = sorted(names, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(form) for form in ordered))
                self._names = names
            return self._pattern, self._names

    def mask(self, text: str) -> str:
        pattern, names = self._compiled()
        if pattern is None:
            return text

        def substitute(piece: str) -> str:
            return pattern.sub(lambda match: f"[masked:{names[match.group(0)]}]", piece)

        masked = substitute(text)
        if "+" not in masked and not _PERCENT_ESCAPE.search(masked):
            return masked
        return "".join(
            _masked_run(piece, substitute) if "+" in piece or _PERCENT_ESCAPE.search(piece) else piece
            for piece in _RUN_SEPARATORS.split(masked)
        )


def _masked_run(run: str, substitute: Callable[[str], str]) -> str:
    """An escaped run, decoded and masked if it hides a known value in an escaping of its own."""
    for decode in (unquote, unquote_plus):
        plain = decode(run)
        cleaned = substitute(plain)
        if cleaned != plain:
            return quote(cleaned, safe=_SHOWN_AS_IS)
    return run


registry = MaskRegistry()


def register_value(name: str, value: str) -> None:
    """Mask value as `[masked:NAME]` in everything this process logs or answers from now on."""
    registry.register(name, value)


def forget_value(value: str) -> None:
    registry.forget(value)


def mask(text: str) -> str:
    return registry.mask(text)


FEED_INTERVAL_SECONDS = 1.0
# A secret's updated_at is taken inside its transaction, before the commit that makes it visible, so a
# row can appear with a time a little older than the previous feed: each feed looks back this far.
FEED_OVERLAP = timedelta(minutes=5)
_logger = logging.getLogger(__name__)


class SecretFeed:
    """Registers the value of every workspace secret, in a process that did not set or resolve it.

    A web or worker process may print a value it never handled itself: a caller pastes a secret into a
    request, a job's data carries one back. So each process registers what the store holds: everything
    on its first feed, then only rows changed since (one query of ids and times; only new or replaced
    values are opened). Callers throttle with `max_age`; the first feed after a `registry.clear()`
    registers everything again.
    """

    def __init__(self, target: MaskRegistry) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._generation = -1
        self._since: datetime | None = None
        self._fed_at = 0.0
        self._seen: dict[uuid.UUID, datetime] = {}

    def feed(self, *, max_age: float = 0.0) -> int:
        """How many values were registered; 0 when fed less than max_age seconds ago.

        Never raises: a process whose database is away (or not yet migrated) keeps what it has, and a
        feed inside a broken transaction waits for the next call.
        """
        from django.db import DatabaseError, connection, transaction
        from django.utils import timezone

        from causeway.vault.models import Secret  # here: logging imports this module before the apps load

        with self._lock:
            if self._generation != self._target.generation:
                self._generation = self._target.generation
                self._since = None
                self._seen.clear()
            elif time.monotonic() - self._fed_at < max_age:
                return 0
            if connection.in_atomic_block and connection.needs_rollback:
                return 0  # the caller's transaction is broken; the next feed catches up
            started = timezone.now()
            rows = Secret.objects.all()
            if self._since is not None:
                rows = rows.filter(updated_at__gte=self._since - FEED_OVERLAP)

            def read() -> list[Any]:
                changed = [pk for pk, at in rows.values_list("id", "updated_at") if self._seen.get(pk) != at]
                if not changed:
                    return []
                fields = ("id", "workspace_id", "name", "value", "updated_at")
                return list(Secret.objects.filter(pk__in=changed).only(*fields))

            try:
                if connection.in_atomic_block:
                    # A savepoint, so a failed read cannot break the caller's transaction.
                    with transaction.atomic():
                        fresh = read()
                else:
                    # No transaction of our own: on SQLite it would take the write lock.
                    fresh = read()
            except DatabaseError as exc:
                _logger.warning("masking: could not read the secrets to mask (%s)", type(exc).__name__)
                return 0
            registered = 0
            for secret in fresh:
                if self._register(secret):
                    registered += 1
            self._since = started
            self._fed_at = time.monotonic()
            # Registering may have evicted old values; what was seen is still right for the rest.
            self._generation = self._target.generation
            return registered

    def _register(self, secret: Any) -> bool:
        try:
            value = secret.value
        except Exception as exc:
            # A value that does not open is rotation's to report (it names the record); masking goes on.
            _logger.warning("masking: secret %s did not open (%s)", secret.id, type(exc).__name__)
            return False
        self._target.register(secret.name, value)
        self._seen[secret.id] = secret.updated_at
        return True


_feed = SecretFeed(registry)


def feed_from_secrets(*, max_age: float = FEED_INTERVAL_SECONDS) -> int:
    """Register the workspace secrets set since this process last looked (at most every max_age s)."""
    return _feed.feed(max_age=max_age)


def feed_on_request(sender: Any, **kwargs: Any) -> None:
    """`request_started` receiver: a web process masks secrets set by any other process."""
    feed_from_secrets()


def mask_text(text: str, *, fresh: bool = True) -> str:
    """Mask text about to leave the process (an error page, an API answer), after a feed if fresh."""
    if fresh:
        feed_from_secrets()
    return mask(text)


class MaskingFilter(logging.Filter):
    """Masks a record's message (after formatting its arguments), its traceback and its stack.

    Attach it to every handler (`LOGGING["handlers"][...]["filters"]`), not only to loggers: records
    propagated from child loggers skip their parents' logger filters but never their handlers'.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A log call with arguments that do not fit its format: keep what is there, masked.
            message = f"{record.msg} {record.args!r}"
        record.msg = mask(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


def attach_masking_filter() -> int:
    """Add a MaskingFilter to every handler of every logger that lacks one; how many were added.

    For handlers created outside Django's LOGGING setting (Celery's, gunicorn's), after they exist.
    """
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        item for item in logging.Logger.manager.loggerDict.values() if isinstance(item, logging.Logger)
    ]
    added = 0
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(existing, MaskingFilter) for existing in handler.filters):
                handler.addFilter(MaskingFilter())
                added += 1
    return added
