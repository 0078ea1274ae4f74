"""SMTP: send email through a mail server, over STARTTLS or implicit TLS, with a sealed password.

The server is reached only over TLS, its certificate verified against its host name (the system's trusted
authorities, or one certificate the connection names for a server with its own authority). The host goes
through the workspace's outbound rules (rule 20): resolved once, every address checked, and the socket
opened to the checked address while TLS still names and verifies the host. Headers are built by Python's
`email` package, which refuses a line break in any of them, so a recipe cannot add a recipient or a header
through a subject or an address. Each message's Message-ID is derived from the step (job and path), so a
retried send carries the same id and a receiving system can tell it is one message.
"""

from __future__ import annotations

import hashlib
import smtplib
import socket
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from causeway.connections.sdk import (
    NO_AUTH,
    USER_PASSWORD,
    Action,
    ActionFailed,
    ActionInput,
    ActionOutput,
    Call,
    Connector,
    Scope,
    host_setting,
)

MAX_RECIPIENTS = 50
MAX_BODY = 1024 * 1024


def _address(value: str) -> str:
    text = value.strip()
    if any(c in text for c in '\r\n<>,;"') or text.count("@") != 1:
        raise ValueError(f"{value[:80]!r} is not one email address (name@example.com)")
    local, domain = text.split("@")
    if not local or not domain or " " in text:
        raise ValueError(f"{value[:80]!r} is not one email address (name@example.com)")
    try:
        Address(addr_spec=text)
    except (ValueError, IndexError):
        raise ValueError(f"{value[:80]!r} is not one email address (name@example.com)") from None
    return text


