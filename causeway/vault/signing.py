"""Signatures a workspace puts on what it vouches for, such as a recipe version promoted into PROD.

HMAC-SHA256 (Tink) under the workspace's own signing keyset, wrapped by the root key like every other
keyset and made at its first use. A database writer can change what is signed but cannot make the tag
that goes with the change: the key is never stored in the clear. The caller decides what the signed
bytes are; each tag names, in its prefix, the key that made it, and the caller keeps that key id
beside the tag.

The signing key rotates like every keyset: a new primary key signs from then on, and the old keys stay
in the keyset, so what they signed still verifies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import tink

from causeway.vault.keysets import SIGNING_PURPOSE, KeysetMissingError, add_primary, keyring

# A Tink tag starts with its output prefix: 0x01, then the 4-byte id of the key that made it.
_PREFIX = b"\x01"
_PREFIX_LENGTH = 5


@dataclass(frozen=True)
class Signature:
    tag: bytes
    key_id: int


@dataclass(frozen=True)
class SigningRotation:
    old_key_id: int | None
    new_key_id: int


def key_id_of(tag: bytes) -> int | None:
    """The id of the key that made `tag`, as its prefix names it; None for a tag of no known shape."""
    tag = bytes(tag)
    if len(tag) <= _PREFIX_LENGTH or not tag.startswith(_PREFIX):
        return None
    return int.from_bytes(tag[1:_PREFIX_LENGTH], "big")


def sign(workspace_id: uuid.UUID, content: bytes) -> Signature:
    """A tag over `content` under the workspace's primary signing key (the keyset is made if the
    workspace has none yet), with that key's id."""
    ring = keyring(SIGNING_PURPOSE, workspace_id)
    tag: bytes = ring.primitive.compute_mac(content)
    return Signature(tag, ring.primary_key_id)


def verify(workspace_id: uuid.UUID, tag: bytes, content: bytes, *, key_id: int | None = None) -> bool:
    """True only when the workspace's signing keyset made `tag` over exactly `content` (and, given
    `key_id`, with that very key): another workspace's tag, an altered content, tag or key id, and a
    workspace that never signed anything are False."""
    tag = bytes(tag)
    named = key_id_of(tag)
    if named is None or (key_id is not None and key_id != named):
        return False
    try:
        ring = keyring(SIGNING_PURPOSE, workspace_id, create=False)
        if named not in ring.key_ids:
            # A key added by a rotation in another process within the cache's lifetime.
            ring = keyring(SIGNING_PURPOSE, workspace_id, create=False, refresh=True)
    except KeysetMissingError:
        return False
    try:
        ring.primitive.verify_mac(tag, content)
    except tink.TinkError:
        return False
    return True


def current_key_id(workspace_id: uuid.UUID) -> int | None:
    """The id of the key that signs for the workspace now; None before its first signature."""
    try:
        return keyring(SIGNING_PURPOSE, workspace_id, create=False).primary_key_id
    except KeysetMissingError:
        return None


def rotate(workspace_id: uuid.UUID) -> SigningRotation:
    """A new primary signing key for the workspace, used by every signature from now on; the old keys
    stay, so what they signed still verifies. A workspace that never signed gets its first key.
    Runs inside the caller's transaction."""
    try:
        change = add_primary(SIGNING_PURPOSE, workspace_id)
    except KeysetMissingError:
        return SigningRotation(None, keyring(SIGNING_PURPOSE, workspace_id).primary_key_id)
    return SigningRotation(change.old_primary_key_id, change.new_primary_key_id)
