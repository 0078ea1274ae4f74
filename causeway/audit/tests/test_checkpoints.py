"""Checkpoints of the chain heads, in the database and in the file, and the scheduled tasks that
make them and verify the chains."""

from __future__ import annotations

import io
import json
import logging
import stat
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from causeway.audit import tasks
from causeway.audit.models import AuditCheckpoint
from causeway.audit.services import audit_checkpoint
from causeway.audit.tests.tamper import make_chain, sql, switch_off_triggers
from causeway.audit.verify import verify_chains

pytestmark = pytest.mark.django_db


def file_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_checkpoint_records_each_head_in_the_database_and_the_file(checkpoint_file: Path) -> None:
    chain, events = make_chain(5)
    other, _ = make_chain(2)
    made = audit_checkpoint()
    assert sorted((c.chain, c.seq) for c in made) == sorted([(chain, 5), (other, 2)])
    records = {record["chain"]: record for record in file_records(checkpoint_file)}
    assert records[chain]["seq"] == 5
    assert records[chain]["event_mac"] == bytes(events[-1].mac).hex()
    row = AuditCheckpoint.objects.get(chain=chain)
    assert bytes(row.tag).hex() == records[chain]["tag"]
    # Only the owner may read or write the file.
    assert stat.S_IMODE(checkpoint_file.stat().st_mode) == 0o600


def test_checkpoint_skips_chains_that_did_not_move(checkpoint_file: Path) -> None:
    chain, events = make_chain(2)
    other, _ = make_chain(2)
    audit_checkpoint()
    assert audit_checkpoint() == []
    make_chain(1, workspace_id=events[0].workspace_id)
    assert [(c.chain, c.seq) for c in audit_checkpoint()] == [(chain, 3)]
    assert len(file_records(checkpoint_file)) == 3
    assert other in {record["chain"] for record in file_records(checkpoint_file)}


def test_checkpoint_that_cannot_reach_its_file_is_not_recorded_at_all(settings: Any, tmp_path: Path) -> None:
    make_chain(2)
    settings.AUDIT_CHECKPOINT_FILE = tmp_path / "a-directory"
    settings.AUDIT_CHECKPOINT_FILE.mkdir()
    with pytest.raises(IsADirectoryError):
        audit_checkpoint()
    assert not AuditCheckpoint.objects.exists()
    with pytest.raises(CommandError, match=r"audit checkpoint: .*Is a directory") as caught:
        call_command("audit", "checkpoint", stdout=io.StringIO())
    assert caught.value.returncode == 2


def test_rule_16_an_altered_checkpoint_line_is_reported(checkpoint_file: Path) -> None:
    chain, _ = make_chain(4)
    audit_checkpoint()
    record = file_records(checkpoint_file)[0]
    # Lowering the recorded seq would make room for a cut; the line's MAC no longer matches.
    record["seq"] = 2
    checkpoint_file.write_text(json.dumps(record) + "\n")
    report = verify_chains().chains[0]
    assert report.problem is None
    assert [p.reason for p in report.bad_checkpoints] == [
        "checkpoint file line 1 for seq 2 fails its MAC: it was forged or altered"
    ]
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("audit", "verify", stdout=out)
    assert (
        f"BAD {chain}: seq 2, event -, action -: checkpoint file line 1 for seq 2 fails its MAC"
        in out.getvalue()
    )


def test_rule_16_an_altered_database_checkpoint_is_reported(checkpoint_file: Path) -> None:
    make_chain(3)
    audit_checkpoint()
    checkpoint_file.unlink()
    switch_off_triggers()
    sql("UPDATE audit_auditcheckpoint SET seq = 9")
    row = AuditCheckpoint.objects.get()
    report = verify_chains().chains[0]
    assert [p.reason for p in report.bad_checkpoints] == [
        f"database checkpoint {row.id} for seq 9 fails its MAC: it was forged or altered"
    ]


def test_rule_16_a_line_that_is_no_checkpoint_is_reported(checkpoint_file: Path) -> None:
    make_chain(1)
    audit_checkpoint()
    with checkpoint_file.open("a") as handle:
        handle.write("{not json\n")
    result = verify_chains()
    assert not result.ok
    assert [p.reason for p in result.file_problems] == [
        f"checkpoint file line 2 of {checkpoint_file} is not a checkpoint record"
    ]
    assert result.chains[0].ok


def test_checkpoint_task_checkpoints_and_logs(checkpoint_file: Path, caplog: Any) -> None:
    chain, _ = make_chain(3)
    with caplog.at_level(logging.INFO, logger="causeway.audit.tasks"):
        assert tasks.checkpoint_chains() == 1
        assert tasks.checkpoint_chains() == 0
    assert f"audit checkpoint {chain} at seq 3" in caplog.messages
    assert AuditCheckpoint.objects.get().seq == 3
    assert file_records(checkpoint_file)[0]["seq"] == 3


def test_rule_16_daily_verify_task_logs_the_first_bad_event_at_error(caplog: Any) -> None:
    chain, events = make_chain(5)
    with caplog.at_level(logging.INFO, logger="causeway.audit.tasks"):
        assert tasks.verify_chains() is True
    assert "audit chains verified: 1 chains, all intact" in caplog.messages
    caplog.clear()
    switch_off_triggers()
    sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq = 4", (chain,))
    sql("UPDATE audit_auditevent SET action = 'thing.other' WHERE chain = %s AND seq = 2", (chain,))
    with caplog.at_level(logging.INFO, logger="causeway.audit.tasks"):
        assert tasks.verify_chains() is False
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert [record.getMessage() for record in errors] == [
        f"audit chain {chain} is broken at seq 2 (event {events[1].id}, action thing.other): "
        "changed: its content does not match its MAC"
    ]


def test_beat_runs_checkpoints_at_the_configured_interval_and_verifies_daily() -> None:
    from causeway.celery import app

    app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE
    checkpoint = schedule["audit-checkpoint"]
    assert checkpoint["task"] == "causeway.audit.tasks.checkpoint_chains"
    assert checkpoint["schedule"].total_seconds() == settings.AUDIT_CHECKPOINT_SECONDS
    verify = schedule["audit-verify"]
    assert verify["task"] == "causeway.audit.tasks.verify_chains"
    assert verify["schedule"].hour == {3}
    for entry in (checkpoint, verify):
        assert entry["task"] in app.tasks
