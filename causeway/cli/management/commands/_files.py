"""What commands read besides their arguments: a secret from a file or standard input, and lists."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from django.core.management.base import CommandError


def text_from(path: str, stdin: TextIO, *, option: str) -> str:
    """A file's text, or standard input's for `-`. A file that cannot be read is refused in one line
    naming the `option` that gave it."""
    if path == "-":
        return stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise CommandError(f"{option}: cannot read {path}: {reason}") from None


def secret_from(path: str | None, stdin: TextIO) -> str | None:
    """A secret from a file, or from standard input for `-`; never from the command line, where it
    would stay in shell histories and show in the process list."""
    if path is None:
        return None
    return text_from(path, stdin, option="client-secret-file").strip()


def split_list(raw: str | None) -> list[str] | None:
    """A comma-separated option as a list; None when the option was not given."""
    return None if raw is None else [part.strip() for part in raw.split(",") if part.strip()]
