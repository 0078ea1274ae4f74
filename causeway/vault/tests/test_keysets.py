"""Keysets: created once under races, cached briefly, reloaded for keys they do not know yet."""

from __future__ import annotations

import threading
import uuid

import pytest
import tink
from django.db import connection, transaction
from tink import aead

from causeway.vault import keysets
from causeway.vault.keysets import (
    BLIND_INDEX_PURPOSE,
    WORKSPACE_PURPOSE,
    KeysetMissingError,
    keyring,
    keyset_associated_data,
    workspace_keyring,
)
from causeway.vault.models import WrappedKeyset
from causeway.vault.rootkey import RootKeyError, add_primary_key, current_root_key, new_root_keyset_json
from causeway.vault.sealing import Scope, blind_index, open_, seal


def _other_process_rotates(workspace_id: uuid.UUID) -> int:
    """What another process's rotation leaves in the database, without touching this process's cache."""
    root = current_root_key()
    row = WrappedKeyset.objects.get(purpose=WORKSPACE_PURPOSE, workspace_id=workspace_id)
    handle = keysets.unwrap(root, WORKSPACE_PURPOSE, workspace_id, bytes(row.wrapped))
    rotated = add_primary_key(handle, keysets.AEAD_TEMPLATE)
    WrappedKeyset.objects.filter(pk=row.pk).update(
        wrapped=keysets.wrap(root, WORKSPACE_PURPOSE, workspace_id, rotated)
    )
    return int(rotated.keyset_info().primary_key_id)


@pytest.mark.django_db(transaction=True)
def test_a_rotation_elsewhere_reaches_new_writes_when_the_cache_expires(monkeypatch):
    workspace = uuid.uuid4()
    old = workspace_keyring(workspace).primary_key_id
    assert (
        keysets._cache[keysets.cache_key(WORKSPACE_PURPOSE, workspace)].primary_key_id == old
    )  # committed, so cached
    new = _other_process_rotates(workspace)
    assert workspace_keyring(workspace).primary_key_id == old  # still within CACHE_SECONDS
    monkeypatch.setattr(keysets, "CACHE_SECONDS", 0.0)
    assert workspace_keyring(workspace).primary_key_id == new


@pytest.mark.django_db(transaction=True)
def test_a_value_under_a_key_this_process_has_not_seen_forces_a_reload():
    workspace = uuid.uuid4()
    scope = Scope(workspace, "t", "r", "f")
    stale = workspace_keyring(workspace)
    new = _other_process_rotates(workspace)
    keysets.forget_cached_keysets()
    sealed_elsewhere = seal(b"written by the other process", scope=scope)
    keysets._cache[keysets.cache_key(WORKSPACE_PURPOSE, workspace)] = (
        stale  # this process still holds the old keyset
    )
    assert open_(sealed_elsewhere, scope=scope) == b"written by the other process"
    assert keysets._cache[keysets.cache_key(WORKSPACE_PURPOSE, workspace)].primary_key_id == new


@pytest.mark.django_db(transaction=True)
def test_a_keyset_created_by_another_process_first_wins():
    workspace = uuid.uuid4()
    winner: dict[str, int] = {}

    def other_process() -> None:
        try:
            winner["key"] = keyring(WORKSPACE_PURPOSE, workspace).primary_key_id
        finally:
            connection.close()

    thread = threading.Thread(target=other_process)
    thread.start()
    thread.join()
    keysets.forget_cached_keysets()
    # This process saw no keyset a moment ago and creates one: the insert loses, the winner's is used.
    lost, _generation = keysets._create(WORKSPACE_PURPOSE, workspace)
    assert lost.primary_key_id == winner["key"]
    assert WrappedKeyset.objects.filter(purpose=WORKSPACE_PURPOSE, workspace_id=workspace).count() == 1


@pytest.mark.django_db(transaction=True)
def test_processes_racing_to_create_a_keyset_end_with_one():
    workspace = uuid.uuid4()
    barrier = threading.Barrier(4)
    seen: list[int] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            barrier.wait()
            seen.append(keyring(WORKSPACE_PURPOSE, workspace).primary_key_id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(seen)) == 1
    assert WrappedKeyset.objects.filter(purpose=WORKSPACE_PURPOSE, workspace_id=workspace).count() == 1


