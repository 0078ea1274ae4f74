"""Keysets stored wrapped by the root key: each workspace's (to seal, and to sign), the platform's and
the blind-index key.

Keysets are created at their first use, race-safely: two processes that create the same keyset at
once both try to insert it, the database's unique constraint lets one win, and the other reloads the
winner's. Opened keysets are cached in the process for a few seconds (`CACHE_SECONDS`), so a rotation
made by another process reaches this one's new writes quickly; a ciphertext naming a key the cached
keyset does not hold forces a reload at once.

A keyset this process wrote inside a transaction that has not committed yet is never cached for the
process: were the transaction rolled back, the cache would go on sealing under a key that exists
nowhere. Only that transaction's own thread keeps it, for as long as the write stands: the savepoint or
transaction that made it rolling back drops it, its commit hands over to the process's cache.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import tink
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from tink import aead, mac, secret_key_access
from tink.proto import tink_pb2

from causeway.vault.rootkey import (
    TINK_PREFIX_BYTE,
    RootKey,
    RootKeyError,
    add_primary_key,
    current_root_key,
    remove_key,
)

if TYPE_CHECKING:
    from causeway.vault.models import WrappedKeyset

WORKSPACE_PURPOSE = "workspace-aead"
PLATFORM_PURPOSE = "platform-aead"
BLIND_INDEX_PURPOSE = "blind-index"
# Each workspace's MAC keyset for what the workspace vouches for (a PROD recipe version's signature).
SIGNING_PURPOSE = "workspace-signing"
AEAD_PURPOSES = (WORKSPACE_PURPOSE, PLATFORM_PURPOSE)
MAC_PURPOSES = (BLIND_INDEX_PURPOSE, SIGNING_PURPOSE)

AEAD_TEMPLATE = aead.aead_key_templates.AES256_GCM
MAC_TEMPLATE = mac.mac_key_templates.HMAC_SHA256_256BITTAG

# How long an opened keyset serves before the stored one is read again. Short, because a rotation in
# another process should reach this process's new writes within seconds.
CACHE_SECONDS = 5.0

CacheKey = tuple[str, int | None]


class KeysetMissingError(Exception):
    """The keyset does not exist and the caller asked not to create it."""


@dataclass(frozen=True, slots=True)
class Keyring:
    """One opened keyset: its primitive, its keys, and the wrapped bytes it was opened from.

    For AEAD keysets, `by_prefix` maps each key's Tink output prefix (0x01 and the 4-byte key id) to
    that key's own AEAD primitive, and `primary_prefix`/`primary_aead` are the primary key's. Sealing
    and opening use these directly instead of the keyset's wrapped primitive: the result is the same
    Tink ciphertext (the wrapped primitive opens it, and the other way round), but Tink's Python
    wrapper costs more per call than the AES-GCM itself for small values (about 2.5 µs of a 1 KiB
    decryption), which would put the vault below half the speed of raw AES-GCM.
    """

    purpose: str
    workspace_id: uuid.UUID | None
    wrapped: bytes
    handle: Any
    primitive: Any
    primary_key_id: int
    key_ids: frozenset[int]
    loaded_at: float
    by_prefix: dict[bytes, Any] = field(default_factory=dict)
    primary_prefix: bytes = b""
    primary_aead: Any = None


_lock = threading.Lock()
# Keyed by the workspace id's integer: hashing a UUID object runs Python code, and this lookup is on the
# path of every seal and open.
_cache: dict[CacheKey, Keyring] = {}
_generations: dict[CacheKey, int] = {}
_local = threading.local()
_checked_roots: set[RootKey] = set()
# Moved on by `forget_cached_keysets`, so that every thread's held keysets are forgotten too.
_epoch = 0


def _table() -> type[WrappedKeyset]:
    # Imported at use: the models module imports the sealed fields, which import this module.
    from causeway.vault.models import WrappedKeyset

    return WrappedKeyset


def keyset_associated_data(purpose: str, workspace_id: uuid.UUID | None) -> bytes:
    """What a wrapped keyset is bound to: its purpose and its workspace, so no row can stand in for another.

    The platform form is the one `causeway.vault.mac` uses, so root rotation re-wraps its keyset too.
    """
    if workspace_id is None:
        return f"causeway:keyset:{purpose}".encode()
    return f"causeway:keyset:{purpose}:workspace:{workspace_id}".encode()


def keyset_label(purpose: str, workspace_id: uuid.UUID | None) -> str:
    if workspace_id is None:
        return f"platform {purpose} keyset"
    return f"{purpose} keyset of workspace {workspace_id}"


def _template(purpose: str) -> Any:
    return MAC_TEMPLATE if purpose in MAC_PURPOSES else AEAD_TEMPLATE


def _primitive_class(purpose: str) -> Any:
    return mac.Mac if purpose in MAC_PURPOSES else aead.Aead


def cache_key(purpose: str, workspace_id: uuid.UUID | None) -> CacheKey:
    return (purpose, None if workspace_id is None else workspace_id.int)


def _written() -> set[CacheKey]:
    written: set[CacheKey] | None = getattr(_local, "written", None)
    if written is None:
        written = _local.written = set()
    if not connection.in_atomic_block:
        written.clear()
    return written


def _forget(key: CacheKey) -> None:
    with _lock:
        _cache.pop(key, None)
        _generations[key] = _generations.get(key, 0) + 1


# A keyset this thread wrote in its open transaction: the write's commit callback, and the keyset as last
# read from the database (None before), with the epoch it was read in.
_Held = tuple[Callable[[], None], int, "Keyring | None"]


def _held() -> dict[CacheKey, _Held]:
    """This thread's keysets written in its open transaction (see `_mark_written`)."""
    held: dict[CacheKey, _Held] | None = getattr(_local, "held", None)
    if held is None:
        held = _local.held = {}
    return held


