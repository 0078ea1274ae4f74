"""Rule 16 through the real `causeway audit` command run as its own process against the test
database, as an operator runs it."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from causeway.audit.models import AuditChainHead, AuditEvent
from causeway.audit.services import audit_checkpoint
from causeway.audit.tests.tamper import make_chain, sql, swap, switch_off_triggers
from testkit.support import make_workspace, run_causeway


@pytest.fixture(autouse=True)
def checkpoint_file(settings: Any, tmp_path: Path) -> Path:
    path = tmp_path / "audit-checkpoints.jsonl"
    settings.AUDIT_CHECKPOINT_FILE = path
    return path


def verify(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("audit", "verify", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue()
    return 0, out.getvalue()


@pytest.mark.django_db
def test_rule_16_verify_one_workspace_by_slug_or_id() -> None:
    workspace = make_workspace("Acme")
    chain, _ = make_chain(4, workspace_id=workspace.id)
    other, _ = make_chain(2)
    code, output = verify("--workspace", "acme")
    assert code == 0
    assert output.strip() == f"ok  {chain}: 4 events, 0 checkpoints"
    code, output = verify("--workspace", str(workspace.id))
    assert (code, output.strip()) == (0, f"ok  {chain}: 4 events, 0 checkpoints")
    switch_off_triggers()
    sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq = 2", (chain,))
    code, output = verify("--workspace", "acme")
    assert code == 1
    assert other not in output


def _run_cli(*args: str, checkpoint_file: Path) -> subprocess.CompletedProcess[str]:
    return run_causeway("audit", *args, CAUSEWAY_AUDIT_CHECKPOINT_FILE=str(checkpoint_file))  # type: ignore[no-any-return]


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_rule_16_the_causeway_command_names_the_first_bad_event(
    transactional_db: None, checkpoint_file: Path
) -> None:
    chain, events = make_chain(8)
    other, _ = make_chain(3)
    checkpointed = _run_cli("checkpoint", checkpoint_file=checkpoint_file)
    assert checkpointed.returncode == 0, checkpointed.stderr
    assert f"checkpoint {chain} at seq 8" in checkpointed.stdout
    clean = _run_cli("verify", checkpoint_file=checkpoint_file)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"ok  {chain}: 8 events, 1 checkpoint" in clean.stdout

    switch_off_triggers()
    swap(chain, 2, 6)
    sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq = 2", (other,))
    broken = _run_cli("verify", checkpoint_file=checkpoint_file)
    assert broken.returncode == 1
    assert (
        f"BAD {chain}: seq 2, event {events[5].id}, action {events[5].action}: "
        "reordered: it was written as seq 6, not 2"
    ) in broken.stdout.splitlines()
    assert f"BAD {other}: seq 2, event -, action -: removed" in broken.stdout
    assert broken.stderr.strip().splitlines() == [
        "CommandError: audit verify: 2 of 2 chains failed verification"
    ]


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_rule_16_the_causeway_command_finds_a_cut_with_only_the_file(
    transactional_db: None, checkpoint_file: Path
) -> None:
    chain, events = make_chain(9)
    audit_checkpoint()
    switch_off_triggers()
    sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq >= 6", (chain,))
    sql("DELETE FROM audit_auditcheckpoint")
    sql("UPDATE audit_auditchainhead SET seq = 5, mac = %s WHERE chain = %s", (bytes(events[4].mac), chain))
    assert AuditChainHead.objects.get(chain=chain).seq == 5
    result = _run_cli("verify", "--workspace", str(events[0].workspace_id), checkpoint_file=checkpoint_file)
    assert result.returncode == 1
    assert result.stdout.startswith(
        f"BAD {chain}: seq 6, event -, action -: cut off: the chain ends at seq 5"
    )


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_rule_16_a_key_rotated_by_another_process_keeps_every_link_verifying(
    transactional_db: None, checkpoint_file: Path
) -> None:
    workspace_id = make_chain(3)[1][0].workspace_id
    rotated = _run_cli("rotate-key", checkpoint_file=checkpoint_file)
    assert rotated.returncode == 0, rotated.stderr
    new_key = AuditEvent.objects.get(action="audit.mac_key_rotated").details["key_id"]
    assert rotated.stdout == f"new audit MAC key {new_key} is primary; older keys still verify\n"
    # This process opened the keyset before the rotation; its next append still uses the new key.
    _, after = make_chain(2, workspace_id=workspace_id)
    assert {event.mac_key_id for event in after} == {new_key}
    old_keys = set(
        AuditEvent.objects.filter(seq__lte=3)
        .exclude(action="audit.mac_key_rotated")
        .values_list("mac_key_id", flat=True)
    )
    assert new_key not in old_keys
    verified = _run_cli("verify", checkpoint_file=checkpoint_file)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "5 events" in verified.stdout
