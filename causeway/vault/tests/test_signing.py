"""Workspace signatures: made under the workspace's own keyset, checked only against exactly what was
signed, in exactly the workspace that signed it."""

from __future__ import annotations

import uuid

import pytest

from causeway.vault import keysets
from causeway.vault.models import WrappedKeyset
from causeway.vault.signing import current_key_id, key_id_of, rotate, sign, verify

pytestmark = pytest.mark.django_db


def test_a_signature_verifies_only_the_content_and_workspace_it_was_made_for() -> None:
    workspace, other = uuid.uuid4(), uuid.uuid4()
    tag = sign(workspace, b"version 3 of Sync").tag
    assert verify(workspace, tag, b"version 3 of Sync")
    assert not verify(workspace, tag, b"version 3 of Sync ")
    flipped = bytes([tag[0]]) + bytes([tag[1] ^ 1]) + tag[2:]
    assert not verify(workspace, flipped, b"version 3 of Sync")
    assert not verify(workspace, tag[:-1], b"version 3 of Sync")
    sign(other, b"anything")
    assert not verify(other, tag, b"version 3 of Sync")


def test_a_workspace_that_never_signed_verifies_nothing_and_gets_no_keyset_by_asking() -> None:
    workspace = uuid.uuid4()
    assert not verify(workspace, b"\x01\x00\x00\x00\x01" + bytes(32), b"content")
    assert not WrappedKeyset.objects.filter(purpose=keysets.SIGNING_PURPOSE, workspace_id=workspace).exists()


def test_the_signing_keyset_is_stored_wrapped_and_reopened_from_the_database() -> None:
    workspace = uuid.uuid4()
    made = sign(workspace, b"content")
    tag = made.tag
    row = WrappedKeyset.objects.get(purpose=keysets.SIGNING_PURPOSE, workspace_id=workspace)
    assert bytes(row.wrapped) and tag not in bytes(row.wrapped)
    keysets.forget_cached_keysets()
    assert verify(workspace, tag, b"content")
    assert (
        int.from_bytes(tag[1:5], "big") == keysets.keyring(keysets.SIGNING_PURPOSE, workspace).primary_key_id
    )
    assert made.key_id == key_id_of(tag)


def test_a_tag_names_its_key_and_a_tag_of_no_known_shape_names_none() -> None:
    assert key_id_of(b"\x01\x00\x00\x01\x02" + bytes(32)) == 258
    assert key_id_of(b"\x00\x00\x00\x01\x02" + bytes(32)) is None  # not Tink's prefix
    assert key_id_of(b"\x01\x00\x00\x01") is None  # too short to carry a MAC
    assert not verify(uuid.uuid4(), b"\x01\x00", b"content")


def test_after_a_rotation_old_tags_verify_under_their_own_key_only_and_new_ones_use_the_new_key() -> None:
    workspace = uuid.uuid4()
    assert current_key_id(workspace) is None
    first = rotate(workspace)  # a workspace that never signed gets its first key
    assert first.old_key_id is None and current_key_id(workspace) == first.new_key_id
    old = sign(workspace, b"v1")
    assert old.key_id == first.new_key_id
    second = rotate(workspace)
    assert second.old_key_id == first.new_key_id and second.new_key_id != first.new_key_id
    new = sign(workspace, b"v2")
    assert new.key_id == second.new_key_id == current_key_id(workspace)
    assert verify(workspace, old.tag, b"v1", key_id=old.key_id)
    assert verify(workspace, new.tag, b"v2", key_id=new.key_id)
    assert not verify(workspace, old.tag, b"v1", key_id=new.key_id)  # a key id that did not make it


def test_a_process_with_the_keyset_cached_before_a_rotation_reads_it_again_for_a_new_key() -> None:
    workspace = uuid.uuid4()
    sign(workspace, b"v1")
    cached = keysets.keyring(keysets.SIGNING_PURPOSE, workspace)
    # Another process rotates: the stored keyset changes, this process's cache still holds the old one.
    rotated = rotate(workspace)
    keysets._cache[keysets.cache_key(keysets.SIGNING_PURPOSE, workspace)] = cached
    made = sign(workspace, b"v2")
    assert made.key_id == cached.primary_key_id  # the stale cache signs with the old key
    fresh = keysets.keyring(keysets.SIGNING_PURPOSE, workspace, refresh=True)
    tag = fresh.primitive.compute_mac(b"v3")
    keysets._cache[keysets.cache_key(keysets.SIGNING_PURPOSE, workspace)] = cached
    assert key_id_of(tag) == rotated.new_key_id not in cached.key_ids
    assert verify(workspace, tag, b"v3", key_id=rotated.new_key_id)
