"""Plain AES-256-GCM with no keyset, no record binding and no key lookup: the floor against which
`make bench` measures the vault's own sealing. Nothing in Causeway seals with it."""

from __future__ import annotations

import os
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def raw_seal_and_open(value: bytes, associated: bytes) -> Callable[[], bytes]:
    """A callable that seals `value` under a fresh key and opens it again, each call with a new nonce."""
    cipher = AESGCM(AESGCM.generate_key(bit_length=256))

    def operation() -> bytes:
        nonce = os.urandom(12)
        return cipher.decrypt(nonce, cipher.encrypt(nonce, value, associated), associated)

    return operation