@pytest.mark.django_db
def test_a_keyset_written_in_an_unfinished_transaction_is_not_cached(django_assert_num_queries):
    workspace = uuid.uuid4()
    made = workspace_keyring(workspace)
    assert keysets.cache_key(WORKSPACE_PURPOSE, workspace) not in keysets._cache
    with django_assert_num_queries(0):  # the transaction that wrote it holds it
        assert workspace_keyring(workspace) is made
    assert keysets.cache_key(WORKSPACE_PURPOSE, workspace) not in keysets._cache
    seen = []
    key = keysets.cache_key(WORKSPACE_PURPOSE, workspace)
    other = threading.Thread(target=lambda: seen.append(keysets._held_ring(key)))
    other.start()
    other.join()
    assert seen == [None]  # no other thread of the process is handed it


@pytest.mark.django_db
def test_a_keyset_written_under_a_savepoint_rolled_back_is_forgotten_with_it():
    workspace = uuid.uuid4()
    with pytest.raises(RuntimeError), transaction.atomic():
        made = workspace_keyring(workspace)
        raise RuntimeError
    again = workspace_keyring(workspace)  # made anew: the first one's row is gone
    assert again.wrapped != made.wrapped
    assert WrappedKeyset.objects.filter(workspace_id=workspace).get().wrapped == again.wrapped


@pytest.mark.django_db
def test_a_rotation_rolled_back_leaves_the_keyset_held_as_it_was(sink):
    from causeway.vault.rotation import rotate_keyset

    workspace = uuid.uuid4()
    before = workspace_keyring(workspace)
    with pytest.raises(RuntimeError), transaction.atomic():
        rotation = rotate_keyset(workspace_id=workspace, on_change=sink)
        assert workspace_keyring(workspace).primary_key_id == rotation.new_key_id
        raise RuntimeError
    assert workspace_keyring(workspace).primary_key_id == before.primary_key_id
    assert workspace_keyring(workspace).wrapped == before.wrapped


@pytest.mark.django_db(transaction=True)
def test_a_keyset_of_a_transaction_rolled_back_is_not_held_after_it():
    workspace = uuid.uuid4()
    with pytest.raises(RuntimeError), transaction.atomic():
        made = workspace_keyring(workspace)
        raise RuntimeError
    again = workspace_keyring(workspace)  # outside any transaction: made, committed and cached
    assert again.wrapped != made.wrapped
    assert keysets._cache[keysets.cache_key(WORKSPACE_PURPOSE, workspace)] is again


@pytest.mark.django_db
def test_a_missing_keyset_is_not_created_when_asked_not_to():
    with pytest.raises(KeysetMissingError, match="there is no workspace-aead keyset of workspace"):
        keyring(WORKSPACE_PURPOSE, uuid.uuid4(), create=False)


@pytest.mark.django_db
def test_keysets_are_wrapped_and_bound_to_their_purpose_and_workspace():
    first, second = uuid.uuid4(), uuid.uuid4()
    workspace_keyring(first)
    workspace_keyring(second)
    row = WrappedKeyset.objects.get(workspace_id=first)
    root = current_root_key()
    # A wrapped keyset copied onto another workspace's row does not open there.
    with pytest.raises(tink.TinkError):
        tink.proto_keyset_format.parse_encrypted(
            bytes(row.wrapped), root.aead(), keyset_associated_data(WORKSPACE_PURPOSE, second)
        )
    WrappedKeyset.objects.filter(workspace_id=second).update(wrapped=row.wrapped)
    keysets.forget_cached_keysets()
    with pytest.raises(RootKeyError, match=f"workspace-aead keyset of workspace {second}"):
        workspace_keyring(second)


@pytest.mark.django_db
def test_a_wrong_root_key_is_refused_and_writes_nothing(settings):
    workspace_keyring(uuid.uuid4())
    rows = WrappedKeyset.objects.count()
    settings.ROOT_KEY = new_root_keyset_json()
    keysets.forget_cached_keysets()
    with pytest.raises(RootKeyError) as refused:
        workspace_keyring(uuid.uuid4())
    message = str(refused.value)
    assert message.startswith("CAUSEWAY_ROOT_KEY: the keyset in the variable does not open the stored")
    assert message.endswith("(wrong root key?)") and "\n" not in message
    assert WrappedKeyset.objects.count() == rows


