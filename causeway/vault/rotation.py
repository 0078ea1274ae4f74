"""Key rotation without downtime: new primary keys, background re-encryption, usage counts, retirement.

The order of a rotation, and why it loses nothing:

1. `rotate_keyset` adds a fresh key to a keyset and makes it primary. The old key stays in the
   keyset, so every value sealed under it still opens; new writes use the new key at once in this
   process and within `keysets.CACHE_SECONDS` in every other.
2. `reencrypt` walks every registered sealed column in small batches, each batch its own short
   transaction, and re-seals values whose key is not their keyset's primary. Each row is replaced only
   if it still holds the ciphertext that was read (compare-and-swap), so a concurrent write is never
   overwritten, and nothing is locked beyond the rows of one batch. Killed half-way, it is simply run
   again: finished rows are no longer stale and are skipped.
3. `key_status` counts, per key, the values that still name it (Tink ciphertexts carry their key id),
   and in which tables.
4. `retire_key` removes a key from its keyset only when nothing names it, it is not primary, and it
   stopped being primary long enough ago (`RETIRE_GRACE`) that no process can still be sealing with it.

Append-only tables (the audit log): a model that declares `sealed_append_only = True` has rows that are
never rewritten, not even by re-encryption (its database triggers refuse UPDATE). Re-encryption skips
its columns, so each of its values stays under the key that sealed it, and that key cannot be retired
while such a row exists: retiring it would make those rows unreadable. `key_status` reports these uses
as `kept`, and `retire_key` refuses naming the table. A rotation still does its work for them: new rows
use the new key at once, so a leaked old key exposes only the rows written before the rotation.

Root rotation adds a root key (file back-end) or uses the root key's new primary (variable, KMS) and
re-wraps every stored keyset. Every operation reports a `VaultEvent` to its caller for the audit log.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import models, transaction
from django.db.models import Count
from django.db.models.functions import Substr
from django.utils import timezone

from causeway.vault import keysets
from causeway.vault.events import OnChange, VaultEvent
from causeway.vault.fields import SealedField, StoredCiphertext, sealed_fields
from causeway.vault.keysets import (
    AEAD_PURPOSES,
    PLATFORM_PURPOSE,
    WORKSPACE_PURPOSE,
    KeysetMissingError,
    keyset_label,
)
from causeway.vault.rootkey import (
    ENV_VARIABLE,
    PREFIX_SIZE,
    EnvironmentRootKey,
    FileRootKey,
    KeysetRootKey,
    KmsRootKey,
    RootKey,
    RootKeyError,
    current_root_key,
    prefix_key_id,
    write_private_file,
)
from causeway.vault.sealing import Scope, SealedValueError, open_job_history_outer

# A demoted key may still be primary in another process's keyset cache for CACHE_SECONDS, and a
# value sealed then may commit a little later; retiring waits well past both.
RETIRE_GRACE = timedelta(seconds=max(120.0, 10 * keysets.CACHE_SECONDS))
ROOT = "root"
# The model attribute by which a table says its rows are never rewritten (see the module's note).
APPEND_ONLY_ATTRIBUTE = "sealed_append_only"
# The name of the annotation holding a ciphertext's first bytes: one no model is likely to have as a
# field (workspaces.ApiToken has a "prefix"), since Django refuses an annotation named like a field.
KEY_PREFIX = "sealed_key_prefix"


class RotationError(Exception):
    """A key operation was refused; the message says why and what to do."""


UsageKey = tuple[str, uuid.UUID | None, int | None]
TableCounts = dict[UsageKey, Counter[str]]


@dataclass(frozen=True)
class KeyUsage:
    """One key and how many stored things name it (sealed values; for root keys, wrapped keysets).

    `tables` splits the sealed values by table, `kept` counts those in append-only tables: values that
    re-encryption never moves, which keep the key from being retired for as long as they exist.
    """

    purpose: str
    workspace_id: uuid.UUID | None
    key_id: int | None
    primary: bool
    in_keyset: bool
    uses: int
    tables: tuple[tuple[str, int], ...] = ()
    kept: int = 0


# Reading what is stored.


def _keyset_of(field_: SealedField, workspace: Any) -> tuple[str, uuid.UUID | None]:
    if field_.workspace_field is None or workspace is None:
        return (PLATFORM_PURPOSE, None)
    return (WORKSPACE_PURPOSE, workspace if isinstance(workspace, uuid.UUID) else uuid.UUID(str(workspace)))


def _scope(field_: SealedField, pk: Any, workspace: Any) -> Scope:
    _, workspace_id = _keyset_of(field_, workspace)
    return Scope(workspace_id, field_.model._meta.db_table, str(pk), str(field_.column))


def _rows(field_: SealedField) -> models.QuerySet[Any]:
    manager = field_.model._base_manager
    return manager.filter(**{f"{field_.attname}__isnull": False})


def _workspace_column(field_: SealedField) -> str | None:
    return field_._workspace_attname()


def _is_append_only(field_: SealedField) -> bool:
    return bool(getattr(field_.model, APPEND_ONLY_ATTRIBUTE, False))


def _append_only_tables() -> set[str]:
    return {field_.model._meta.db_table for field_ in sealed_fields() if _is_append_only(field_)}


def _count_values_by_table() -> TableCounts:
    """How many sealed values name each key, over every sealed column, per table."""
    counts: TableCounts = defaultdict(Counter)
    for field_ in sealed_fields():
        table = field_.model._meta.db_table
        workspace_column = _workspace_column(field_)
        group = [KEY_PREFIX, *([workspace_column] if workspace_column else [])]
        prefixes = (
            _rows(field_)
            .annotate(
                **{KEY_PREFIX: Substr(field_.attname, 1, PREFIX_SIZE, output_field=models.BinaryField())}
            )
            .values(*group)
            .annotate(n=Count("pk"))
            .order_by()
        )
        for row in prefixes:
            workspace = row.get(workspace_column) if workspace_column else None
            key_id = prefix_key_id(bytes(row[KEY_PREFIX]))
            if field_.job_history:
                counts[(PLATFORM_PURPOSE, None, key_id)][table] += row["n"]
            else:
                counts[(*_keyset_of(field_, workspace), key_id)][table] += row["n"]
        if field_.job_history:
            for key, n in _count_inner_layers(field_).items():
                counts[key][table] += n
    return counts


def _count_inner_layers(field_: SealedField) -> Counter[UsageKey]:
    """The workspace keys of double-sealed values: only visible once the platform layer is opened."""
    counts: Counter[UsageKey] = Counter()
    columns = ["pk", _workspace_column(field_) or "pk", field_.attname]
    for pk, workspace, ciphertext in _rows(field_).values_list(*columns).iterator(chunk_size=500):
        scope = _scope(field_, pk, workspace)
        try:
            inner = open_job_history_outer(bytes(ciphertext), scope=scope)
        except SealedValueError:
            counts[(WORKSPACE_PURPOSE, scope.workspace_id, None)] += 1
            continue
        counts[(WORKSPACE_PURPOSE, scope.workspace_id, prefix_key_id(inner))] += 1
    return counts


def _stored_aead_keysets() -> Iterator[keysets.Keyring]:
    for stored in keysets.stored_keysets(AEAD_PURPOSES):
        yield keysets.keyring(stored.purpose, stored.workspace_id, create=False, refresh=True)


def _root_usage(root: RootKey) -> list[KeyUsage]:
    wrapped = [stored.wrapped for stored in keysets.stored_keysets()]
    if not isinstance(root, KeysetRootKey):
        return [KeyUsage(ROOT, None, None, True, True, len(wrapped))]
    counts = Counter(root.wrapping_key_id(item) for item in wrapped)
    ids = root.key_ids()
    usage = [
        KeyUsage(ROOT, None, key_id, key_id == root.primary_key_id(), True, counts.get(key_id, 0))
        for key_id in sorted(ids)
    ]
    usage += [
        KeyUsage(ROOT, None, key_id, False, False, n) for key_id, n in counts.items() if key_id not in ids
    ]
    return usage


def key_status() -> list[KeyUsage]:
    """Every key of the root key, the platform keyset and each workspace keyset, with its uses.

    Keys named by stored values but missing from their keyset appear with in_keyset False: those
    values cannot be opened.
    """
    root = current_root_key()
    keysets.verify_root_key(root)
    usage = _root_usage(root)
    counts = _count_values_by_table()
    append_only = _append_only_tables()

    def used(slot: UsageKey, *, primary: bool, in_keyset: bool) -> KeyUsage:
        tables = counts.get(slot, Counter())
        return KeyUsage(
            *slot,
            primary=primary,
            in_keyset=in_keyset,
            uses=sum(tables.values()),
            tables=tuple(sorted(tables.items())),
            kept=sum(n for table, n in tables.items() if table in append_only),
        )

    known: set[UsageKey] = set()
    for ring in _stored_aead_keysets():
        for key_id in sorted(ring.key_ids):
            slot: UsageKey = (ring.purpose, ring.workspace_id, key_id)
            known.add(slot)
            usage.append(used(slot, primary=key_id == ring.primary_key_id, in_keyset=True))
    for stray in sorted(counts, key=str):
        if stray not in known:
            usage.append(used(stray, primary=False, in_keyset=False))
    return usage


# Rotating.


@dataclass(frozen=True)
class Rotation:
    purpose: str
    workspace_id: uuid.UUID | None
    old_key_id: int | None
    new_key_id: int | None


def _keyset_target(purpose: str, workspace_id: uuid.UUID | None) -> tuple[str, str, str]:
    return ("keyset", f"{purpose}:{workspace_id or 'platform'}", keyset_label(purpose, workspace_id))


def rotate_keyset(*, workspace_id: uuid.UUID | None, on_change: OnChange) -> Rotation:
    """A new primary key for a workspace's keyset (None: the platform's), used by new writes at once."""
    purpose = PLATFORM_PURPOSE if workspace_id is None else WORKSPACE_PURPOSE
    with transaction.atomic():
        try:
            change = keysets.add_primary(purpose, workspace_id)
        except KeysetMissingError as exc:
            raise RotationError(str(exc)) from None
        on_change(
            VaultEvent(
                "vault.key_rotated",
                _keyset_target(purpose, workspace_id),
                workspace_id,
                {"old_key_id": change.old_primary_key_id, "new_key_id": change.new_primary_key_id},
            )
        )
    return Rotation(purpose, workspace_id, change.old_primary_key_id, change.new_primary_key_id)


@dataclass
class RootRotation:
    backend: str
    old_key_id: int | None
    new_key_id: int | None
    rewrapped: int = 0
    written_to: Path | None = None


def _rewrap_stale(root: RootKey) -> int:
    """Wrap every stored keyset that is not under the root key's primary (under a KMS: every one)."""
    rewrapped = 0
    for stored in keysets.stored_keysets():
        if isinstance(root, KeysetRootKey) and root.wrapping_key_id(stored.wrapped) == root.primary_key_id():
            continue
        rewrapped += keysets.rewrap(stored, root)  # False when another writer changed it meanwhile
    return rewrapped


