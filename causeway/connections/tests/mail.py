"""A real SMTP server for tests (aiosmtpd) on a free local port, speaking STARTTLS or implicit TLS with a
self-signed certificate for localhost that the tests trust, requiring a user name and password, and
recording every message it accepts and every sign-in tried."""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from causeway.vault.tls import create_self_signed_certificate


@dataclass
class Delivered:
    sender: str
    recipients: list[str]
    message: Message
    raw: bytes


@dataclass
class MailServer:
    host: str
    port: int
    certificate: str
    user: str
    password: str
    delivered: list[Delivered] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler:
    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        with self.server.lock:
            self.server.delivered.append(
                Delivered(envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(raw), raw)
            )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _TLSController(Controller):
    """aiosmtpd's controller, with its readiness probe made over TLS when the server wraps its socket."""

    def _trigger_server(self) -> None:
        context = self.ssl_context
        with socket.create_connection((self.hostname, self.port), 5) as raw:
            if context is not None:
                client = ssl.create_default_context(cadata=self.certificate)
                with client.wrap_socket(raw, server_hostname="localhost") as wrapped:
                    wrapped.recv(1024)
            else:
                raw.recv(1024)


@contextmanager
def mail_server(
    tmp: Path,
    *,
    implicit_tls: bool = False,
    user: str = "mailer",
    password: str = "mail-password",  # noqa: S107  # a test server's own
) -> Iterator[MailServer]:
    cert, key = tmp / "smtp.crt", tmp / "smtp.key"
    create_self_signed_certificate(cert, key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    server = MailServer(
        host="localhost", port=_free_port(), certificate=cert.read_text(), user=user, password=password
    )

    def authenticate(smtp: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        good = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        with server.lock:
            server.logins.append((data.login.decode() if isinstance(data, LoginPassword) else "", good))
        # handled=False: the server answers (235 or 535) itself.
        return AuthResult(success=good, handled=False)

    options: dict[str, Any] = {"authenticator": authenticate, "auth_required": True}
    if implicit_tls:
        # The socket itself is TLS; aiosmtpd's "TLS before AUTH" check knows only STARTTLS, and warns.
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
        controller = _TLSController(
            _Handler(server),
            hostname="127.0.0.1",
            port=server.port,
            ssl_context=context,
            auth_require_tls=False,
            **options,
        )
    else:
        controller = _TLSController(
            _Handler(server),
            hostname="127.0.0.1",
            port=server.port,
            tls_context=context,
            require_starttls=True,
            auth_require_tls=True,
            **options,
        )
    controller.certificate = server.certificate  # type: ignore[attr-defined]
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
