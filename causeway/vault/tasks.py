"""The vault's background work: re-encryption after a rotation, scheduled by `causeway beat`."""

from __future__ import annotations

from celery import shared_task

from causeway.vault.events import publish, require_receiver
from causeway.vault.rotation import reencrypt

# Small batches keep each transaction short; a run does a bounded amount of work and the next run
# continues, so the task never holds a worker for long.
BATCH_SIZE = 100
MAX_BATCHES_PER_RUN = 50


@shared_task(name="vault.reencrypt", ignore_result=True)  # type: ignore[untyped-decorator]
def reencrypt_sealed_values() -> dict[str, int | bool]:
    require_receiver()
    report = reencrypt(batch_size=BATCH_SIZE, max_batches=MAX_BATCHES_PER_RUN, on_change=publish)
    return {
        "resealed": report.resealed,
        "rewrapped": report.rewrapped,
        "failed": len(report.failed),
        "complete": report.complete,
    }
