"""Reads Causeway's settings from the environment, refusing malformed values by name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name}: {exc.strerror}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected true or false, got {raw!r}")


def env_choice(name: str, default: str, choices: list[str]) -> str:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.strip().upper() not in choices:
        raise ImproperlyConfigured(f"{name}: expected one of {', '.join(choices)}, got {raw!r}")
    return raw.strip().upper()


def env_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a whole number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{name}: must be between {minimum} and {maximum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float, maximum: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{name}: must be between {minimum:g} and {maximum:g}, got {value:g}")
    return value


def env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if not raw.strip():
        raise ImproperlyConfigured(f"{name}: must be a file path, got an empty value")
    return Path(raw).expanduser().absolute()


def env_readable_file(name: str) -> Path | None:
    """A file the operator may name: None when the variable is unset, else its path, which must be a
    file this process can read."""
    if os.environ.get(name) is None:
        return None
    path = env_path(name, Path())
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ImproperlyConfigured(f"{name}: {path} is not a file this process can read")
    return path


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(name: str, url: str, *, home: Path) -> dict[str, object]:
    import dj_database_url

    try:
        config = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
    engine = str(config.get("ENGINE", ""))
    if engine == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            # Every write transaction takes the write lock at its start, so the
            # audit chain's read-the-head-then-append never races another writer.
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        config["TEST"] = {"NAME": str(home / "test-causeway.sqlite3")}
    elif engine != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"{name}: only sqlite:// and postgresql:// are supported, got {url!r}")
    return config


def cache_url(name: str, url: str, *, broker: str) -> str:
    """Where counts shared by every process are kept: `database`, or a redis:// (rediss://) URL.

    Empty follows the broker: its Redis when it is one, else the database.
    """
    value = url.strip()
    if not value:
        return broker if broker.startswith(("redis://", "rediss://")) else "database"
    if value != "database" and not value.startswith(("redis://", "rediss://")):
        raise ImproperlyConfigured(f"{name}: expected database or a redis:// URL, got {url!r}")
    return value


def broker_url(name: str, url: str) -> str:
    allowed = ("redis://", "rediss://", "sqla+sqlite:///", "sqla+postgresql://")
    if not url.startswith(allowed):
        raise ImproperlyConfigured(f"{name}: expected a redis:// or sqla+sqlite:/// URL, got {url!r}")
    return url


def env_oauth_clients(name: str) -> dict[str, dict[str, str]]:
    """Built-in OAuth clients as JSON, `{"connector_key": {"client_id": ..., "client_secret": ...}}`."""
    import json

    raw = env_str(name, "").strip()
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{name}: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(parsed, dict):
        raise ImproperlyConfigured(f"{name}: expected an object of connector keys")
    clients: dict[str, dict[str, str]] = {}
    for key, client in parsed.items():
        if (
            not isinstance(client, dict)
            or not isinstance(client.get("client_id"), str)
            or not client["client_id"]
            or not all(isinstance(v, str) for v in client.values())
            or set(client) - {"client_id", "client_secret"}
        ):
            raise ImproperlyConfigured(f"{name}: {key}: expected {{client_id, client_secret}} as text")
        clients[str(key)] = dict(client)
    return clients


class SmtpSettings(NamedTuple):
    host: str
    port: int
    user: str
    password: str
    use_ssl: bool
    use_tls: bool


def smtp_from_url(name: str, url: str) -> SmtpSettings:
    """Django's EMAIL_* settings from `smtp://[user:password@]host[:port]` (STARTTLS, port 587 unless
    given) or `smtps://...` (implicit TLS, port 465). `?starttls=off` on smtp:// sends in the clear, for
    a relay on this machine only. User and password are percent-decoded."""
    from urllib.parse import parse_qs, unquote, urlsplit

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
    if parts.scheme not in ("smtp", "smtps"):
        raise ImproperlyConfigured(
            f"{name}: expected an smtp:// or smtps:// URL, got scheme {parts.scheme!r}"
        )
    if not parts.hostname:
        raise ImproperlyConfigured(f"{name}: names no host")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"starttls"})
    if unknown:
        raise ImproperlyConfigured(f"{name}: unknown option {unknown[0]!r} (only starttls=on|off)")
    starttls = (query.get("starttls") or ["on"])[-1].lower()
    if starttls not in ("on", "off"):
        raise ImproperlyConfigured(f"{name}: starttls must be on or off, got {starttls!r}")
    implicit = parts.scheme == "smtps"
    if implicit and "starttls" in query:
        raise ImproperlyConfigured(f"{name}: starttls applies to smtp:// only; smtps:// is TLS throughout")
    if not implicit and starttls == "off" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise ImproperlyConfigured(f"{name}: starttls=off is allowed only for a relay on this machine")
    return SmtpSettings(
        host=parts.hostname,
        port=port or (465 if implicit else 587),
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_ssl=implicit,
        use_tls=not implicit and starttls == "on",
    )
