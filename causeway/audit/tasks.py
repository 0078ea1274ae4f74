"""Scheduled audit work: checkpointing every chain's head, a daily verification of every chain, and the
aggregate events of refused calls."""

from __future__ import annotations

import logging

from celery import shared_task

from causeway.audit.refusals import refusals_flush
from causeway.audit.services import audit_checkpoint
from causeway.audit.verify import verify_chains as verify_all

logger = logging.getLogger(__name__)


# Celery ships no type hints, so its decorator is untyped.
@shared_task(name="causeway.audit.tasks.checkpoint_chains")  # type: ignore[untyped-decorator]
def checkpoint_chains() -> int:
    """Checkpoint every chain whose head moved; returns how many checkpoints were made."""
    made = audit_checkpoint()
    for checkpoint in made:
        # The log is a third copy of each checkpoint, wherever the logs are shipped.
        logger.info("audit checkpoint %s at seq %s", checkpoint.chain, checkpoint.seq)
    return len(made)


@shared_task(name="causeway.audit.tasks.verify_chains")  # type: ignore[untyped-decorator]
def verify_chains() -> bool:
    """Verify every chain; log the first bad event of each broken chain at ERROR. True when all hold."""
    result = verify_all()
    for problem in result.file_problems:
        logger.error("audit checkpoint file: %s", problem.reason)
    for report in result.chains:
        if report.problem is not None:
            problem = report.problem
            logger.error(
                "audit chain %s is broken at seq %s (event %s, action %s): %s",
                report.chain,
                problem.seq,
                problem.event_id or "-",
                problem.action or "-",
                problem.reason,
            )
        for bad in report.bad_checkpoints:
            logger.error("audit chain %s: %s", report.chain, bad.reason)
    if result.ok:
        logger.info("audit chains verified: %s chains, all intact", len(result.chains))
    return result.ok


@shared_task(name="causeway.audit.tasks.flush_refusals")  # type: ignore[untyped-decorator]
def flush_refusals() -> int:
    """Write the aggregate event of every interval of refused calls that has closed; returns how many."""
    return refusals_flush()
