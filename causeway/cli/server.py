"""The HTTPS web server: gunicorn serving Causeway's WSGI application under Causeway's TLS policy."""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured
from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi

from causeway.cli import checks
from causeway.logfilters import redact_url_secrets
from causeway.runs import local
from causeway.vault.masking import attach_masking_filter, mask
from causeway.vault.tls import server_tls_context


def startup_errors() -> list[str]:
    """The start-up checks every process runs; each message names the setting at fault."""
    found: list[Any] = [
        *checks.root_key_usable(),
        *checks.data_directory_private(),
        *checks.settings_well_formed(),
    ]
    return [message.msg for message in found if isinstance(message, Error)]


def refuse_unless_ready(*, tls: bool) -> None:
    """Stop the process with one line naming the first setting at fault, before it writes anything."""
    errors = startup_errors()
    if tls:
        errors += [m.msg for m in checks.tls_certificate_usable() if isinstance(m, Error)]
    if errors:
        sys.stderr.write(f"causeway: {errors[0]}\n")
        raise SystemExit(2)


@dataclass(frozen=True)
class Bind:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None

    @property
    def local_host(self) -> str:
        """The address a client on this machine uses to reach the listener."""
        address = self._address()
        if address is not None and address.is_unspecified:
            return "::1" if address.version == 6 else "127.0.0.1"
        return self.host

    @property
    def local_url(self) -> str:
        host = self.local_host
        return f"https://[{host}]:{self.port}" if ":" in host else f"https://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The address a person opens: localhost for a loopback or wildcard bind."""
        address = self._address()
        if self.host == "localhost" or (
            address is not None and (address.is_loopback or address.is_unspecified)
        ):
            return f"https://localhost:{self.port}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"


def parse_bind(value: str, *, source: str) -> Bind:
    """`host:port` or `[ipv6]:port`, with a host this machine can resolve; refused by name otherwise."""
    host, separator, port_text = value.strip().rpartition(":")
    if not separator or not host or not port_text.isdigit():
        raise ImproperlyConfigured(f"{source}: expected host:port, got {value!r}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ImproperlyConfigured(f"{source}: port must be between 1 and 65535, got {port}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ImproperlyConfigured(f"{source}: {host!r} is not an IPv6 address") from None
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ImproperlyConfigured(f"{source}: cannot resolve host {host!r}") from None
    return Bind(host=host, port=port)


def web_bind(option: str | None) -> Bind:
    """The web server's address: the --bind option when given, else CAUSEWAY_WEB_BIND."""
    if option:
        return parse_bind(option, source="--bind")
    return parse_bind(settings.WEB_BIND, source="CAUSEWAY_WEB_BIND")


@functools.cache
def _context(cert: Path, key: Path) -> ssl.SSLContext:
    return server_tls_context(cert, key)


def _ssl_context(config: Any, default_factory: Any) -> ssl.SSLContext:
    return _context(Path(config.certfile), Path(config.keyfile))


def redact_path(path: str) -> str:
    """A request path fit for the access log: no query string, no invitation or webhook token, no known
    value."""
    return mask(redact_url_secrets(path))


class RedactingAccessLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's access log without the secrets a URL can carry."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        atoms["U"] = redact_path(str(atoms.get("U", "")))
        atoms["q"] = ""
        atoms["r"] = f"{atoms.get('m', '-')} {atoms['U']} {atoms.get('H', '-')}"
        atoms["f"] = "-"
        return atoms


def _worker_loaded(worker: Any) -> None:
    # gunicorn's own handlers (the access log prints each request line, query string included) are
    # made outside Django's LOGGING, so they get the masking filter here, once the worker has loaded.
    attach_masking_filter()
    # The worker runs the jobs it starts (when CAUSEWAY_JOBS_IN_WEB says so).
    local.enable()


class AnonymousResponse(wsgi.Response):  # type: ignore[misc]
    """gunicorn's HTTP/1.1 answer without its `Server` header: an answer names no software or version.

    gunicorn writes that header itself, before the application's own, and has no setting to leave it
    out; `serve` puts this class in the place gunicorn builds its answers from.
    """

    def default_headers(self) -> list[str]:
        headers: list[str] = super().default_headers()
        return [line for line in headers if not line.lower().startswith("server:")]


class WebServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from causeway.wsgi import application

        return application


def serve(*, bind: Bind, workers: int) -> None:
    refuse_unless_ready(tls=True)
    wsgi.Response = AnonymousResponse
    WebServer(
        {
            "bind": [str(bind)],
            "workers": workers,
            "worker_class": "gthread",
            "threads": 8,
            "certfile": str(settings.TLS_CERT),
            "keyfile": str(settings.TLS_KEY),
            "ssl_context": _ssl_context,
            "accesslog": "-",
            "access_log_format": '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms',
            "logger_class": RedactingAccessLogger,
            "timeout": 120,
            "graceful_timeout": 10,
            "forwarded_allow_ips": "",
            "proc_name": "causeway-web",
            # HTTP/1.1 only: the answers are built by AnonymousResponse.
            "http_protocols": "h1",
            # gunicorn's runtime control socket sits in the user's home directory, outside the data
            # directory, and is a management door Causeway does not use; several servers on one
            # machine would also contend for it.
            "control_socket_disable": True,
            "post_worker_init": _worker_loaded,
        }
    ).run()