def _root_target(root: RootKey) -> tuple[str, str, str]:
    return ("root_key", root.variable, root.describe())


def rotate_root_key(*, on_change: OnChange, output: Path | None = None) -> RootRotation:
    """Rotate the root key and re-wrap every stored keyset under it.

    The file back-end gains a new primary key (the old keys stay, so nothing stops opening). The
    variable back-end cannot be written: with output, the current keyset plus a new primary key is
    written to that new 0600 file for the operator to install as CAUSEWAY_ROOT_KEY everywhere; run
    again once installed, it re-wraps. Under a KMS, the KMS's own current key version wraps.
    """
    root = current_root_key()
    keysets.verify_root_key(root)
    if isinstance(root, EnvironmentRootKey):
        if output is not None:
            text, new_key_id = root.keyset_with_new_primary()
            with transaction.atomic():
                on_change(
                    VaultEvent(
                        "vault.root_key_prepared",
                        _root_target(root),
                        None,
                        {"new_key_id": new_key_id, "file": str(output)},
                    )
                )
                try:
                    write_private_file(output, text)
                except OSError as exc:
                    raise RotationError(f"cannot write {output}: {exc.strerror}") from None
            return RootRotation("environment", root.primary_key_id(), new_key_id, 0, output)
        stale = [
            s for s in keysets.stored_keysets() if root.wrapping_key_id(s.wrapped) != root.primary_key_id()
        ]
        if not stale:
            raise RotationError(
                f"{ENV_VARIABLE}: every keyset is already wrapped by its primary key "
                f"{root.primary_key_id()}; to rotate, run `causeway keys rotate --root --output FILE`, "
                f"install FILE's keyset as {ENV_VARIABLE} in every process, then run this again"
            )
        with transaction.atomic():
            on_change(
                VaultEvent(
                    "vault.root_key_rotated", _root_target(root), None, {"new_key_id": root.primary_key_id()}
                )
            )
        return RootRotation("environment", None, root.primary_key_id(), _rewrap_stale(root))
    if isinstance(root, FileRootKey):
        old = root.primary_key_id()
        text, new_key_id = root.keyset_with_new_primary()
        with transaction.atomic():
            on_change(
                VaultEvent(
                    "vault.root_key_rotated",
                    _root_target(root),
                    None,
                    {"old_key_id": old, "new_key_id": new_key_id},
                )
            )
            root.replace(text)
        return RootRotation("file", old, new_key_id, _rewrap_stale(current_root_key()))
    assert isinstance(root, KmsRootKey)
    with transaction.atomic():
        on_change(VaultEvent("vault.root_key_rotated", _root_target(root), None, {"kms": root.uri}))
    return RootRotation("kms", None, None, _rewrap_stale(root))