def _one_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("one line: no line breaks")
    return value


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(title="Mail server", description="such as smtp.example.com")
    port: int = Field(default=587, ge=1, le=65535, title="Port", description="587 for STARTTLS, 465 for TLS")
    security: Literal["starttls", "tls"] = Field(
        default="starttls",
        title="Encryption",
        description="starttls: connect, then upgrade to TLS before signing in; tls: TLS from the start",
    )
    from_address: str = Field(title="From address", description="the sender of every message")
    from_name: str = Field(default="", title="From name", max_length=100)
    trusted_certificate: str = Field(
        default="",
        title="Trusted certificate (PEM)",
        description="for a server with its own certificate authority; empty: the system's authorities",
        max_length=20_000,
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return host_setting(value)

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str) -> str:
        return _address(value)

    @field_validator("from_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _one_line(value)

    @field_validator("trusted_certificate")
    @classmethod
    def _certificate(cls, value: str) -> str:
        text = value.strip()
        if not text:
            return ""
        try:
            ssl.create_default_context(cadata=text)
        except (ssl.SSLError, ValueError):
            raise ValueError("not a PEM certificate") from None
        return text


def _tls(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=settings.trusted_certificate or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _Pinned(smtplib.SMTP):
    """SMTP to the address the outbound rules checked, while TLS names and verifies the host."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.address = address
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self.address, port), timeout)


class _PinnedTLS(smtplib.SMTP_SSL):
    def __init__(self, address: str, *, host: str, **kwargs: Any) -> None:
        self.address, self.server_name = address, host
        super().__init__(host=host, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        raw = socket.create_connection((self.address, port), timeout)
        return self.context.wrap_socket(raw, server_hostname=self.server_name)


def _failure(exc: Exception) -> ActionFailed:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return ActionFailed(f"the mail server refused the user name or password ({exc.smtp_code})")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return ActionFailed(f"the mail server does not offer what this needs: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return ActionFailed(
            f"the mail server refused every recipient ({', '.join(map(str, codes))})",
            transient=all(400 <= code < 500 for code in codes),
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return ActionFailed(
            f"the mail server answered {exc.smtp_code} {text[:200]}", transient=400 <= exc.smtp_code < 500
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ActionFailed(f"the mail server's certificate was not trusted: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return ActionFailed(f"TLS with the mail server failed: {exc.reason or exc}")
    return ActionFailed(f"could not talk to the mail server: {type(exc).__name__}: {exc}", transient=True)


def _session(call: Call) -> smtplib.SMTP:
    """A signed-in session with the server, encrypted before any credential is sent."""
    settings = call.settings
    assert isinstance(settings, Settings)
    address = call.address(settings.host, settings.port)
    context = _tls(settings)
    session: smtplib.SMTP
    if settings.security == "tls":
        session = _PinnedTLS(
            address, host=settings.host, port=settings.port, timeout=call.timeout, context=context
        )
    else:
        session = _Pinned(address, host=settings.host, port=settings.port, timeout=call.timeout)
        try:
            session.ehlo()
            if not session.has_extn("starttls"):
                raise ActionFailed("the mail server does not offer STARTTLS; nothing was sent unencrypted")
            session.starttls(context=context)
            session.ehlo()
        except BaseException:
            session.close()
            raise
    if call.auth == "basic":
        try:
            session.login(call.credentials.get("username", ""), call.credentials.get("password", ""))
        except BaseException:
            session.close()
            raise
    return session


def _connected(call: Call, work: Any) -> Any:
    try:
        session = _session(call)
    except ActionFailed:
        raise
    except (smtplib.SMTPException, OSError) as exc:
        raise _failure(exc) from None
    try:
        return work(session)
    except (smtplib.SMTPException, OSError) as exc:
        raise _failure(exc) from None
    finally:
        try:
            session.quit()
        except (smtplib.SMTPException, OSError):
            session.close()


class SendInput(ActionInput):
    to: list[str] = Field(title="To", min_length=1, max_length=MAX_RECIPIENTS)
    cc: list[str] = Field(default_factory=list, title="Cc", max_length=MAX_RECIPIENTS)
    bcc: list[str] = Field(default_factory=list, title="Bcc", max_length=MAX_RECIPIENTS)
    reply_to: str = Field(default="", title="Reply-To")
    subject: str = Field(title="Subject", max_length=900)
    text: str = Field(title="Text", max_length=MAX_BODY)
    html: str = Field(default="", title="HTML (optional)", max_length=MAX_BODY)

    @field_validator("to", "cc", "bcc")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return [_address(v) for v in value]

    @field_validator("reply_to")
    @classmethod
    def _reply_to(cls, value: str) -> str:
        return _address(value) if value.strip() else ""

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        return _one_line(value)


class Sent(ActionOutput):
    message_id: str
    accepted: list[str]
    refused: dict[str, str] = Field(default_factory=dict)


def message_id(call: Call, domain: str) -> str:
    """The same id on every try of one step; a fresh one outside a job."""
    seed = call.idempotency_key or f"{id(call)}-{formatdate()}"
    return f"<{hashlib.sha256(seed.encode()).hexdigest()[:32]}@{domain}>"


def send(call: Call, given: SendInput) -> Sent:
    settings = call.settings
    assert isinstance(settings, Settings)
    message = EmailMessage()
    message["From"] = Address(display_name=settings.from_name, addr_spec=settings.from_address)
    message["To"] = ", ".join(given.to)
    if given.cc:
        message["Cc"] = ", ".join(given.cc)
    if given.reply_to:
        message["Reply-To"] = given.reply_to
    message["Subject"] = given.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id(call, settings.from_address.split("@")[1])
    message.set_content(given.text)
    if given.html:
        message.add_alternative(given.html, subtype="html")
    recipients = [*given.to, *given.cc, *given.bcc]

    def deliver(session: smtplib.SMTP) -> Sent:
        refused = session.send_message(message, from_addr=settings.from_address, to_addrs=recipients)
        return Sent(
            message_id=str(message["Message-ID"]),
            accepted=[r for r in recipients if r not in refused],
            refused={
                r: f"{code} {text.decode(errors='replace')[:200]}" for r, (code, text) in refused.items()
            },
        )

    result: Sent = _connected(call, deliver)
    return result


def _test(call: Call) -> str:
    settings = call.settings
    assert isinstance(settings, Settings)

    def check(session: smtplib.SMTP) -> str:
        code, _ = session.noop()
        if code != 250:
            raise ActionFailed(f"the mail server answered {code} to NOOP")
        how = "TLS" if settings.security == "tls" else "STARTTLS"
        signed = " and signed in" if call.auth == "basic" else ""
        return f"connected to {settings.host} over {how}{signed}"

    message: str = _connected(call, check)
    return message


ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" fill="none" '
    'stroke="currentColor" stroke-width="2"><rect x="3" y="5" width="18" height="14" rx="2"/>'
    '<path d="M3 7l9 6 9-6"/></svg>'
)

connector = Connector(
    key="smtp",
    name="SMTP",
    description="Send email through your mail server.",
    icon=ICON,
    auth_methods=(USER_PASSWORD, NO_AUTH),
    settings=Settings,
    scopes=(
        Scope("send", "Send email from the connection's From address to the recipients a recipe names."),
    ),
    actions=(
        Action(
            "send_email",
            "Send an email",
            "Send one message, as text and optionally HTML.",
            SendInput,
            Sent,
            send,
            frozenset({"send"}),
            True,
        ),
    ),
    test=_test,
)
