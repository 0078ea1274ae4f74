"""Rule 12: keys rotate without downtime or loss; old values are re-sealed; a key retires at zero uses."""

from __future__ import annotations

import json
import stat
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from causeway.vault import keysets
from causeway.vault.fields import StoredCiphertext
from causeway.vault.keysets import PLATFORM_PURPOSE, WORKSPACE_PURPOSE, keyring, workspace_keyring
from causeway.vault.models import Secret, WrappedKeyset
from causeway.vault.rootkey import create_root_key_file, current_root_key, new_root_keyset_json
from causeway.vault.rotation import (
    RETIRE_GRACE,
    ROOT,
    RotationError,
    key_status,
    reencrypt,
    retire_key,
    rotate_keyset,
    rotate_root_key,
)
from causeway.vault.secrets import secret_set
from causeway.vault.tests.sample_models import SampleRecord


def _uses(purpose: str, workspace_id: uuid.UUID | None, key_id: int | None) -> int:
    for usage in key_status():
        if (usage.purpose, usage.workspace_id, usage.key_id) == (purpose, workspace_id, key_id):
            return usage.uses
    raise AssertionError(f"key {key_id} of {purpose}/{workspace_id} is not in the status")


def _wait_for(condition, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Writer(threading.Thread):
    """Keeps creating and replacing secrets, each write its own transaction, like a busy web process."""

    def __init__(self, workspace_id: uuid.UUID) -> None:
        super().__init__(daemon=True)
        self.workspace_id = workspace_id
        self.expected: dict[str, str] = {}
        self.writes = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                name = f"w{self.writes % 40}"  # replaces as well as creates
                value = f"value-{self.writes}-{uuid.uuid4().hex}"
                secret_set(
                    actor_id=None,
                    workspace_id=self.workspace_id,
                    name=name,
                    value=value,
                    on_change=lambda e: None,
                )
                self.expected[name] = value
                self.writes += 1
        except BaseException as exc:  # reported to the test, which fails on it
            self.error = exc
        finally:
            connection.close()


@pytest.mark.django_db(transaction=True)
def test_rule_12_rotation_while_a_writer_writes_loses_nothing_and_the_old_key_retires(sink, time_machine):
    workspace = uuid.uuid4()
    for i in range(20):
        secret_set(actor_id=None, workspace_id=workspace, name=f"seed{i}", value=f"seed-{i}", on_change=sink)
    old = workspace_keyring(workspace).primary_key_id

    writer = Writer(workspace)
    writer.start()
    try:
        _wait_for(lambda: writer.writes >= 5, "the writer to start writing")
        rotation = rotate_keyset(workspace_id=workspace, on_change=sink)
        assert rotation.old_key_id == old and rotation.new_key_id != old
        # This process seals under the new key at once.
        assert workspace_keyring(workspace).primary_key_id == rotation.new_key_id
        after_rotation = writer.writes
        _wait_for(lambda: writer.writes >= after_rotation + 60, "writes after the rotation")

        with pytest.raises(RotationError, match="stopped being primary"):
            retire_key(key_id=old, on_change=sink)
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert writer.error is None, writer.error
    assert not writer.is_alive()

    # Past the grace period, the old key is still refused while values use it.
    time_machine.move_to(timezone.now() + RETIRE_GRACE + timedelta(seconds=1), tick=True)
    assert _uses(WORKSPACE_PURPOSE, workspace, old) > 0
    with pytest.raises(RotationError, match=r"still seals \d+ value\(s\)"):
        retire_key(key_id=old, on_change=sink)

    report = reencrypt(batch_size=7, on_change=sink)
    assert report.complete and not report.failed and report.resealed > 0

    expected = {f"seed{i}": f"seed-{i}" for i in range(20)} | writer.expected
    stored = {s.name: s.value for s in Secret.objects.filter(workspace_id=workspace)}
    assert stored == expected
    assert _uses(WORKSPACE_PURPOSE, workspace, old) == 0
    assert _uses(WORKSPACE_PURPOSE, workspace, rotation.new_key_id) == len(expected)

    retirement = retire_key(key_id=old, on_change=sink)
    assert retirement.key_id == old
    keysets.forget_cached_keysets()
    assert old not in workspace_keyring(workspace).key_ids
    assert {s.name: s.value for s in Secret.objects.filter(workspace_id=workspace)} == expected
    assert {"vault.key_rotated", "vault.reencrypted", "vault.key_retired"} <= set(sink.actions)
    retired = next(e for e in sink.events if e.action == "vault.key_retired")
    assert retired.details == {"key_id": old} and retired.workspace_id == workspace


class Killed(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_rule_12_reencryption_killed_halfway_resumes_and_completes(sink):
    workspace = uuid.uuid4()
    for i in range(10):
        secret_set(actor_id=None, workspace_id=workspace, name=f"s{i}", value=f"secret-{i}", on_change=sink)
    records = [
        SampleRecord.objects.create(workspace_id=workspace, first=f"first-{i}", history={"i": i})
        for i in range(6)
    ]
    old_workspace = workspace_keyring(workspace).primary_key_id
    old_platform = keyring(PLATFORM_PURPOSE, None).primary_key_id
    rotate_keyset(workspace_id=workspace, on_change=sink)
    rotate_keyset(workspace_id=None, on_change=sink)
    before = _uses(WORKSPACE_PURPOSE, workspace, old_workspace)
    assert before == 10 + 6 + 6 + 6  # secrets, first, details, and the inner layer of history
    assert _uses(PLATFORM_PURPOSE, None, old_platform) == 6  # the outer layer of history

    def killed_after_one_batch(report):
        raise Killed

    with pytest.raises(Killed):
        reencrypt(batch_size=4, on_batch=killed_after_one_batch, on_change=sink)
    assert _uses(WORKSPACE_PURPOSE, workspace, old_workspace) == before - 4  # the first batch committed

    stopped = reencrypt(batch_size=4, max_batches=2, on_change=sink)
    assert not stopped.complete and stopped.batches == 2 and 0 < stopped.resealed <= 8
    assert _uses(WORKSPACE_PURPOSE, workspace, old_workspace) == before - 4 - stopped.resealed

    finished = reencrypt(batch_size=4, on_change=sink)
    assert finished.complete and not finished.failed
    assert _uses(WORKSPACE_PURPOSE, workspace, old_workspace) == 0
    assert _uses(PLATFORM_PURPOSE, None, old_platform) == 0
    assert reencrypt(batch_size=4, on_change=sink).resealed == 0  # nothing left to do

    keysets.forget_cached_keysets()
    assert {s.name: s.value for s in Secret.objects.filter(workspace_id=workspace)} == {
        f"s{i}": f"secret-{i}" for i in range(10)
    }
    for i, record in enumerate(records):
        loaded = SampleRecord.objects.get(pk=record.pk)
        assert (loaded.first, loaded.history) == (f"first-{i}", {"i": i})


@pytest.mark.django_db
def test_rule_12_the_primary_key_cannot_retire_and_unknown_keys_are_named(sink):
    workspace = uuid.uuid4()
    Secret.objects.create(workspace_id=workspace, name="a", value="value-a")
    primary = workspace_keyring(workspace).primary_key_id
    with pytest.raises(RotationError, match=f"key {primary} is the primary key"):
        retire_key(key_id=primary, on_change=sink)
    with pytest.raises(RotationError, match="no keyset holds a key 12345"):
        retire_key(key_id=12345, on_change=sink)
    assert sink.events == []


@pytest.mark.django_db
def test_rule_12_rotating_a_keyset_that_does_not_exist_is_refused(sink):
    with pytest.raises(RotationError, match="nothing has been sealed under it yet"):
        rotate_keyset(workspace_id=uuid.uuid4(), on_change=sink)


@pytest.mark.django_db
def test_rule_12_a_failing_audit_undoes_the_rotation():
    workspace = uuid.uuid4()
    Secret.objects.create(workspace_id=workspace, name="a", value="value-a")
    before = workspace_keyring(workspace).primary_key_id

    def audit_down(event):
        raise RuntimeError("audit unavailable")

    with pytest.raises(RuntimeError):
        rotate_keyset(workspace_id=workspace, on_change=audit_down)
    keysets.forget_cached_keysets()
    assert workspace_keyring(workspace).primary_key_id == before
    assert workspace_keyring(workspace).key_ids == {before}


@pytest.mark.django_db
def test_rule_12_root_rotation_rewraps_every_keyset_and_the_old_root_key_retires(tmp_path, settings, sink):
    settings.ROOT_KEY_FILE = tmp_path / "root-key.json"
    create_root_key_file(settings.ROOT_KEY_FILE)
    first, second = uuid.uuid4(), uuid.uuid4()
    Secret.objects.create(workspace_id=first, name="a", value="value-a")
    Secret.objects.create(workspace_id=second, name="b", value="value-b")
    record = SampleRecord.objects.create(profile="Ada Lovelace")
    old_root = current_root_key().primary_key_id()
    with pytest.raises(RotationError, match="root key's primary key"):
        retire_key(key_id=old_root, on_change=sink)

    rotation = rotate_root_key(on_change=sink)
    assert rotation.backend == "file" and rotation.old_key_id == old_root
    assert rotation.rewrapped == 3  # two workspaces and the platform
    stored = json.loads(settings.ROOT_KEY_FILE.read_text())
    assert {key["keyId"] for key in stored["key"]} == {old_root, rotation.new_key_id}
    assert stat.S_IMODE(settings.ROOT_KEY_FILE.stat().st_mode) == 0o600
    status = {u.key_id: u.uses for u in key_status() if u.purpose == ROOT}
    assert status == {old_root: 0, rotation.new_key_id: 3}

    retire_key(key_id=old_root, on_change=sink, purpose=ROOT)
    assert [key["keyId"] for key in json.loads(settings.ROOT_KEY_FILE.read_text())["key"]] == [
        rotation.new_key_id
    ]
    keysets.forget_cached_keysets()
    assert Secret.objects.get(workspace_id=first).value == "value-a"
    assert Secret.objects.get(workspace_id=second).value == "value-b"
    assert SampleRecord.objects.get(pk=record.pk).profile == "Ada Lovelace"
    assert sink.actions == ["vault.root_key_rotated", "vault.root_key_retired"]


@pytest.mark.django_db
def test_rule_12_root_key_in_the_environment_rotates_through_a_new_keyset_file(tmp_path, settings, sink):
    settings.ROOT_KEY = new_root_keyset_json()
    workspace = uuid.uuid4()
    Secret.objects.create(workspace_id=workspace, name="a", value="value-a")
    old_root = current_root_key().primary_key_id()
    with pytest.raises(RotationError, match="already wrapped by its primary key"):
        rotate_root_key(on_change=sink)

    output = tmp_path / "new-root.json"
    prepared = rotate_root_key(on_change=sink, output=output)
    assert prepared.written_to == output
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    # The operator installs the new keyset in every process; nothing stops opening meanwhile.
    settings.ROOT_KEY = output.read_text()
    keysets.forget_cached_keysets()
    assert Secret.objects.get(workspace_id=workspace).value == "value-a"

    rotation = rotate_root_key(on_change=sink)
    assert rotation.new_key_id == prepared.new_key_id and rotation.rewrapped == 1
    with pytest.raises(RotationError, match="remove it from the keyset in CAUSEWAY_ROOT_KEY yourself"):
        retire_key(key_id=old_root, on_change=sink)
    keysets.forget_cached_keysets()
    assert Secret.objects.get(workspace_id=workspace).value == "value-a"
    assert sink.actions == ["vault.root_key_prepared", "vault.root_key_rotated"]


@pytest.mark.django_db
def test_rule_12_status_names_values_that_no_keyset_can_open(sink):
    home, elsewhere = uuid.uuid4(), uuid.uuid4()
    theirs = Secret.objects.create(workspace_id=home, name="a", value="value-a")
    moved = Secret.objects.create(workspace_id=elsewhere, name="b", value="value-b")
    Secret.objects.filter(pk=moved.pk).update(
        value=Secret.objects.values_list("value", flat=True).get(pk=theirs.pk)
    )
    record = SampleRecord.objects.create(workspace_id=home, history={"a": 1})
    broken = bytearray(SampleRecord.objects.values_list("history", flat=True).get(pk=record.pk))
    broken[-1] ^= 1
    SampleRecord.objects.filter(pk=record.pk).update(history=StoredCiphertext(bytes(broken)))
    home_key = workspace_keyring(home).primary_key_id
    lost = [u for u in key_status() if not u.in_keyset]
    assert (WORKSPACE_PURPOSE, elsewhere, home_key, 1) in [
        (u.purpose, u.workspace_id, u.key_id, u.uses) for u in lost
    ]
    assert (WORKSPACE_PURPOSE, home, None, 1) in [(u.purpose, u.workspace_id, u.key_id, u.uses) for u in lost]

    rotate_keyset(workspace_id=home, on_change=sink)
    report = reencrypt(on_change=sink)
    assert sorted(f.split(" does not open")[0] for f in report.failed) == [
        f"sealed value of vault_secret row {moved.pk} field value (workspace {elsewhere})",
        f"sealed value of vault_test_sample_record row {record.pk} field history (workspace {home})",
    ]
    assert sink.events[-1].action == "vault.reencrypted" and sink.events[-1].outcome == "failure"


@pytest.mark.django_db
def test_rule_12_values_whose_keyset_is_gone_are_reported_not_dropped(sink):
    workspace = uuid.uuid4()
    secret = Secret.objects.create(workspace_id=workspace, name="a", value="value-a")
    WrappedKeyset.objects.filter(workspace_id=workspace).delete()
    keysets.forget_cached_keysets()
    report = reencrypt(on_change=sink)
    assert report.resealed == 0 and len(report.failed) == 1
    assert f"vault_secret row {secret.pk} field value" in report.failed[0]
    assert Secret.objects.filter(pk=secret.pk).exists()


@pytest.mark.django_db
def test_rule_12_a_reseal_that_lost_a_race_leaves_the_newer_value(sink):
    from causeway.vault.rotation import _reseal

    workspace = uuid.uuid4()
    secret = Secret.objects.create(workspace_id=workspace, name="a", value="old")
    old = bytes(Secret.objects.values_list("value", flat=True).get(pk=secret.pk))
    secret.value = "written meanwhile"
    secret.save()
    field = Secret._meta.get_field("value")
    assert _reseal(field, secret.pk, workspace, old) is False
    assert Secret.objects.get(pk=secret.pk).value == "written meanwhile"
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        reencrypt(batch_size=0, on_change=sink)


@pytest.mark.django_db
def test_rule_12_a_key_id_in_two_keysets_must_be_named_with_its_keyset(sink):
    import tink as tink_module

    first, second = uuid.uuid4(), uuid.uuid4()
    shared = tink_module.new_keyset_handle(keysets.AEAD_TEMPLATE)
    root = current_root_key()
    for workspace in (first, second):
        WrappedKeyset.objects.create(
            purpose=WORKSPACE_PURPOSE,
            workspace_id=workspace,
            wrapped=keysets.wrap(root, WORKSPACE_PURPOSE, workspace, shared),
        )
    key_id = shared.keyset_info().primary_key_id
    with pytest.raises(RotationError, match=f"key {key_id} is in more than one keyset: say which"):
        retire_key(key_id=key_id, on_change=sink)
    with pytest.raises(RotationError, match="is the primary key"):
        retire_key(key_id=key_id, on_change=sink, purpose=WORKSPACE_PURPOSE, workspace_id=first)


@pytest.mark.django_db
def test_rule_12_a_root_key_still_wrapping_keysets_is_refused(tmp_path, settings, sink):
    settings.ROOT_KEY_FILE = tmp_path / "root-key.json"
    create_root_key_file(settings.ROOT_KEY_FILE)
    Secret.objects.create(workspace_id=uuid.uuid4(), name="a", value="value-a")
    root = current_root_key()
    old = root.primary_key_id()
    text, _new = root.keyset_with_new_primary()
    root.replace(text)  # a new primary, but nothing re-wrapped yet
    with pytest.raises(RotationError, match=f"root key {old} still wraps 1 keyset\\(s\\)"):
        retire_key(key_id=old, on_change=sink)
    report = reencrypt(on_change=sink)
    assert report.rewrapped == 1
    retire_key(key_id=old, on_change=sink)


@pytest.mark.django_db
def test_rule_12_the_new_root_keyset_file_is_never_written_over(tmp_path, settings, sink):
    settings.ROOT_KEY = new_root_keyset_json()
    Secret.objects.create(workspace_id=uuid.uuid4(), name="a", value="value-a")
    output = tmp_path / "exists.json"
    output.write_text("keep me")
    with pytest.raises(RotationError, match=f"cannot write {output}: File exists"):
        rotate_root_key(on_change=sink, output=output)
    assert output.read_text() == "keep me"
