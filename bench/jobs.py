"""What the job runtime costs on the embedded default (SQLite database, SQLite broker), in one process.

- creating a job (the row, its sealed payload, the audit event of a run by hand, and handing it to the
  broker after the commit);
- claiming a job and finishing it (the lease's conditional UPDATE, then the sealed finish), without
  running any step;
- a duplicate delivery (a claim that finds the job taken: what a redelivered message costs);
- a reaper run that finds nothing to do, and one that recovers a batch of abandoned jobs.

Each figure is the best of a few rounds. The recovery time after a worker is killed is measured with
real processes by the rule 15 tests (see docs/operations.md).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

ROUNDS = 3
BATCH = 200
ABANDONED = 500


def _setup_django() -> None:
    from django.apps import apps

    if apps.ready:
        return  # another benchmark of this run set up its own data directory already
    home = tempfile.mkdtemp(prefix="causeway-bench-")
    os.environ["CAUSEWAY_HOME"] = home
    os.environ.pop("CAUSEWAY_DATABASE_URL", None)
    os.environ.pop("CAUSEWAY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "causeway.settings")
    from causeway.bootstrap import prepare_home

    prepare_home()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _recipe() -> tuple[Any, Any]:
    from causeway.accounts.models import User
    from causeway.recipes.services import project_create, recipe_create
    from causeway.workspaces.models import Membership, Role, Workspace

    admin = User.objects.create_user(
        email="bench@example.com", password=None, first_name="Bench", last_name="Mark"
    )
    workspace = Workspace.objects.create(name="Bench", slug="bench")
    Membership.objects.create(
        workspace=workspace, user=admin, role=Role.objects.get(workspace=None, key="admin")
    )
    project = project_create(actor=admin, workspace=workspace, name="Bench")
    step = {"id": "s1", "type": "http", "method": "POST", "url": "https://api.example.com/orders"}
    made = recipe_create(
        actor=admin,
        workspace=workspace,
        project=project,
        name="Bench",
        definition={"trigger": {"type": "manual"}, "steps": [step]},
    )
    return admin, made


def _per_second(count: int, run: Callable[[], object]) -> float:
    best = 0.0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(count):
            run()
        best = max(best, count / (time.perf_counter() - start))
    return best


def main() -> None:
    _setup_django()
    import logging

    from django.utils import timezone

    from causeway.runs import runtime
    from causeway.runs.models import Job
    from causeway.runs.services import job_create

    # The reaper names each job it recovers; a bench of 500 recoveries need not.
    logging.getLogger("causeway.runs.runtime").setLevel(logging.ERROR)
    admin, made = _recipe()
    payload = {"order": 1, "lines": [{"sku": f"A-{n}", "qty": n} for n in range(20)]}

    def create() -> Job:
        return job_create(actor=admin, recipe=made, trigger_type="manual", payload=payload)

    created = _per_second(BATCH, create)
    queued = list(Job.objects.filter(status="queued").values_list("pk", flat=True))

    def claim_and_finish() -> None:
        claimed = runtime.claim(queued.pop())
        assert claimed is not None
        runtime.finish_held(claimed, status="succeeded")

    lifecycle = _per_second(BATCH, claim_and_finish)
    running = runtime.claim(create().pk)
    assert running is not None
    duplicate = _per_second(BATCH * 5, lambda: runtime.claim(running.job.pk))

    idle_best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        runtime.reap()
        idle_best = min(idle_best, time.perf_counter() - start)

    abandoned = [create().pk for _ in range(ABANDONED)]
    for job_id in abandoned:
        runtime.claim(job_id)
    Job.objects.filter(pk__in=abandoned).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    start = time.perf_counter()
    outcome = runtime.reap()
    recovered = time.perf_counter() - start
    assert outcome["requeued"] == ABANDONED, outcome

    total = Job.objects.count()
    print("job runtime on the embedded default (SQLite database and broker), one process")
    print(f"{'create a job (row, sealed payload, audit, broker)':<56} {created:>8,.0f} /s")
    print(f"{'claim + finish (lease UPDATE, sealed finish)':<56} {lifecycle:>8,.0f} /s")
    print(f"{'duplicate delivery (a claim that finds the job taken)':<56} {duplicate:>8,.0f} /s")
    print(f"{f'reaper run, nothing to do ({total:,} jobs in the table)':<56} {idle_best * 1000:>8,.1f} ms")
    print(
        f"{f'reaper run recovering {ABANDONED} abandoned jobs':<56} {recovered * 1000:>8,.0f} ms"
        f" ({recovered / ABANDONED * 1000:.1f} ms per job, sent to the broker)"
    )


if __name__ == "__main__":
    main()
