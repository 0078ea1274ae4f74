"""Secrets that travel in URLs (invitation links, webhook tokens) are cut out of every log line that names a
path."""

from __future__ import annotations

import logging
import re

_SECRET_IN_PATH = re.compile(r"(/invitations/|/hooks/connector/|/hooks/)[^/?\s\"']+")


def redact_url_secrets(text: str) -> str:
    return _SECRET_IN_PATH.sub(r"\1[redacted]", text)


class RedactUrlSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_url_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
