"""Rule 16: a database superuser who edits, deletes, reorders or cuts audit events is named by
`causeway audit verify`, down to the first bad event."""

from __future__ import annotations

import hashlib
import hmac
import io
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from causeway.audit import canonical
from causeway.audit.models import PLATFORM_CHAIN, AuditEvent
from causeway.audit.services import SYSTEM, audit_checkpoint, audit_record
from causeway.audit.tests.tamper import make_chain, set_sealed, sql, swap, switch_off_triggers
from causeway.vault import mac
from causeway.vault.fields import StoredCiphertext

pytestmark = pytest.mark.django_db


def verify(*args: str) -> tuple[int, str]:
    """Run the real command; its exit code and what it printed."""
    out = io.StringIO()
    try:
        call_command("audit", "verify", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue()
    return 0, out.getvalue()


def line_for(output: str, chain: str) -> str:
    lines = [line for line in output.splitlines() if f" {chain}:" in line]
    assert len(lines) == 1, output
    return lines[0]


def bad_line(event_seq: int, event: AuditEvent | None, action: str | None = None) -> str:
    event_id = str(event.id) if event is not None else "-"
    name = event.action if event is not None else (action or "-")
    return f"seq {event_seq}, event {event_id}, action {name}: "


def test_rule_16_an_untouched_chain_verifies_ok() -> None:
    chain, _ = make_chain(10)
    other, _ = make_chain(3)
    with transaction.atomic():
        audit_record(actor=SYSTEM, action="platform.started")
    audit_checkpoint()
    code, output = verify()
    assert code == 0, output
    assert line_for(output, chain) == f"ok  {chain}: 10 events, 1 checkpoint"
    assert line_for(output, other) == f"ok  {other}: 3 events, 1 checkpoint"
    assert line_for(output, PLATFORM_CHAIN) == f"ok  {PLATFORM_CHAIN}: 1 event, 1 checkpoint"


def test_rule_16_edited_content_is_named_as_changed() -> None:
    chain, events = make_chain(10)
    switch_off_triggers()
    # Hide a denial: the kind of edit someone covering their tracks would make.
    assert events[5].outcome == "denied"
    sql("UPDATE audit_auditevent SET outcome = 'success' WHERE chain = %s AND seq = 6", (chain,))
    code, output = verify()
    assert code == 1
    assert line_for(output, chain) == (
        f"BAD {chain}: " + bad_line(6, events[5]) + "changed: its content does not match its MAC"
    )


def test_rule_16_edited_details_are_named_as_changed() -> None:
    chain, events = make_chain(6)
    switch_off_triggers()
    set_sealed(chain, 2, "details", {"number": 999})
    code, output = verify()
    assert code == 1
    assert bad_line(2, events[1]) + "changed" in line_for(output, chain)


def test_rule_16_a_sealed_column_copied_from_another_event_is_named_as_changed() -> None:
    chain, events = make_chain(4)
    switch_off_triggers()
    copied = AuditEvent.objects.values_list("user_agent", flat=True).get(pk=events[0].pk)
    AuditEvent.objects.filter(pk=events[2].pk).update(user_agent=StoredCiphertext(bytes(copied)))
    code, output = verify()
    assert code == 1
    assert line_for(output, chain) == (
        f"BAD {chain}: "
        + bad_line(3, events[2])
        + f"changed: sealed value of audit_auditevent row {events[2].id} field user_agent "
        f"(workspace {events[2].workspace_id}) does not open: the ciphertext belongs to another record "
        "or was altered (integrity check failed)"
    )


def test_rule_16_an_actor_index_changed_to_hide_an_event_from_search_is_named() -> None:
    chain, events = make_chain(4)
    switch_off_triggers()
    hidden = AuditEvent.objects.values_list("actor_index", flat=True).get(pk=events[0].pk)
    sql("UPDATE audit_auditevent SET actor_index = %s WHERE chain = %s AND seq = 2", (hidden, chain))
    code, output = verify()
    assert code == 1
    assert line_for(output, chain) == (
        f"BAD {chain}: " + bad_line(2, events[1]) + "changed: its actor search index does not match its actor"
    )


def test_rule_16_a_deleted_event_is_named_as_removed() -> None:
    chain, events = make_chain(10)
    switch_off_triggers()
    sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq = 5", (chain,))
    code, output = verify()
    assert code == 1
    assert line_for(output, chain) == (
        f"BAD {chain}: seq 5, event -, action -: removed: there is no event at seq 5; "
        f"the chain jumps from seq 4 to seq 6 (event {events[5].id})"
    )


def test_rule_16_a_deletion_hidden_by_renumbering_is_named_as_removed() -> None:
    chain, events = make_chain(8)
    switch_off_triggers()
    sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq = 5", (chain,))
    for seq in range(6, 9):
        sql("UPDATE audit_auditevent SET seq = seq - 1 WHERE chain = %s AND seq = %s", (chain, seq))
    sql("UPDATE audit_auditchainhead SET seq = 7 WHERE chain = %s", (chain,))
    code, output = verify()
    assert code == 1
    line = line_for(output, chain)
    assert line.startswith(f"BAD {chain}: " + bad_line(5, events[5]) + "removed: the event before it")
    assert "written as seq 6" in line


def test_rule_16_swapped_events_are_named_as_reordered() -> None:
    chain, events = make_chain(10)
    switch_off_triggers()
    swap(chain, 3, 7)
    code, output = verify()
    assert code == 1
    # Seq 3 now holds the event written as seq 7: that is the first bad one.
    assert line_for(output, chain) == (
        f"BAD {chain}: " + bad_line(3, events[6]) + "reordered: it was written as seq 7, not 3"
    )


def test_rule_16_neighbours_swapped_are_named_as_reordered() -> None:
    chain, events = make_chain(6)
    switch_off_triggers()
    swap(chain, 4, 5)
    code, output = verify()
    assert code == 1
    assert line_for(output, chain) == (
        f"BAD {chain}: seq 4, event {events[4].id}, action {events[4].action}: "
        "reordered: it was written as seq 5, not 4"
    )


def test_rule_16_a_cut_tail_is_found_by_the_checkpoint_file_after_db_checkpoints_are_deleted(
    checkpoint_file: Path,
) -> None:
    chain, events = make_chain(10)
    audit_checkpoint()
    switch_off_triggers()
    sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq > 7", (chain,))
    sql("DELETE FROM audit_auditcheckpoint WHERE chain = %s", (chain,))
    # The attacker also sets the head back, so the head row betrays nothing.
    sql(
        "UPDATE audit_auditchainhead SET seq = 7, mac = %s WHERE chain = %s",
        (bytes(events[6].mac), chain),
    )
    code, output = verify()
    assert code == 1
    line = line_for(output, chain)
    assert line.startswith(
        f"BAD {chain}: seq 8, event -, action -: cut off: the chain ends at seq 7 but checkpoint file line 1"
    )
    assert line.endswith("records seq 10")


def test_rule_16_a_cut_tail_is_found_by_the_head_without_any_checkpoint() -> None:
    chain, _ = make_chain(6)
    switch_off_triggers()
    sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq > 4", (chain,))
    code, output = verify()
    assert code == 1
    assert line_for(output, chain) == (
        f"BAD {chain}: seq 5, event -, action -: "
        "cut off: the head row records seq 6 but the chain ends at seq 4"
    )


def test_rule_16_a_chain_cut_to_nothing_is_found(checkpoint_file: Path) -> None:
    chain, _ = make_chain(3)
    audit_checkpoint()
    switch_off_triggers()
    sql("DELETE FROM audit_auditevent WHERE chain = %s", (chain,))
    sql("DELETE FROM audit_auditcheckpoint WHERE chain = %s", (chain,))
    sql("DELETE FROM audit_auditchainhead WHERE chain = %s", (chain,))
    code, output = verify()
    assert code == 1
    assert line_for(output, chain).startswith(f"BAD {chain}: seq 1, event -, action -: cut off")


def test_rule_16_a_cut_tail_that_grew_again_is_found_at_the_checkpoint(checkpoint_file: Path) -> None:
    """The tail is cut and the head set back; the application then appends, with real MACs."""
    workspace_id = uuid.uuid4()
    chain, events = make_chain(10, workspace_id=workspace_id)
    audit_checkpoint()
    switch_off_triggers()
    sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq > 6", (chain,))
    sql("DELETE FROM audit_auditcheckpoint WHERE chain = %s", (chain,))
    sql("UPDATE audit_auditchainhead SET seq = 6, mac = %s WHERE chain = %s", (bytes(events[5].mac), chain))
    _, regrown = make_chain(5, workspace_id=workspace_id)
    assert regrown[-1].seq == 11
    code, output = verify()
    assert code == 1
    line = line_for(output, chain)
    assert line.startswith(
        f"BAD {chain}: seq 10, event {regrown[3].id}, action {regrown[3].action}: cut off:"
    )
    assert "checkpoint file line 1" in line


def _rebuild_from(chain: str, start: int, tag_for: object) -> None:
    """Re-link every event from `start` on with MACs made by `tag_for`, and fix the head to match."""
    previous = AuditEvent.objects.get(chain=chain, seq=start - 1)
    prev_mac = bytes(previous.mac)
    for event in AuditEvent.objects.filter(chain=chain, seq__gte=start).order_by("seq"):
        event.prev_mac = prev_mac
        new_mac = tag_for(canonical.event_content(event))  # type: ignore[operator]
        sql(
            "UPDATE audit_auditevent SET prev_mac = %s, mac = %s WHERE chain = %s AND seq = %s",
            (prev_mac, new_mac, chain, event.seq),
        )
        prev_mac = new_mac
    sql("UPDATE audit_auditchainhead SET mac = %s WHERE chain = %s", (prev_mac, chain))


def test_rule_16_a_chain_rebuilt_without_the_key_is_found() -> None:
    chain, events = make_chain(8)
    switch_off_triggers()
    set_sealed(chain, 4, "actor_label", "someone-else@example.com")
    guessed = b"causeway-audit-key"

    _rebuild_from(chain, 4, lambda data: hmac.new(guessed, data, hashlib.sha256).digest())
    code, output = verify()
    assert code == 1
    assert line_for(output, chain) == (
        f"BAD {chain}: "
        + bad_line(4, events[3])
        + "changed: its MAC was not made by any key of the audit keyset "
        "(forged, or the chain was rebuilt without the key)"
    )


def test_rule_16_a_forged_mac_that_names_the_real_key_is_still_found() -> None:
    chain, events = make_chain(8)
    switch_off_triggers()
    set_sealed(chain, 3, "target_label", "nothing to see")
    # The attacker copies the real key's id into the tag prefix, guessing only the key itself.
    prefix = bytes(events[0].mac)[:5]
    _rebuild_from(chain, 3, lambda data: prefix + hmac.new(b"guess", data, hashlib.sha256).digest())
    code, output = verify()
    assert code == 1
    assert line_for(output, chain) == (
        f"BAD {chain}: " + bad_line(3, events[2]) + "changed: its content does not match its MAC"
    )


def test_rule_16_a_changed_key_version_column_is_found() -> None:
    chain, events = make_chain(4)
    switch_off_triggers()
    sql("UPDATE audit_auditevent SET mac_key_id = 12345 WHERE chain = %s AND seq = 2", (chain,))
    code, output = verify()
    assert code == 1
    assert bad_line(2, events[1]) + "changed: its key version says 12345" in line_for(output, chain)


def test_rule_16_an_event_moved_to_another_chain_is_found_in_both() -> None:
    chain, events = make_chain(5)
    other, _ = make_chain(5)
    switch_off_triggers()
    sql("UPDATE audit_auditevent SET chain = %s, seq = 6 WHERE chain = %s AND seq = 3", (other, chain))
    code, output = verify()
    assert code == 1
    assert line_for(output, chain).startswith(f"BAD {chain}: seq 3, event -, action -: removed")
    assert line_for(output, other).startswith(f"BAD {other}: " + bad_line(6, events[2]) + "changed")


def test_rule_16_a_head_row_that_disagrees_with_the_last_event_is_reported() -> None:
    chain, events = make_chain(4)
    switch_off_triggers()
    sql("UPDATE audit_auditchainhead SET mac = %s WHERE chain = %s", (b"\x01" * 37, chain))
    code, output = verify()
    assert code == 1
    assert line_for(output, chain) == (
        f"BAD {chain}: "
        + bad_line(4, events[3])
        + "head: the head row's MAC is not the MAC of the last event"
    )


def test_rule_16_a_head_row_set_back_is_reported() -> None:
    chain, events = make_chain(5)
    switch_off_triggers()
    sql("UPDATE audit_auditchainhead SET seq = 3, mac = %s WHERE chain = %s", (bytes(events[2].mac), chain))
    code, output = verify()
    assert code == 1
    assert line_for(output, chain) == (
        f"BAD {chain}: "
        + bad_line(4, events[3])
        + "head: the head row records seq 3 but the chain goes on to seq 5"
    )


def test_rule_16_a_missing_head_row_is_reported_and_stops_further_appends() -> None:
    chain, events = make_chain(3)
    switch_off_triggers()
    sql("DELETE FROM audit_auditchainhead WHERE chain = %s", (chain,))
    code, output = verify()
    assert code == 1
    assert (
        line_for(output, chain)
        == f"BAD {chain}: " + bad_line(3, events[2]) + "head: the chain's head row is missing"
    )
    # Restarting the chain at seq 1 over the events that exist is refused.
    from causeway.audit.services import AuditWriteError

    with pytest.raises(AuditWriteError, match=r"head of audit chain .* is missing"), transaction.atomic():
        audit_record(actor=SYSTEM, action="thing.more", workspace_id=events[0].workspace_id)


def test_rule_16_first_bad_event_is_the_lowest_of_several() -> None:
    chain, events = make_chain(10)
    switch_off_triggers()
    sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq = 8", (chain,))
    sql("UPDATE audit_auditevent SET action = 'thing.renamed' WHERE chain = %s AND seq = 5", (chain,))
    code, output = verify()
    assert code == 1
    line = line_for(output, chain)
    assert line.startswith(f"BAD {chain}: seq 5, event {events[4].id}, action thing.renamed: changed")


def test_verify_refuses_an_unknown_workspace_with_one_line() -> None:
    with pytest.raises(CommandError, match="--workspace: no workspace has the slug or id 'nope'") as caught:
        call_command("audit", "verify", "--workspace", "nope", stdout=io.StringIO())
    assert caught.value.returncode == 2


def test_verify_without_any_events_says_so() -> None:
    assert verify() == (0, "no audit events yet\n")


def test_verify_cannot_run_when_the_keyset_does_not_open() -> None:
    make_chain(2)
    sql(
        "UPDATE vault_wrappedkeyset SET wrapped = %s WHERE purpose = %s", (b"not a keyset", mac.AUDIT_PURPOSE)
    )
    with pytest.raises(CommandError, match="cannot open the audit MAC keyset") as caught:
        call_command("audit", "verify", stdout=io.StringIO())
    assert caught.value.returncode == 2
