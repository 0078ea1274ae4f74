"""The HTTPS web server: gunicorn serving Causeway's WSGI application under Causeway's TLS policy."""

from __future__ import annotations

import functools
import ssl
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error
from gunicorn.app.base import BaseApplication

from causeway.cli import checks
from causeway.vault.masking import attach_masking_filter
from causeway.vault.tls import server_tls_context


def startup_errors() -> list[str]:
    """The start-up checks every process runs; each message names the setting at fault."""
    found: list[Any] = [*checks.root_key_usable(), *checks.data_directory_private()]
    return [message.msg for message in found if isinstance(message, Error)]


@functools.cache
def _context(cert: Path, key: Path) -> ssl.SSLContext:
    return server_tls_context(cert, key)


def _ssl_context(config: Any, default_factory: Any) -> ssl.SSLContext:
    return _context(Path(config.certfile), Path(config.keyfile))


def _mask_worker_logs(worker: Any) -> None:
    # gunicorn's own handlers (the access log prints each request line, query string included) are
    # made outside Django's LOGGING, so they get the masking filter here, once the worker has loaded.
    attach_masking_filter()


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


def serve(*, bind: str, workers: int) -> None:
    tls_errors = [m.msg for m in checks.tls_certificate_usable() if isinstance(m, Error)]
    errors = startup_errors() + tls_errors
    if errors:
        sys.stderr.write(f"causeway: {errors[0]}\n")
        raise SystemExit(2)
    WebServer(
        {
            "bind": [bind],
            "workers": workers,
            "worker_class": "gthread",
            "threads": 8,
            "certfile": str(settings.TLS_CERT),
            "keyfile": str(settings.TLS_KEY),
            "ssl_context": _ssl_context,
            "accesslog": "-",
            "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
            "timeout": 120,
            "graceful_timeout": 10,
            "forwarded_allow_ips": "",
            "proc_name": "causeway-web",
            "post_worker_init": _mask_worker_logs,
        }
    ).run()
