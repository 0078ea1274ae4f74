"""`causeway keys`: rotate, reencrypt, status and retire from the command line, audited as the system."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.utils import timezone

from causeway.vault import keysets
from causeway.vault.events import UnauditedError
from causeway.vault.keysets import PLATFORM_PURPOSE, keyring, workspace_keyring
from causeway.vault.models import Secret, WrappedKeyset
from causeway.vault.rootkey import create_root_key_file, new_root_keyset_json
from causeway.vault.rotation import RETIRE_GRACE, rotate_keyset
from causeway.vault.tasks import reencrypt_sealed_values


def _keys(*args: str) -> str:
    out = io.StringIO()
    call_command("keys", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _workspace(slug: str):
    return apps.get_model("workspaces", "Workspace").objects.create(name=slug.title(), slug=slug)


@pytest.mark.django_db
def test_rotate_reencrypt_status_and_retire_from_the_command_line(connected_sink):
    acme = _workspace("acme")
    Secret.objects.create(workspace_id=acme.pk, name="a", value="value-a")
    Secret.objects.create(workspace_id=acme.pk, name="b", value="value-b")
    old = workspace_keyring(acme.pk).primary_key_id

    out = _keys("rotate", "--workspace", "acme")
    new = workspace_keyring(acme.pk).primary_key_id
    assert f"New primary key {new} for the keyset of workspace acme (was {old})" in out

    status = _keys("status")
    assert status.splitlines()[0].split() == ["KEYSET", "KEY", "ID", "STATE", "USES"]
    assert any(
        line.split()[:5] == ["workspace", "acme", str(old), "old", "2"] for line in status.splitlines()
    )
    # The rotation's own audit event is in acme's chain, its four sealed columns under the new key.
    assert any(
        line.split()[:5] == ["workspace", "acme", str(new), "primary", "4"] for line in status.splitlines()
    )
    assert any(line.startswith("root key") and "keyset(s)" in line for line in status.splitlines())

    out = _keys("reencrypt", "--batch", "1", "--max-batches", "1")
    assert "stopped early; run again to continue" in out and "batch 1: 1 value(s) re-sealed so far" in out
    out = _keys("reencrypt", "--batch", "1")
    assert "Re-encryption complete: 1 value(s) re-sealed" in out

    with pytest.raises(CommandError, match="stopped being primary"):
        _keys("retire", str(old), "--workspace", str(acme.pk))
    assert [e.action for e in connected_sink.events] == [
        "vault.key_rotated",
        "vault.reencrypted",
        "vault.reencrypted",
    ]
    assert {e.workspace_id for e in connected_sink.events[:1]} == {acme.pk}


@pytest.mark.django_db
def test_platform_and_root_rotation_and_retirement_from_the_command_line(
    connected_sink, settings, tmp_path, time_machine
):
    settings.ROOT_KEY_FILE = tmp_path / "root.json"
    create_root_key_file(settings.ROOT_KEY_FILE)
    Secret.objects.create(workspace_id=uuid.uuid4(), name="a", value="value-a")
    old_platform = keyring(PLATFORM_PURPOSE, None).primary_key_id
    assert "for the platform keyset" in _keys("rotate", "--platform")
    assert "Root key (file) rotated to key" in _keys("rotate", "--root")
    wrapped = WrappedKeyset.objects.count()
    assert f"{wrapped} keyset(s) re-wrapped" in _keys("rotate", "--root")
    time_machine.move_to(timezone.now() + RETIRE_GRACE + timedelta(seconds=5), tick=True)
    assert _keys("retire", str(old_platform), "--platform") == f"Retired key {old_platform}.\n"
    with pytest.raises(CommandError, match="--output goes with --root"):
        _keys("rotate", "--platform", "--output", str(tmp_path / "x"))
    with pytest.raises(CommandError, match="--workspace: no workspace 'nowhere'"):
        _keys("rotate", "--workspace", "nowhere")
    with pytest.raises(CommandError, match="no keyset holds a key 7"):
        _keys("retire", "7", "--root")
    with pytest.raises(CommandError, match="no keyset holds a key 7"):
        _keys("retire", "7")


@pytest.mark.django_db
def test_environment_root_rotation_writes_a_new_keyset_file(connected_sink, settings, tmp_path):
    settings.ROOT_KEY = new_root_keyset_json()
    Secret.objects.create(workspace_id=uuid.uuid4(), name="a", value="value-a")
    out = _keys("rotate", "--root", "--output", str(tmp_path / "new-root.json"))
    assert f"to {tmp_path / 'new-root.json'}. Install it as CAUSEWAY_ROOT_KEY in every process" in out


@pytest.mark.django_db
def test_key_operations_are_refused_when_nothing_would_audit_them(no_audit_receiver):
    before = keyring(PLATFORM_PURPOSE, None).key_ids
    with pytest.raises(CommandError, match="no audit receiver is connected"):
        _keys("rotate", "--platform")
    keysets.forget_cached_keysets()
    assert keyring(PLATFORM_PURPOSE, None).key_ids == before
    assert "KEYSET" in _keys("status")  # reading changes nothing and needs no audit


@pytest.mark.django_db
def test_a_reencryption_that_cannot_open_a_value_says_which_and_fails(connected_sink):
    first = Secret.objects.create(workspace_id=uuid.uuid4(), name="a", value="value-a")
    second = Secret.objects.create(workspace_id=first.workspace_id, name="b", value="value-b")
    Secret.objects.filter(pk=second.pk).update(
        value=Secret.objects.values_list("value", flat=True).get(pk=first.pk)
    )
    rotate_keyset(workspace_id=first.workspace_id, on_change=connected_sink)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 value\\(s\\) could not be opened; see above"):
        call_command("keys", "reencrypt", stdout=io.StringIO(), stderr=err)
    assert f"vault_secret row {second.pk} field value" in err.getvalue()
    assert connected_sink.events[-1].outcome == "failure"
    assert Secret.objects.get(pk=first.pk).value == "value-a"


@pytest.mark.django_db
def test_the_beat_task_reencrypts_in_bounded_runs(connected_sink):
    secret = Secret.objects.create(workspace_id=uuid.uuid4(), name="a", value="value-a")
    rotate_keyset(workspace_id=secret.workspace_id, on_change=connected_sink)
    assert reencrypt_sealed_values() == {"resealed": 1, "rewrapped": 0, "failed": 0, "complete": True}
    assert reencrypt_sealed_values() == {"resealed": 0, "rewrapped": 0, "failed": 0, "complete": True}


@pytest.mark.django_db
def test_the_beat_task_refuses_to_run_unaudited(no_audit_receiver):
    with pytest.raises(UnauditedError):
        reencrypt_sealed_values()