# Re-encrypting.


@dataclass
class ReencryptReport:
    resealed: int = 0
    rewrapped: int = 0
    batches: int = 0
    complete: bool = True
    failed: list[str] = field(default_factory=list)


def _primaries() -> Callable[[str, uuid.UUID | None], int | None]:
    seen: dict[tuple[str, uuid.UUID | None], int | None] = {}

    def primary(purpose: str, workspace_id: uuid.UUID | None) -> int | None:
        slot = (purpose, workspace_id)
        if slot not in seen:
            try:
                seen[slot] = keysets.keyring(purpose, workspace_id, create=False).primary_key_id
            except KeysetMissingError:
                seen[slot] = None
        return seen[slot]

    return primary


def _stale_rows(field_: SealedField, batch_size: int) -> Iterator[list[tuple[Any, Any, bytes]]]:
    """Rows of one column whose value is not under its keyset's primary key, batch_size at a time."""
    primary = _primaries()
    workspace_column = _workspace_column(field_) or "pk"
    # A single-sealed value names its key in its first 5 bytes, so the scan reads only those, and the
    # whole ciphertext only of rows to re-seal. Job history's inner key shows only once it is opened.
    scanned = field_.attname if field_.job_history else KEY_PREFIX
    rows = (
        _rows(field_)
        .annotate(**{KEY_PREFIX: Substr(field_.attname, 1, PREFIX_SIZE, output_field=models.BinaryField())})
        .order_by("pk")
    )
    last: Any = None
    batch: list[tuple[Any, Any]] = []
    scan = max(batch_size * 4, 200)
    while True:
        page = rows if last is None else rows.filter(pk__gt=last)
        chunk = list(page.values_list("pk", workspace_column, scanned)[:scan])
        if not chunk:
            break
        for pk, workspace, data in chunk:
            last = pk
            purpose, workspace_id = _keyset_of(field_, workspace)
            if field_.job_history:
                stale = prefix_key_id(bytes(data)) != primary(PLATFORM_PURPOSE, None)
                if not stale:
                    try:
                        inner = open_job_history_outer(bytes(data), scope=_scope(field_, pk, workspace))
                    except SealedValueError:
                        inner = b""
                    stale = prefix_key_id(inner) != primary(purpose, workspace_id)
            else:
                stale = prefix_key_id(bytes(data)) != primary(purpose, workspace_id)
            if stale:
                batch.append((pk, workspace))
                if len(batch) >= batch_size:
                    yield _with_ciphertexts(field_, batch)
                    batch = []
    if batch:
        yield _with_ciphertexts(field_, batch)


