"""Sealing and opening values: AES-256-GCM under the workspace's (or platform's) keyset, bound to a record.

Every ciphertext is a Tink ciphertext: a 5-byte prefix naming the key that sealed it, then the nonce,
the encrypted value and the tag. The associated data binds it to one workspace, table, row and field,
so a ciphertext copied into another record does not open; the error names the record, never a value.

Job history is sealed twice: with the workspace's key, then with the platform's. Each layer is bound
to the record and to its own layer, so neither key alone opens it and the layers cannot be swapped.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import tink

from causeway.vault.keysets import BLIND_INDEX_PURPOSE, PLATFORM_PURPOSE, Keyring, keyring, workspace_keyring
from causeway.vault.rootkey import PREFIX_SIZE, prefix_key_id

LAYER_VALUE = b"value"
LAYER_HISTORY_INNER = b"job-history:workspace"
LAYER_HISTORY_OUTER = b"job-history:platform"


def _header(layer: bytes) -> bytes:
    """The start of every associated data: the format's version and the layer it seals, length-prefixed."""
    header = b"causeway:sealed:v1:" + layer
    return struct.pack(">I", len(header)) + header


_LAYER_HEADERS = {layer: _header(layer) for layer in (LAYER_VALUE, LAYER_HISTORY_INNER, LAYER_HISTORY_OUTER)}


@dataclass(frozen=True, slots=True)
class Scope:
    """The record a sealed value belongs to. workspace_id None: platform-scoped data (profile details)."""

    workspace_id: uuid.UUID | None
    table: str
    row_id: str
    field: str
    _binding: bytes = dataclass_field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # The parts' lengths first, then the parts: no two different scopes encode to the same bytes.
        # Computed once per scope, since every seal and open of the record needs it.
        parts = (
            self.workspace_id.bytes if self.workspace_id else b"platform",
            self.table.encode(),
            self.row_id.encode(),
            self.field.encode(),
        )
        lengths = struct.pack(">IIII", *(len(part) for part in parts))
        object.__setattr__(self, "_binding", lengths + b"".join(parts))

    def describe(self) -> str:
        where = f"workspace {self.workspace_id}" if self.workspace_id else "the platform"
        return f"{self.table} row {self.row_id} field {self.field} ({where})"

    def associated_data(self, layer: bytes) -> bytes:
        return _LAYER_HEADERS[layer] + self._binding


class SealedValueError(Exception):
    """A sealed value did not open: altered, moved from another record, or under an unknown key.

    The message names the record (table, row, field) so an operator can find it; it never holds the
    value or the ciphertext.
    """

    def __init__(self, scope: Scope, reason: str) -> None:
        self.scope = scope
        super().__init__(f"sealed value of {scope.describe()} does not open: {reason}")


def _seal(ring: Keyring, value: bytes, scope: Scope, layer: bytes) -> bytes:
    sealed: bytes = ring.primary_prefix + ring.primary_aead.encrypt(
        value, _LAYER_HEADERS[layer] + scope._binding
    )
    return sealed


def _open(ring: Keyring, ciphertext: bytes, scope: Scope, layer: bytes, what: str) -> bytes:
    primitive = ring.by_prefix.get(ciphertext[:PREFIX_SIZE])
    if primitive is None:
        key_id = prefix_key_id(ciphertext)
        if key_id is None:
            raise SealedValueError(scope, f"the {what} is not a sealed value")
        # Perhaps sealed by another process after a rotation this process has not seen yet.
        ring = keyring(ring.purpose, ring.workspace_id, refresh=True)
        primitive = ring.by_prefix.get(ciphertext[:PREFIX_SIZE])
        if primitive is None:
            raise SealedValueError(
                scope,
                f"the {what} names key {key_id}, which this record's keyset does not hold "
                "(moved from another workspace, or sealed under a retired key)",
            )
    try:
        opened: bytes = primitive.decrypt(ciphertext[PREFIX_SIZE:], _LAYER_HEADERS[layer] + scope._binding)
    except tink.TinkError:
        raise SealedValueError(
            scope, f"the {what} belongs to another record or was altered (integrity check failed)"
        ) from None
    return opened


def seal(value: bytes, *, scope: Scope) -> bytes:
    """Encrypt value under the primary key of the scope's workspace keyset (the platform's if None)."""
    return _seal(workspace_keyring(scope.workspace_id), value, scope, LAYER_VALUE)


def open_(ciphertext: bytes, *, scope: Scope) -> bytes:
    """Decrypt a value sealed for exactly this scope; SealedValueError naming the record otherwise."""
    return _open(workspace_keyring(scope.workspace_id), ciphertext, scope, LAYER_VALUE, "ciphertext")


def _history_scope(scope: Scope) -> uuid.UUID:
    if scope.workspace_id is None:
        raise ValueError("job history always belongs to a workspace: its scope needs a workspace_id")
    return scope.workspace_id


def seal_job_history(value: bytes, *, scope: Scope) -> bytes:
    """Seal with the workspace's key, then seal that with the platform's key."""
    inner = _seal(workspace_keyring(_history_scope(scope)), value, scope, LAYER_HISTORY_INNER)
    return _seal(keyring(PLATFORM_PURPOSE, None), inner, scope, LAYER_HISTORY_OUTER)


def open_job_history(ciphertext: bytes, *, scope: Scope) -> bytes:
    """Open the platform layer, then the workspace layer (the reverse of sealing)."""
    workspace_id = _history_scope(scope)
    inner = _open(keyring(PLATFORM_PURPOSE, None), ciphertext, scope, LAYER_HISTORY_OUTER, "platform layer")
    return _open(workspace_keyring(workspace_id), inner, scope, LAYER_HISTORY_INNER, "workspace layer")


def open_job_history_outer(ciphertext: bytes, *, scope: Scope) -> bytes:
    """Only the platform layer: what rotation needs to see (and re-seal) the workspace layer's key."""
    _history_scope(scope)
    return _open(keyring(PLATFORM_PURPOSE, None), ciphertext, scope, LAYER_HISTORY_OUTER, "platform layer")


def blind_index(purpose: str, value: str) -> str:
    """A keyed, deterministic index of value, for finding a record by a sealed field (log in by email).

    HMAC-SHA256 under its own keyset (wrapped by the root key like the others), over the purpose and the
    value, so the same value indexed for two purposes gives unrelated results and a database reader
    cannot test guesses. Normalise the value first (an email: stripped and lower-cased). The result
    starts with the key's id, like every Tink tag.
    """
    ring = keyring(BLIND_INDEX_PURPOSE, None)
    tag: bytes = ring.primitive.compute_mac(
        len(purpose).to_bytes(4, "big") + purpose.encode() + value.encode()
    )
    return tag.hex()
