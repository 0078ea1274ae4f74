"""Workspace signatures: made under the workspace's own keyset, checked only against exactly what was
signed, in exactly the workspace that signed it."""

from __future__ import annotations

import uuid

import pytest

from causeway.vault import keysets
from causeway.vault.models import WrappedKeyset
from causeway.vault.signing import sign, verify

pytestmark = pytest.mark.django_db


def test_a_signature_verifies_only_the_content_and_workspace_it_was_made_for() -> None:
    workspace, other = uuid.uuid4(), uuid.uuid4()
    tag = sign(workspace, b"version 3 of Sync")
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
    tag = sign(workspace, b"content")
    row = WrappedKeyset.objects.get(purpose=keysets.SIGNING_PURPOSE, workspace_id=workspace)
    assert bytes(row.wrapped) and tag not in bytes(row.wrapped)
    keysets.forget_cached_keysets()
    assert verify(workspace, tag, b"content")
    assert (
        int.from_bytes(tag[1:5], "big") == keysets.keyring(keysets.SIGNING_PURPOSE, workspace).primary_key_id
    )
