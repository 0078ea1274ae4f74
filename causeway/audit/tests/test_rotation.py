"""Rule 16: each link names its key version, so rotating the audit MAC key never breaks verification."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.db import transaction

from causeway.audit.models import AuditEvent
from causeway.audit.services import SYSTEM, audit_checkpoint, audit_mac_key_rotate, audit_record
from causeway.audit.tests.tamper import make_chain, set_sealed, sql, switch_off_triggers
from causeway.audit.verify import verify_chains
from causeway.vault import mac
from causeway.vault.models import WrappedKeyset

pytestmark = pytest.mark.django_db


def test_rule_16_rotation_keeps_old_links_verifying_and_new_links_use_the_new_key() -> None:
    workspace_id = uuid.uuid4()
    chain, before = make_chain(4, workspace_id=workspace_id)
    audit_checkpoint()
    first_key = before[0].mac_key_id
    assert {event.mac_key_id for event in before} == {first_key}
    assert mac.key_id_of(bytes(before[0].mac)) == first_key

    new_key = audit_mac_key_rotate(actor=SYSTEM)
    assert new_key != first_key
    assert mac.known_key_ids(mac.AUDIT_PURPOSE) == {first_key, new_key}
    rotation = AuditEvent.objects.get(action="audit.mac_key_rotated")
    assert rotation.details == {"key_id": new_key}
    assert rotation.mac_key_id == new_key

    _, after = make_chain(3, workspace_id=workspace_id)
    assert [event.seq for event in after] == [5, 6, 7]
    assert {event.mac_key_id for event in after} == {new_key}
    audit_checkpoint()

    third_key = audit_mac_key_rotate(actor=SYSTEM)
    _, last = make_chain(1, workspace_id=workspace_id)
    assert last[0].mac_key_id == third_key

    result = verify_chains()
    assert result.ok, result
    assert {report.chain: report.events for report in result.chains}[chain] == 8


def test_rule_16_the_rotated_keyset_is_stored_wrapped_by_the_root_key() -> None:
    make_chain(1)
    audit_mac_key_rotate(actor=SYSTEM)
    wrapped = bytes(WrappedKeyset.objects.get(purpose=mac.AUDIT_PURPOSE).wrapped)
    # Read back from the row alone, it opens under the root key and holds both keys...
    mac.forget_cached_keysets()
    assert len(mac.known_key_ids(mac.AUDIT_PURPOSE)) == 2
    sql(
        "UPDATE vault_wrappedkeyset SET wrapped = %s WHERE purpose = %s",
        (wrapped[:-1] + b"\x00", mac.AUDIT_PURPOSE),
    )
    with pytest.raises(mac.MacError, match="does not open under the root key"):
        mac.known_key_ids(mac.AUDIT_PURPOSE)


def test_rule_16_after_rotation_tampering_is_still_found_in_old_and_new_links() -> None:
    chain, before = make_chain(3)
    audit_mac_key_rotate(actor=SYSTEM)
    make_chain(2, workspace_id=before[0].workspace_id)
    switch_off_triggers()
    set_sealed(chain, 5, "target_label", "x")
    report = next(r for r in verify_chains().chains if r.chain == chain)
    assert report.problem is not None
    assert (report.problem.seq, report.problem.kind) == (5, "changed")


def test_rule_16_a_rotation_in_another_process_is_used_at_the_next_append() -> None:
    """The keyset is re-read when its stored form changes, so a process holding the old keyset in
    memory does not keep writing with a key that is no longer primary."""
    make_chain(1)
    held = mac.known_key_ids(mac.AUDIT_PURPOSE)
    # Another process rotates: only the row changes; this process's cache still holds the old keyset.
    new_key = mac.rotate(mac.AUDIT_PURPOSE)
    assert new_key not in held
    with transaction.atomic():
        event = audit_record(actor=SYSTEM, action="platform.after_rotation")
    assert event.mac_key_id == new_key


def test_the_cli_rotates_the_key() -> None:
    make_chain(1)
    out = io.StringIO()
    call_command("audit", "rotate-key", stdout=out)
    key_id = AuditEvent.objects.get(action="audit.mac_key_rotated").details["key_id"]
    assert out.getvalue() == f"new audit MAC key {key_id} is primary; older keys still verify\n"
    assert verify_chains().ok