def _mark_written(key: CacheKey) -> None:
    """Keep this keyset out of the cache until the transaction that wrote it commits.

    Each step also moves the keyset's generation on, so a keyset another thread of this process read
    before the change committed (the old one, under READ COMMITTED) is not cached after it. Meanwhile
    this thread holds the keyset it wrote for as long as Django keeps the write's commit callback: a
    rollback of the transaction, or of a savepoint the write was made under, drops the callback.
    """
    _forget(key)
    _written().add(key)

    def committed() -> None:
        _written().discard(key)
        _held().pop(key, None)
        _forget(key)

    _held()[key] = (committed, _epoch, None)
    transaction.on_commit(committed)


def _held_ring(key: CacheKey) -> Keyring | None:
    """The keyset this thread wrote in its open transaction, while that write stands."""
    committed, epoch, ring = _held().get(key, (None, None, None))
    if ring is None or epoch != _epoch or not connection.in_atomic_block:
        return None
    if any(pending[1] is committed for pending in connection.run_on_commit):
        return ring
    del _held()[key]  # rolled back
    return None


def _remember(ring: Keyring, generation: int) -> Keyring:
    key = cache_key(ring.purpose, ring.workspace_id)
    if key not in _written():
        with _lock:
            if _generations.get(key, 0) == generation:
                _cache[key] = ring
        return ring
    held = _held().get(key)
    if held is not None:
        # Read from the database (or made) just now, inside the transaction that wrote it.
        _held()[key] = (held[0], _epoch, ring)
    return ring


def unwrap(root: RootKey, purpose: str, workspace_id: uuid.UUID | None, wrapped: bytes) -> Any:
    """The keyset handle inside a stored row; RootKeyError naming the root key's variable if it won't open."""
    try:
        return tink.proto_keyset_format.parse_encrypted(
            wrapped, root.aead(), keyset_associated_data(purpose, workspace_id)
        )
    except tink.TinkError:
        raise RootKeyError(
            f"{root.variable}: {root.describe()} does not open the stored "
            f"{keyset_label(purpose, workspace_id)} (wrong root key?)"
        ) from None


def wrap(root: RootKey, purpose: str, workspace_id: uuid.UUID | None, handle: Any) -> bytes:
    wrapped: bytes = tink.proto_keyset_format.serialize_encrypted(
        handle, root.aead(), keyset_associated_data(purpose, workspace_id)
    )
    return wrapped


def _per_key_aeads(handle: Any) -> dict[bytes, Any]:
    """Each enabled key's own AEAD primitive, by the Tink output prefix its ciphertexts start with."""
    keyset = tink_pb2.Keyset.FromString(tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN))
    found: dict[bytes, Any] = {}
    for key in keyset.key:
        if key.status != tink_pb2.ENABLED:
            continue
        if key.output_prefix_type != tink_pb2.TINK:  # never made here; refuse rather than guess
            raise RootKeyError(f"keyset key {key.key_id} does not use Tink's key id prefix")
        prefix = bytes([TINK_PREFIX_BYTE]) + key.key_id.to_bytes(4, "big")
        found[prefix] = tink.core.Registry.primitive(key.key_data, aead.Aead)
    return found