@pytest.mark.django_db
def test_blind_index_is_keyed_deterministic_and_separated_by_purpose():
    email = "ada@example.com"
    index = blind_index("user.email", email)
    assert index == blind_index("user.email", email)
    assert index != blind_index("user.email", "ada@example.org")
    assert index != blind_index("invitation.email", email)
    assert email not in index and len(index) == 74  # the key id prefix, then 32 bytes, in hex
    assert int(index[2:10], 16) == keyring(BLIND_INDEX_PURPOSE, None).primary_key_id
    keysets.forget_cached_keysets()
    assert blind_index("user.email", email) == index
    assert WrappedKeyset.objects.filter(purpose=BLIND_INDEX_PURPOSE, workspace_id__isnull=True).count() == 1


def test_only_enabled_keys_with_tinks_prefix_are_used():
    from tink.proto import tink_pb2

    from causeway.vault.rootkey import _from_proto, _to_proto

    handle = add_primary_key(tink.new_keyset_handle(keysets.AEAD_TEMPLATE), keysets.AEAD_TEMPLATE)
    keyset = _to_proto(handle)
    disabled = next(k for k in keyset.key if k.key_id != keyset.primary_key_id)
    disabled.status = tink_pb2.DISABLED
    assert list(keysets._per_key_aeads(_from_proto(keyset))) == [
        bytes([1]) + keyset.primary_key_id.to_bytes(4, "big")
    ]
    raw = _to_proto(tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM_RAW))
    with pytest.raises(RootKeyError, match="does not use Tink's key id prefix"):
        keysets._per_key_aeads(_from_proto(raw))


@pytest.mark.django_db
def test_a_rewrap_that_lost_a_race_changes_nothing():
    workspace_keyring(uuid.uuid4())
    stored = next(keysets.stored_keysets())
    WrappedKeyset.objects.filter(pk=stored.row_id).update(
        wrapped=keysets.wrap(
            current_root_key(),
            stored.purpose,
            stored.workspace_id,
            keysets.unwrap(current_root_key(), stored.purpose, stored.workspace_id, stored.wrapped),
        )
    )
    assert keysets.rewrap(stored, current_root_key()) is False


@pytest.mark.django_db(transaction=True)
def test_a_keyset_read_before_a_rotation_committed_is_not_cached_after_it(sink):
    from causeway.vault.rotation import rotate_keyset

    workspace = uuid.uuid4()
    before = workspace_keyring(workspace)
    key = keysets.cache_key(WORKSPACE_PURPOSE, workspace)
    # Another thread starts loading: it notes the generation, then reads the row the rotation has
    # not committed yet (READ COMMITTED shows it the old keyset) ...
    generation = keysets._generations.get(key, 0)
    rotation = rotate_keyset(workspace_id=workspace, on_change=sink)
    # ... and offers the old keyset to the cache only after the rotation committed.
    keysets._remember(before, generation)
    assert workspace_keyring(workspace).primary_key_id == rotation.new_key_id


@pytest.mark.django_db
def test_the_start_up_check_refuses_a_root_key_that_does_not_open_the_keysets(settings):
    keysets.check_root_key()
    workspace_keyring(uuid.uuid4())
    keysets.check_root_key()
    settings.ROOT_KEY = new_root_keyset_json()
    keysets.forget_cached_keysets()
    with pytest.raises(RootKeyError, match=r"^CAUSEWAY_ROOT_KEY: .* \(wrong root key\?\)$"):
        keysets.check_root_key()


@pytest.mark.django_db(transaction=True)
def test_the_start_up_check_passes_before_the_first_migration():
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE vault_wrappedkeyset RENAME TO vault_wrappedkeyset_aside")
    try:
        keysets.check_root_key()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE vault_wrappedkeyset_aside RENAME TO vault_wrappedkeyset")


@pytest.mark.django_db(transaction=True)
def test_the_start_up_check_reports_a_broken_keyset_table():
    from django.db import DatabaseError

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE vault_wrappedkeyset RENAME COLUMN wrapped TO wrapped_aside")
    try:
        with pytest.raises(DatabaseError):
            keysets.check_root_key()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE vault_wrappedkeyset RENAME COLUMN wrapped_aside TO wrapped")
