"""Rule 16: appenders racing on one chain still give sequence numbers 1..N, no gap, and a chain that
verifies: each append takes the chain's head row (PostgreSQL) or the write lock (SQLite) in turn."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import close_old_connections, connection, transaction

from causeway.audit.models import AuditEvent, workspace_chain
from causeway.audit.services import Actor, audit_record
from causeway.audit.verify import verify_chains

THREADS = 6
EACH = 8


@pytest.mark.django_db(transaction=True)
def test_rule_16_concurrent_appends_are_gap_free_and_verify(transactional_db: None) -> None:
    # A new chain, so the racers also race to create its head row.
    workspace_id = uuid.uuid4()
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            start.wait(timeout=30)
            for number in range(EACH):
                with transaction.atomic():
                    audit_record(
                        actor=Actor(type="system", id=f"worker-{worker}", label=f"worker {worker}"),
                        action="thing.raced",
                        workspace_id=workspace_id,
                        details={"worker": worker, "number": number},
                    )
                    # Platform events interleave, on their own chain.
                    audit_record(actor=None, action="platform.raced", details={"worker": worker})
        except BaseException as exc:
            failures.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not [thread for thread in threads if thread.is_alive()]
    assert failures == []

    chain = workspace_chain(workspace_id)
    seqs = list(AuditEvent.objects.filter(chain=chain).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, THREADS * EACH + 1))
    per_worker = {
        worker: AuditEvent.objects.filter(chain=chain, actor_id=f"worker-{worker}").count()
        for worker in range(THREADS)
    }
    assert per_worker == dict.fromkeys(range(THREADS), EACH)
    result = verify_chains()
    assert result.ok, result
    assert {report.chain: report.events for report in result.chains} == {
        chain: THREADS * EACH,
        "platform": THREADS * EACH,
    }