def _with_ciphertexts(field_: SealedField, batch: list[tuple[Any, Any]]) -> list[tuple[Any, Any, bytes]]:
    """The batch's current ciphertexts; a row deleted since the scan simply drops out."""
    stored = dict(_rows(field_).filter(pk__in=[pk for pk, _ in batch]).values_list("pk", field_.attname))
    return [(pk, workspace, bytes(stored[pk])) for pk, workspace in batch if pk in stored]


def _reseal(field_: SealedField, pk: Any, workspace: Any, old: bytes) -> bool:
    scope = _scope(field_, pk, workspace)
    new = field_.seal(field_.open(old, scope), scope)
    updated = (
        _rows(field_)
        .filter(pk=pk, **{field_.attname: StoredCiphertext(old)})
        .update(**{field_.attname: StoredCiphertext(new)})
    )
    return bool(updated)


def reencrypt(
    *,
    on_change: OnChange,
    batch_size: int = 100,
    max_batches: int | None = None,
    on_batch: Callable[[ReencryptReport], None] | None = None,
) -> ReencryptReport:
    """Bring every stored keyset and sealed value under the current primary keys.

    Each batch is its own transaction; on_batch is called after each commits. With max_batches, stops
    after that many (complete False); a later run continues where this one stopped. A run that changed
    anything is reported to on_change once, at its end (the run, not each value).
    """
    report = _reencrypt(batch_size, max_batches, on_batch)
    if report.resealed or report.rewrapped or report.failed:
        with transaction.atomic():
            on_change(
                VaultEvent(
                    "vault.reencrypted",
                    ("vault", "sealed-values", "sealed values"),
                    None,
                    {
                        "resealed": report.resealed,
                        "rewrapped": report.rewrapped,
                        "failed": len(report.failed),
                        "complete": report.complete,
                    },
                    "failure" if report.failed else "success",
                )
            )
    return report