def _ring(purpose: str, workspace_id: uuid.UUID | None, wrapped: bytes, handle: Any) -> Keyring:
    info = handle.keyset_info()
    primary = int(info.primary_key_id)
    ring = Keyring(
        purpose=purpose,
        workspace_id=workspace_id,
        wrapped=wrapped,
        handle=handle,
        primitive=handle.primitive(_primitive_class(purpose)),
        primary_key_id=primary,
        key_ids=frozenset(int(k.key_id) for k in info.key_info),
        loaded_at=time.monotonic(),
    )
    if purpose in MAC_PURPOSES:
        return ring
    by_prefix = _per_key_aeads(handle)
    primary_prefix = bytes([TINK_PREFIX_BYTE]) + primary.to_bytes(4, "big")
    return replace(
        ring, by_prefix=by_prefix, primary_prefix=primary_prefix, primary_aead=by_prefix[primary_prefix]
    )


def verify_root_key(root: RootKey | None = None) -> None:
    """Refuse a root key that does not open the keysets already stored (checked once per root key).

    Run before any keyset is written, so a process started with the wrong root key writes nothing a
    correctly configured one could not read.
    """
    root = root or current_root_key()
    if root in _checked_roots:
        return
    row = _table().objects.order_by("created_at", "id").values_list("purpose", "workspace_id", "wrapped")
    first = row.first()
    if first is not None:
        unwrap(root, first[0], first[1], bytes(first[2]))
    _checked_roots.add(root)


def check_root_key() -> None:
    """For start-up checks: the configured root key loads and opens the stored keysets.

    RootKeyError (one line naming the variable) otherwise. Before the first migration there is no
    keyset table yet, and nothing stored to open.
    """
    root = current_root_key()
    try:
        verify_root_key(root)
    except DatabaseError:
        if _table()._meta.db_table in connection.introspection.table_names():
            raise


def _stored(purpose: str, workspace_id: uuid.UUID | None) -> bytes | None:
    rows = _table().objects.filter(purpose=purpose)
    if workspace_id is None:
        rows = rows.filter(workspace_id__isnull=True)
    else:
        rows = rows.filter(workspace_id=workspace_id)
    wrapped = rows.values_list("wrapped", flat=True).first()
    return None if wrapped is None else bytes(wrapped)


def _create(purpose: str, workspace_id: uuid.UUID | None) -> tuple[Keyring, int]:
    """A new keyset, or the one another process created first; with the cache generation it is from."""
    key = cache_key(purpose, workspace_id)
    root = current_root_key()
    verify_root_key(root)
    handle = tink.new_keyset_handle(_template(purpose))
    wrapped = wrap(root, purpose, workspace_id, handle)
    try:
        with transaction.atomic():
            _table().objects.create(purpose=purpose, workspace_id=workspace_id, wrapped=wrapped)
    except IntegrityError:
        # Another process created it first: theirs is the keyset, ours was never used.
        generation = _generations.get(key, 0)
        stored = _stored(purpose, workspace_id)
        if stored is None:  # pragma: no cover - the winner's row exists or the insert would have passed
            raise
        return _ring(purpose, workspace_id, stored, unwrap(root, purpose, workspace_id, stored)), generation
    _mark_written(key)
    return _ring(purpose, workspace_id, wrapped, handle), _generations.get(key, 0)


def keyring(
    purpose: str, workspace_id: uuid.UUID | None, *, create: bool = True, refresh: bool = False
) -> Keyring:
    """The opened keyset for a purpose and workspace (None: the platform's), from the cache when fresh."""
    key = cache_key(purpose, workspace_id)
    cached = _cache.get(key)  # a single dict read needs no lock; writes take it
    if cached is not None and not refresh and time.monotonic() - cached.loaded_at < CACHE_SECONDS:
        return cached
    held = None if refresh else _held_ring(key)
    if held is not None:
        return held
    generation = _generations.get(key, 0)  # read before the database: see _mark_written
    stored = _stored(purpose, workspace_id)
    if stored is None:
        if not create:
            raise KeysetMissingError(f"there is no {keyset_label(purpose, workspace_id)}")
        return _remember(*_create(purpose, workspace_id))
    if cached is not None and cached.wrapped == stored:
        return _remember(replace(cached, loaded_at=time.monotonic()), generation)
    handle = unwrap(current_root_key(), purpose, workspace_id, stored)
    return _remember(_ring(purpose, workspace_id, stored, handle), generation)


