"""The root key: a Tink AES-256-GCM keyset that lives outside the database and wraps every other key."""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

import tink
from tink import aead, mac, secret_key_access

aead.register()
mac.register()

_lock = threading.Lock()
_cache: dict[Path, tink.KeysetHandle] = {}


class RootKeyError(Exception):
    """The root key is missing, unreadable or not a Tink keyset."""


def write_private_file(path: Path, content: str) -> None:
    """Create a file readable by its owner alone; refuse to overwrite one that exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def create_root_key_file(path: Path) -> bool:
    """Generate a new root keyset at path unless one is there; True when one was made."""
    if path.exists():
        return False
    handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
    write_private_file(path, tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN))
    return True


def create_secret_file(path: Path) -> bool:
    if path.exists():
        return False
    write_private_file(path, secrets.token_urlsafe(64))
    return True


def load_root_keyset(path: Path) -> tink.KeysetHandle:
    with _lock:
        cached = _cache.get(path)
        if cached is not None:
            return cached
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise RootKeyError(
                f"CAUSEWAY_ROOT_KEY_FILE: {path} does not exist (run `causeway init` to create one)"
            ) from None
        except OSError as exc:
            raise RootKeyError(f"CAUSEWAY_ROOT_KEY_FILE: cannot read {path}: {exc.strerror}") from None
        if path.stat().st_mode & 0o077:
            raise RootKeyError(
                f"CAUSEWAY_ROOT_KEY_FILE: {path} must be readable by its owner only (mode 0600)"
            )
        try:
            handle = tink.json_proto_keyset_format.parse(text, secret_key_access.TOKEN)
            handle.primitive(aead.Aead)
        except (tink.TinkError, ValueError) as exc:
            raise RootKeyError(f"CAUSEWAY_ROOT_KEY_FILE: {path} is not a Tink AEAD keyset ({exc})") from None
        _cache[path] = handle
        return handle


def root_aead(path: Path) -> aead.Aead:
    primitive: aead.Aead = load_root_keyset(path).primitive(aead.Aead)
    return primitive


def forget_cached_keys() -> None:
    with _lock:
        _cache.clear()
