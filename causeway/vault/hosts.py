"""Host names and host patterns: the one normal form and the one matcher for every allowed-hosts list.

A list of allowed hosts (a secret's destinations, a workspace's outbound exceptions) holds host names,
IP addresses and `*.domain` patterns (the domain's subdomains, not the domain itself). The matcher
knows one meaning: a host is allowed when an entry names it, so an empty list allows nothing. Where an
empty list stands for "no restriction", the caller says so in its own words before asking.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError

_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
WILDCARD = "*."


def normalize_host(host: str) -> str:
    """A destination host in one canonical form; ValueError when it is not a host name or address.

    Lower case, no trailing dot, IDNA (punycode) for names, the compressed form for addresses (IPv6
    with or without brackets). A port, a path or a user part is not a host and is refused.
    """
    text = host.strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        pass
    try:
        ascii_name = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{host!r} is not a host name") from None
    if not ascii_name or len(ascii_name) > 253 or not all(_LABEL.fullmatch(p) for p in ascii_name.split(".")):
        raise ValueError(f"{host!r} is not a host name")
    return ascii_name


def normalize_pattern(entry: str) -> str:
    """One allowed-hosts entry in canonical form: a host, an address or `*.domain`; ValueError otherwise."""
    text = entry.strip()
    if not text.startswith(WILDCARD):
        return normalize_host(text)
    domain = normalize_host(text[len(WILDCARD) :])
    if _is_address(domain):
        raise ValueError(f"{entry!r}: a wildcard takes a domain, not an address")
    return WILDCARD + domain


def clean_patterns(entries: object, *, field: str, limit: int) -> list[str]:
    """An allowed-hosts list as given by a person, normalised and without repeats; a ValidationError
    naming `field` for anything that is not a list of entries, or for more than `limit` of them."""
    if isinstance(entries, str) or not isinstance(entries, list | tuple):
        raise ValidationError({field: "a list of host names"})
    cleaned: list[str] = []
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip():
            raise ValidationError({field: "each allowed host is a host name, *.domain or an IP address"})
        try:
            pattern = normalize_pattern(entry)
        except ValueError as exc:
            raise ValidationError({field: str(exc)}) from None
        if pattern not in cleaned:
            cleaned.append(pattern)
    if len(cleaned) > limit:
        raise ValidationError({field: f"at most {limit} allowed hosts"})
    return cleaned


def host_allowed(host: str, patterns: Iterable[object] | None) -> bool:
    """Whether an entry of the list names host. An empty list allows nothing; a host that is not a
    host name is never allowed; entries are compared in normal form, so case, a trailing dot, IDNA
    and IPv6 brackets make no difference on either side."""
    try:
        name = normalize_host(host)
    except ValueError:
        return False
    for entry in patterns or ():
        if not isinstance(entry, str):
            continue
        try:
            pattern = normalize_pattern(entry)
        except ValueError:
            continue
        if pattern.startswith(WILDCARD):
            if not _is_address(name) and name.endswith(pattern[1:]):
                return True
        elif name == pattern:
            return True
    return False


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
