"""The Celery tasks of the runs app: running one job, the job reaper, the job history purge, and forgetting
webhook calls that can no longer come back.

Tasks take ids; the Job row, not the message, says whether there is anything to do (see `runtime`).
"""

from __future__ import annotations

from celery import shared_task

from causeway.runs import runtime, webhooks


@shared_task(name="causeway.runs.tasks.run_job", ignore_result=True)  # type: ignore[untyped-decorator]
def run_job(job_id: str) -> str:
    """Run the job if this worker wins its lease; a duplicate message does nothing and is acknowledged."""
    return runtime.run(job_id)


@shared_task(name="causeway.runs.tasks.reap_jobs", ignore_result=True)  # type: ignore[untyped-decorator]
def reap_jobs() -> dict[str, int]:
    """Beat, every CAUSEWAY_REAPER_INTERVAL_SECONDS: recover abandoned, lost and overdue jobs."""
    return runtime.reap()


@shared_task(name="causeway.runs.tasks.purge_job_history", ignore_result=True)  # type: ignore[untyped-decorator]
def purge_job_history() -> dict[str, int]:
    """Beat, daily: delete job history older than each workspace's retention, then what the apps above
    registered as daily purges (`runtime.DAILY_PURGES`: API calls past their retention)."""
    purged = runtime.job_history_purge()
    for name, purge in runtime.DAILY_PURGES.items():
        purged[name] = purge()
    return purged


@shared_task(name="causeway.runs.tasks.purge_webhook_deliveries", ignore_result=True)  # type: ignore[untyped-decorator]
def purge_webhook_deliveries() -> int:
    """Beat, every 5 minutes: forget accepted webhook calls past their signature's tolerance and their
    Idempotency-Key's window."""
    return webhooks.webhook_deliveries_purge()
