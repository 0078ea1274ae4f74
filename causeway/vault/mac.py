"""Message authentication under a keyset wrapped by the root key (used by the audit chain)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import tink
from django.conf import settings
from django.db import IntegrityError, transaction
from tink import mac

from causeway.vault.models import WrappedKeyset
from causeway.vault.rootkey import root_aead

AUDIT_PURPOSE = "audit-mac"
_lock = threading.Lock()
_handles: dict[str, tink.KeysetHandle] = {}


class MacError(Exception):
    """A tag did not verify, or the key that made it is not known."""


@dataclass(frozen=True)
class Tag:
    key_id: int
    value: bytes


def _associated_data(purpose: str) -> bytes:
    return f"causeway:keyset:{purpose}".encode()


def _load_or_create(purpose: str) -> tink.KeysetHandle:
    kek = root_aead(settings.ROOT_KEY_FILE)
    ad = _associated_data(purpose)
    row = WrappedKeyset.objects.filter(purpose=purpose, workspace_id__isnull=True).first()
    if row is None:
        handle = tink.new_keyset_handle(mac.mac_key_templates.HMAC_SHA256_256BITTAG)
        try:
            with transaction.atomic():
                WrappedKeyset.objects.create(
                    purpose=purpose,
                    wrapped=tink.proto_keyset_format.serialize_encrypted(handle, kek, ad),
                )
        except IntegrityError:
            row = WrappedKeyset.objects.get(purpose=purpose, workspace_id__isnull=True)
        else:
            return handle
    try:
        return tink.proto_keyset_format.parse_encrypted(bytes(row.wrapped), kek, ad)
    except tink.TinkError as exc:
        raise MacError(f"the {purpose} keyset does not open under the root key (wrong root key?)") from exc


def _handle(purpose: str) -> tink.KeysetHandle:
    with _lock:
        handle = _handles.get(purpose)
    if handle is None:
        handle = _load_or_create(purpose)
        with _lock:
            _handles[purpose] = handle
    return handle


def compute(purpose: str, data: bytes) -> Tag:
    handle = _handle(purpose)
    primitive: mac.Mac = handle.primitive(mac.Mac)
    return Tag(key_id=handle.keyset_info().primary_key_id, value=primitive.compute_mac(data))


def verify(purpose: str, tag: bytes, data: bytes) -> bool:
    primitive: mac.Mac = _handle(purpose).primitive(mac.Mac)
    try:
        primitive.verify_mac(tag, data)
    except tink.TinkError:
        return False
    return True


def known_key_ids(purpose: str) -> set[int]:
    return {info.key_id for info in _handle(purpose).keyset_info().key_info}


def forget_cached_keysets() -> None:
    with _lock:
        _handles.clear()
