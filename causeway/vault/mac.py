"""Message authentication under a keyset wrapped by the root key (used by the audit chain)."""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

import tink
from django.conf import settings
from django.db import IntegrityError, transaction
from tink import mac, secret_key_access
from tink.proto import tink_pb2

from causeway.vault.models import WrappedKeyset
from causeway.vault.rootkey import root_aead

AUDIT_PURPOSE = "audit-mac"
KEY_TEMPLATE = mac.mac_key_templates.HMAC_SHA256_256BITTAG

# Tink's TINK output prefix: one version byte, then the 4-byte id of the key that made the tag.
_TINK_PREFIX_BYTE = 0x01
_PREFIX_SIZE = 5

_lock = threading.Lock()


class MacError(Exception):
    """The keyset is missing or does not open under the root key."""


@dataclass(frozen=True)
class Tag:
    key_id: int
    value: bytes


@dataclass(frozen=True)
class _Opened:
    wrapped: bytes
    handle: tink.KeysetHandle


# Keyed by purpose. Each entry remembers the wrapped bytes it was opened from, so a keyset
# rotated by another process (or rolled back with a transaction) is re-opened at the next use.
_opened: dict[str, _Opened] = {}


def _associated_data(purpose: str) -> bytes:
    return f"causeway:keyset:{purpose}".encode()


def _row(purpose: str) -> WrappedKeyset | None:
    return WrappedKeyset.objects.filter(purpose=purpose, workspace_id__isnull=True).first()


def _open(purpose: str, wrapped: bytes) -> tink.KeysetHandle:
    with _lock:
        cached = _opened.get(purpose)
    if cached is not None and cached.wrapped == wrapped:
        return cached.handle
    try:
        handle = tink.proto_keyset_format.parse_encrypted(
            wrapped, root_aead(settings.ROOT_KEY_FILE), _associated_data(purpose)
        )
    except tink.TinkError as exc:
        raise MacError(f"the {purpose} keyset does not open under the root key (wrong root key?)") from exc
    with _lock:
        _opened[purpose] = _Opened(wrapped=wrapped, handle=handle)
    return handle


def _wrap(purpose: str, handle: tink.KeysetHandle) -> bytes:
    wrapped: bytes = tink.proto_keyset_format.serialize_encrypted(
        handle, root_aead(settings.ROOT_KEY_FILE), _associated_data(purpose)
    )
    return wrapped


def _current(purpose: str, *, create: bool) -> tink.KeysetHandle:
    """The keyset as stored now. With `create`, the first use makes one."""
    row = _row(purpose)
    if row is None:
        if not create:
            raise MacError(f"there is no {purpose} keyset in the database")
        handle = tink.new_keyset_handle(KEY_TEMPLATE)
        wrapped = _wrap(purpose, handle)
        try:
            with transaction.atomic():
                WrappedKeyset.objects.create(purpose=purpose, wrapped=wrapped)
        except IntegrityError:
            # Another process made it first; use theirs.
            row = _row(purpose)
            if row is None:
                raise MacError(f"the {purpose} keyset vanished while being created") from None
        else:
            with _lock:
                _opened[purpose] = _Opened(wrapped=wrapped, handle=handle)
            return handle
    return _open(purpose, bytes(row.wrapped))


def key_id_of(tag: bytes) -> int | None:
    """The id of the key that made a tag, read from its prefix; None if the tag carries none."""
    if len(tag) <= _PREFIX_SIZE or tag[0] != _TINK_PREFIX_BYTE:
        return None
    key_id: int = struct.unpack(">I", tag[1:_PREFIX_SIZE])[0]
    return key_id


class Verifier:
    """One snapshot of a keyset for checking many tags, so a long walk reads the keyset once."""

    def __init__(self, handle: tink.KeysetHandle) -> None:
        self._mac: mac.Mac = handle.primitive(mac.Mac)
        info = handle.keyset_info()
        self.primary_key_id: int = info.primary_key_id
        self.key_ids: frozenset[int] = frozenset(k.key_id for k in info.key_info)

    def verify(self, tag: bytes, data: bytes) -> bool:
        try:
            self._mac.verify_mac(tag, data)
        except tink.TinkError:
            return False
        return True


def verifier(purpose: str) -> Verifier:
    return Verifier(_current(purpose, create=False))


def compute(purpose: str, data: bytes) -> Tag:
    """A tag under the keyset's primary key; the tag names that key in its prefix."""
    handle = _current(purpose, create=True)
    primitive: mac.Mac = handle.primitive(mac.Mac)
    primary: int = handle.keyset_info().primary_key_id
    return Tag(key_id=primary, value=primitive.compute_mac(data))


def verify(purpose: str, tag: bytes, data: bytes) -> bool:
    """True when the tag was made over data by any key in the keyset, old or current."""
    return verifier(purpose).verify(tag, data)


def known_key_ids(purpose: str) -> set[int]:
    return set(verifier(purpose).key_ids)


@transaction.atomic
def rotate(purpose: str) -> int:
    """Add a new key and make it primary; older keys stay so every tag they made still verifies.

    The keyset row is locked, so two rotations at once add two keys rather than losing one.
    Returns the new key's id.
    """
    _current(purpose, create=True)
    row = WrappedKeyset.objects.select_for_update().get(purpose=purpose, workspace_id__isnull=True)
    handle = _open(purpose, bytes(row.wrapped))
    keyset = tink_pb2.Keyset.FromString(tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN))
    taken = {key.key_id for key in keyset.key}
    while True:
        fresh = tink_pb2.Keyset.FromString(
            tink.proto_keyset_format.serialize(tink.new_keyset_handle(KEY_TEMPLATE), secret_key_access.TOKEN)
        )
        new_key = fresh.key[0]
        if new_key.key_id not in taken:
            break
    keyset.key.append(new_key)
    keyset.primary_key_id = new_key.key_id
    rotated = tink.proto_keyset_format.parse(keyset.SerializeToString(), secret_key_access.TOKEN)
    row.wrapped = _wrap(purpose, rotated)
    row.save(update_fields=["wrapped", "updated_at"])
    new_id: int = new_key.key_id
    return new_id


def forget_cached_keysets() -> None:
    with _lock:
        _opened.clear()
