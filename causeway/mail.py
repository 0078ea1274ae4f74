"""Causeway's own email: the file outbox of the embedded default, SMTP delivery, and notices sent on commit.

Without `CAUSEWAY_SMTP_URL`, messages are written one file each to the outbox under the data directory
(`causeway mail list` and `causeway mail show ID` read it); with it, they go to that SMTP server over
STARTTLS (smtp://) or implicit TLS (smtps://), its certificate verified.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, send_mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as DjangoSmtpBackend
from django.db import transaction

logger = logging.getLogger(__name__)

# An outbox message's id: when it was written and a random part, so ids sort by time and never collide.
_ID = re.compile(r"^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9a-f]{8}$")
_STAMP = "%Y%m%dT%H%M%S.%fZ"


class UnknownMessage(LookupError):
    """No message in the outbox has this id."""


def outbox_dir() -> Path:
    return Path(settings.EMAIL_FILE_PATH)


class OutboxBackend(BaseEmailBackend):
    """Writes each message to its own file in the outbox, readable by the installation's user alone:
    messages carry links that sign people in (invitations, password resets)."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        folder = outbox_dir()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            stamp = datetime.now(UTC).strftime(_STAMP)
            path = folder / f"{stamp}-{secrets.token_hex(4)}.eml"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(message.message().as_bytes())
            sent += 1
        return sent


class SmtpBackend(DjangoSmtpBackend):
    """Django's SMTP backend, trusting the certificate authorities of `CAUSEWAY_SMTP_CA_FILE` when it is
    set (a private relay's own authority) instead of the system's; the server's name is checked either way."""

    @property
    def ssl_context(self) -> Any:
        import ssl

        ca_file = getattr(settings, "SMTP_CA_FILE", None)
        if ca_file:
            return ssl.create_default_context(cafile=str(ca_file))
        return ssl.create_default_context()


@dataclass(frozen=True)
class OutboxEntry:
    id: str
    written: datetime
    to: str
    subject: str


def _path_of(message_id: str) -> Path:
    if not _ID.match(message_id):
        raise UnknownMessage(message_id)
    path = outbox_dir() / f"{message_id}.eml"
    if not path.is_file():
        raise UnknownMessage(message_id)
    return path


def outbox_list() -> list[OutboxEntry]:
    """The messages in the outbox, oldest first."""
    folder = outbox_dir()
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.glob("*.eml")):
        if not _ID.match(path.stem):
            continue
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        written = datetime.strptime(path.stem.split("-")[0], _STAMP).replace(tzinfo=UTC)
        entries.append(
            OutboxEntry(
                id=path.stem, written=written, to=str(parsed["To"] or ""), subject=str(parsed["Subject"])
            )
        )
    return entries


def outbox_show(message_id: str) -> str:
    """One message as it would have been sent, headers and text; UnknownMessage when there is none."""
    parsed = message_from_bytes(_path_of(message_id).read_bytes(), policy=policy.default)
    lines = [f"{name}: {parsed[name]}" for name in ("Date", "From", "To", "Subject") if parsed[name]]
    body = parsed.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return "\n".join(lines) + "\n\n" + str(text)


def deliver(*, to: str, subject: str, body: str) -> bool:
    """Send one message now; a failure is logged (never the body, which may hold a link) and returned
    as False, so that a notice that cannot go out does not undo what it tells of."""
    try:
        send_mail(
            subject=subject,
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[to],
            fail_silently=False,
        )
    except Exception as exc:  # any transport failure is reported the same way
        logger.warning("email %r could not be sent: %s", subject, type(exc).__name__)
        return False
    return True


def notify(*, to: str, subject: str, body: str) -> None:
    """Send a notice once the current transaction commits: nothing goes out for a change rolled back."""
    transaction.on_commit(lambda: deliver(to=to, subject=subject, body=body))