def _reencrypt(
    batch_size: int, max_batches: int | None, on_batch: Callable[[ReencryptReport], None] | None
) -> ReencryptReport:
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    keysets.forget_cached_keysets()  # the primaries must be the stored ones, not a cached view
    report = ReencryptReport()
    root = current_root_key()
    if isinstance(root, KeysetRootKey):
        report.rewrapped = _rewrap_stale(root)
    for field_ in sealed_fields():
        if _is_append_only(field_):
            continue  # never rewritten: its values keep their keys (see the module's note)
        for batch in _stale_rows(field_, batch_size):
            with transaction.atomic():
                for pk, workspace, old in batch:
                    try:
                        report.resealed += _reseal(field_, pk, workspace, old)  # False: written meanwhile
                    except SealedValueError as exc:
                        report.failed.append(str(exc))
            report.batches += 1
            if on_batch is not None:
                on_batch(report)
            if max_batches is not None and report.batches >= max_batches:
                report.complete = False
                return report
    return report


# Retiring.


@dataclass(frozen=True)
class Retirement:
    purpose: str
    workspace_id: uuid.UUID | None
    key_id: int


def _locate(
    key_id: int, purpose: str | None, workspace_id: uuid.UUID | None
) -> list[tuple[str, uuid.UUID | None]]:
    found: list[tuple[str, uuid.UUID | None]] = []
    root = current_root_key()
    if purpose in (None, ROOT) and isinstance(root, KeysetRootKey) and key_id in root.key_ids():
        found.append((ROOT, None))
    for ring in _stored_aead_keysets():
        if purpose not in (None, ring.purpose) or (workspace_id and ring.workspace_id != workspace_id):
            continue
        if key_id in ring.key_ids:
            found.append((ring.purpose, ring.workspace_id))
    return found


