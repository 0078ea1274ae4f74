"""The Celery tasks of watches: telling the watchers of a recipe whose job just failed, and beat's sweep
that sends what became due since (an interval that passed, a message to try again)."""

from __future__ import annotations

import logging
import uuid

from celery import shared_task

logger = logging.getLogger(__name__)

JOB_FAILED_TASK = "causeway.watches.tasks.job_failed"


def job_failed_queue(job_id: uuid.UUID) -> None:
    """Told by the runs app of each failed job: hand the work to a worker (this may be a web process).
    A broker that does not take it loses nothing: beat's sweep finds the failure."""
    from causeway.celery import app

    try:
        app.send_task(JOB_FAILED_TASK, args=[str(job_id)])
    except Exception as exc:
        logger.warning("job %s: the broker did not take its failure's notices (%s); beat will", job_id, exc)


@shared_task(name=JOB_FAILED_TASK, ignore_result=True)  # type: ignore[untyped-decorator]
def job_failed(job_id: str) -> dict[str, int]:
    from causeway.runs.models import Job
    from causeway.watches import sending

    recipe_id = Job.objects.filter(pk=job_id).values_list("recipe_id", flat=True).first()
    if recipe_id is None:
        return {}
    made = sending.watches_tell(recipe_id=recipe_id)
    sent = sending.notices_send(recipe_id=recipe_id)
    return {"made": made, **sent}


@shared_task(name="causeway.watches.tasks.sweep", ignore_result=True)  # type: ignore[untyped-decorator]
def sweep() -> dict[str, int]:
    """Beat, every CAUSEWAY_NOTICE_SWEEP_SECONDS: messages whose interval passed, and notices to retry."""
    from causeway.watches import sending

    made = sending.watches_tell()
    sent = sending.notices_send()
    return {"made": made, **sent}