def workspace_keyring(workspace_id: uuid.UUID | None) -> Keyring:
    """The workspace's AEAD keyset, or the platform's for platform-scoped data (workspace None)."""
    if workspace_id is None:
        cached = _cache.get((PLATFORM_PURPOSE, None))
    else:
        cached = _cache.get((WORKSPACE_PURPOSE, workspace_id.int))
    if cached is not None and time.monotonic() - cached.loaded_at < CACHE_SECONDS:
        return cached
    if workspace_id is None:
        return keyring(PLATFORM_PURPOSE, None)
    return keyring(WORKSPACE_PURPOSE, workspace_id)


def forget_cached_keysets() -> None:
    global _epoch
    with _lock:
        _cache.clear()
        _checked_roots.clear()
        _epoch += 1


# Key management: used by rotation, under a row lock so two operators cannot interleave.


@dataclass(frozen=True)
class StoredKeyset:
    row_id: uuid.UUID
    purpose: str
    workspace_id: uuid.UUID | None
    wrapped: bytes
    rotated_at: Any


def stored_keysets(purposes: tuple[str, ...] | None = None) -> Iterator[StoredKeyset]:
    rows = _table().objects.order_by("created_at", "id")
    if purposes is not None:
        rows = rows.filter(purpose__in=purposes)
    for row_id, purpose, workspace_id, wrapped, rotated_at in rows.values_list(
        "id", "purpose", "workspace_id", "wrapped", "rotated_at"
    ).iterator():
        yield StoredKeyset(row_id, purpose, workspace_id, bytes(wrapped), rotated_at)


def _locked(purpose: str, workspace_id: uuid.UUID | None) -> WrappedKeyset:
    rows = _table().objects.select_for_update().filter(purpose=purpose)
    rows = (
        rows.filter(workspace_id__isnull=True)
        if workspace_id is None
        else rows.filter(workspace_id=workspace_id)
    )
    row = rows.first()
    if row is None:
        raise KeysetMissingError(
            f"there is no {keyset_label(purpose, workspace_id)}: nothing has been sealed under it yet"
        )
    return row


@dataclass(frozen=True)
class KeysetChange:
    purpose: str
    workspace_id: uuid.UUID | None
    old_primary_key_id: int
    new_primary_key_id: int


def add_primary(purpose: str, workspace_id: uuid.UUID | None) -> KeysetChange:
    """Add a fresh key to a stored keyset and make it primary; the old keys stay to open old values.

    Runs inside the caller's transaction; this process uses the new key as soon as that commits, the
    others within CACHE_SECONDS.
    """
    root = current_root_key()
    verify_root_key(root)
    row = _locked(purpose, workspace_id)
    handle = unwrap(root, purpose, workspace_id, bytes(row.wrapped))
    old = int(handle.keyset_info().primary_key_id)
    rotated = add_primary_key(handle, _template(purpose))
    row.wrapped = wrap(root, purpose, workspace_id, rotated)
    row.rotated_at = timezone.now()
    row.save(update_fields=["wrapped", "rotated_at", "updated_at"])
    _mark_written(cache_key(purpose, workspace_id))
    return KeysetChange(purpose, workspace_id, old, int(rotated.keyset_info().primary_key_id))


def drop_key(purpose: str, workspace_id: uuid.UUID | None, key_id: int) -> None:
    """Remove one non-primary key from a stored keyset (the caller has checked nothing uses it)."""
    root = current_root_key()
    row = _locked(purpose, workspace_id)
    handle = unwrap(root, purpose, workspace_id, bytes(row.wrapped))
    row.wrapped = wrap(root, purpose, workspace_id, remove_key(handle, key_id))
    row.save(update_fields=["wrapped", "updated_at"])
    _mark_written(cache_key(purpose, workspace_id))


def rewrap(stored: StoredKeyset, root: RootKey) -> bool:
    """Wrap one stored keyset under the root key's primary; False when the row changed meanwhile."""
    handle = unwrap(root, stored.purpose, stored.workspace_id, stored.wrapped)
    wrapped = wrap(root, stored.purpose, stored.workspace_id, handle)
    with transaction.atomic():
        changed = (
            _table()
            .objects.filter(id=stored.row_id, wrapped=stored.wrapped)
            .update(wrapped=wrapped, updated_at=timezone.now())
        )
    return changed == 1