def retire_key(
    *,
    key_id: int,
    on_change: OnChange,
    purpose: str | None = None,
    workspace_id: uuid.UUID | None = None,
) -> Retirement:
    """Remove a key no stored value uses any more; RotationError saying why not otherwise."""
    found = _locate(key_id, purpose, workspace_id)
    if not found:
        raise RotationError(f"no keyset holds a key {key_id}")
    if len(found) > 1:
        raise RotationError(
            f"key {key_id} is in more than one keyset: say which with --workspace, --platform or --root"
        )
    where_purpose, where_workspace = found[0]
    if where_purpose == ROOT:
        return _retire_root_key(key_id, on_change)
    ring = keysets.keyring(where_purpose, where_workspace, create=False, refresh=True)
    label = keyset_label(where_purpose, where_workspace)
    if key_id == ring.primary_key_id:
        raise RotationError(f"key {key_id} is the primary key of the {label}: rotate first")
    tables = _count_values_by_table().get((where_purpose, where_workspace, key_id), Counter())
    kept = {table: n for table, n in tables.items() if table in _append_only_tables() and n}
    if kept:
        # Checked before the grace period: this refusal lasts as long as the rows do.
        where = ", ".join(f"{n} in {table}" for table, n in sorted(kept.items()))
        raise RotationError(
            f"key {key_id} of the {label} still seals {sum(kept.values())} value(s) ({where}) that are "
            "append-only and never re-encrypted: the key must stay as long as those rows are kept"
        )
    rotated_at = next(
        s.rotated_at for s in keysets.stored_keysets((where_purpose,)) if s.workspace_id == where_workspace
    )
    if rotated_at is not None and timezone.now() < rotated_at + RETIRE_GRACE:
        raise RotationError(
            f"key {key_id} of the {label} stopped being primary at {rotated_at:%Y-%m-%d %H:%M:%S} UTC; "
            f"processes may seal with it until {rotated_at + RETIRE_GRACE:%H:%M:%S}: retire it after that"
        )
    uses = sum(tables.values())
    if uses:
        raise RotationError(
            f"key {key_id} of the {label} still seals {uses} value(s): run `causeway keys reencrypt` first"
        )
    with transaction.atomic():
        keysets.drop_key(where_purpose, where_workspace, key_id)
        on_change(
            VaultEvent(
                "vault.key_retired",
                _keyset_target(where_purpose, where_workspace),
                where_workspace,
                {"key_id": key_id},
            )
        )
    return Retirement(where_purpose, where_workspace, key_id)


def _retire_root_key(key_id: int, on_change: OnChange) -> Retirement:
    root = current_root_key()
    assert isinstance(root, KeysetRootKey)
    if key_id == root.primary_key_id():
        raise RotationError(f"root key {key_id} is the root key's primary key: rotate it first")
    uses = sum(1 for s in keysets.stored_keysets() if root.wrapping_key_id(s.wrapped) == key_id)
    if uses:
        raise RotationError(
            f"root key {key_id} still wraps {uses} keyset(s): run `causeway keys reencrypt` first"
        )
    if not isinstance(root, FileRootKey):
        raise RotationError(
            f"{root.variable}: nothing uses root key {key_id} any more; remove it from the keyset in "
            f"{root.variable} yourself, since Causeway cannot change a process's environment"
        )
    with transaction.atomic():
        on_change(VaultEvent("vault.root_key_retired", _root_target(root), None, {"key_id": key_id}))
        root.replace(root.keyset_without(key_id))
    return Retirement(ROOT, None, key_id)


__all__ = [
    "APPEND_ONLY_ATTRIBUTE",
    "RETIRE_GRACE",
    "KeyUsage",
    "ReencryptReport",
    "Retirement",
    "RootKeyError",
    "RootRotation",
    "Rotation",
    "RotationError",
    "key_status",
    "reencrypt",
    "retire_key",
    "rotate_keyset",
    "rotate_root_key",
]
