"""Signatures a workspace puts on what it vouches for, such as a recipe version promoted into PROD.

HMAC-SHA256 (Tink) under the workspace's own signing keyset, wrapped by the root key like every other
keyset and made at its first use. A database writer can change what is signed but cannot make the tag
that goes with the change: the key is never stored in the clear. The caller decides what the signed
bytes are; each tag names, in its prefix, the key that made it.
"""

from __future__ import annotations

import uuid

import tink

from causeway.vault.keysets import SIGNING_PURPOSE, KeysetMissingError, keyring


def sign(workspace_id: uuid.UUID, content: bytes) -> bytes:
    """A tag over `content` under the workspace's signing key (made if the workspace has none yet)."""
    tag: bytes = keyring(SIGNING_PURPOSE, workspace_id).primitive.compute_mac(content)
    return tag


def verify(workspace_id: uuid.UUID, tag: bytes, content: bytes) -> bool:
    """True only when the workspace's signing keyset made `tag` over exactly `content`: another
    workspace's tag, an altered content or tag, and a workspace that never signed anything are False."""
    try:
        ring = keyring(SIGNING_PURPOSE, workspace_id, create=False)
    except KeysetMissingError:
        return False
    try:
        ring.primitive.verify_mac(bytes(tag), content)
    except tink.TinkError:
        return False
    return True
