"""Password rules beyond Django's own: words of this installation's context (ASVS 6.1.2, 6.2.11), and
passwords known from breaches (ASVS 6.2.12), looked up in a list the operator keeps on this machine.

Context words are "causeway" and whatever the operator adds (CAUSEWAY_PASSWORD_CONTEXT_WORDS: the
company's and its products' names, say); a password holding one, in any case, is refused. The breached
list is Have I Been Pwned's "Pwned Passwords" download (SHA-1 digests, one `DIGEST:COUNT` line each,
ordered by digest), or any file of SHA-1 hex digests, one a line in that order
(CAUSEWAY_BREACHED_PASSWORDS_FILE). Nothing is sent anywhere: a self-hosted installation may have no
Internet, and even a range query tells an outside service when someone here sets a password. The file is
searched where it lies, by halving byte ranges, so a list of any size needs no memory and no import.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError

DIGEST_LENGTH = 40
BREACHED = "This password has appeared in a data breach, so attackers try it first; choose another."
# Shorter words would refuse too many good passwords by chance.
CONTEXT_WORD_MIN = 4


def context_words() -> list[str]:
    words = ["causeway", *getattr(settings, "PASSWORD_CONTEXT_WORDS", [])]
    return sorted({w.casefold() for w in words if len(w) >= CONTEXT_WORD_MIN})


class ContextWordsValidator:
    """Refuses a password that holds a word of this installation's context, whatever its case."""

    def validate(self, password: str, user: Any = None) -> None:
        folded = password.casefold()
        found = next((word for word in context_words() if word in folded), None)
        if found is not None:
            raise ValidationError(
                f"This password contains {found!r}, a word attackers try first here; choose another.",
                code="password_context_word",
            )

    def get_help_text(self) -> str:
        return "Your password cannot contain the name of this service or of the company that runs it."


def _line_from(handle: IO[bytes], offset: int) -> tuple[int, bytes]:
    """The first whole line that starts at `offset` or after it: where it starts, and its bytes."""
    handle.seek(max(offset - 1, 0))
    if offset:
        handle.readline()  # the rest of the line `offset - 1` is in; the next one starts at `offset` or later
    start = handle.tell()
    return start, handle.readline()


def listed(path: Path, digest: str) -> bool:
    """Whether the ordered list at `path` holds the SHA-1 hex `digest` (either case)."""
    wanted = digest.upper().encode()
    with path.open("rb") as handle:
        low, high = 0, path.stat().st_size
        while low < high:
            middle = (low + high) // 2
            start, line = _line_from(handle, middle)
            found = line[:DIGEST_LENGTH].upper()
            if not line or found > wanted:
                # No line starts in [middle, start): the one sought, if any, starts before `middle`.
                high = middle
            elif found < wanted:
                low = start + len(line)
            else:
                return True
    return False


def password_digest(password: str) -> str:
    # SHA-1 because it is the list's own key, not to protect the password: nothing of it is stored.
    return hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest()


class BreachedPasswordValidator:
    """Refuses a password the operator's breached-password list holds; does nothing without a list."""

    def validate(self, password: str, user: Any = None) -> None:
        path = getattr(settings, "BREACHED_PASSWORDS_FILE", None)
        if path is not None and listed(Path(path), password_digest(password)):
            raise ValidationError(BREACHED, code="password_breached")

    def get_help_text(self) -> str:
        return "Your password cannot be one known from a data breach."
