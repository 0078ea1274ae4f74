"""What resolving a connection adds to a connector step: `connections.connection_for_step` for a company
connection linked by the person the job runs for (reading the connection, its connector's enablement,
the person's membership and link, the action's scopes and switch, and opening the sealed credentials),
then its rate budgets (reading them and taking one request from each), against the same step's plain read
of the connection row, and the same for an OAuth connection holding a live access token (its expiry
checked, no refresh due). Each figure is the median of many calls after a warm-up, on SQLite, in this
process. A step reads its connection only through the resolution, so the resolution's whole time is what
it adds to the step; the plain read (an ORM query built for each call) is shown for scale.

Then a rate budget under load: two worker processes take requests from one connection's budget as fast
as they can for a few seconds; the requests granted in each whole period, summed over both processes,
are compared with the limit (the goal: never more than 5 % over, and close to it).
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from typing import Any

CALLS = 400
GOAL_MS = 1.0
BUDGET_LIMIT = 50
BUDGET_PERIOD_SECONDS = 1
BUDGET_RUN_SECONDS = 6.0
BUDGET_GOAL = 0.05


def _setup_django(home: str = "") -> None:
    from django.conf import settings

    if settings.configured:
        return
    home = home or tempfile.mkdtemp(prefix="causeway-bench-")
    os.environ["CAUSEWAY_HOME"] = home
    os.environ.pop("CAUSEWAY_DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "causeway.settings")
    from causeway.bootstrap import prepare_home

    prepare_home()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _median_ms(operation: object) -> float:
    assert callable(operation)
    for _ in range(20):
        operation()
    samples = []
    for _ in range(CALLS):
        start = time.perf_counter()
        operation()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    _setup_django()
    from causeway.accounts.actors import SYSTEM
    from causeway.accounts.models import User
    from causeway.connections import budgets, services
    from causeway.connections.models import Connection
    from causeway.workspaces.models import Membership, Role, Workspace

    workspace = Workspace.objects.create(name="Connections bench", slug=f"conn-bench-{uuid.uuid4().hex[:8]}")
    person = User.objects.create_user(
        email=f"bench-{uuid.uuid4().hex[:8]}@example.com", password=None, first_name="Ben", last_name="Ch"
    )
    Membership.objects.create(
        workspace=workspace, user=person, role=Role.objects.get(workspace=None, key="operator")
    )
    services.connector_enable(actor=SYSTEM, workspace=workspace, key="http", enabled=True)
    connection = services.connection_create(
        actor=SYSTEM,
        workspace=workspace,
        kind="company",
        connector_key="http",
        name="Bench API",
        auth_method="bearer",
        settings={"base_url": "https://api.example.com"},
        credentials={"token": "bench-token-" + uuid.uuid4().hex},
        scopes=["read"],
    )
    services.connection_link(actor=person, workspace=workspace, connection_id=connection.id)
    # An OAuth connection holding a live access token: resolving it also checks the token's expiry.
    services.connector_enable(actor=SYSTEM, workspace=workspace, key="oauth2", enabled=True)
    signed_in = services.connection_create(
        actor=SYSTEM,
        workspace=workspace,
        kind="company",
        connector_key="oauth2",
        name="Bench OAuth API",
        auth_method="oauth2_client",
        settings={"base_url": "https://api.example.com", "token_url": "https://id.example.com/token"},
        credentials={"client_id": "bench", "client_secret": "bench-secret-" + uuid.uuid4().hex},
        scopes=["read"],
    )
    signed_in.credentials = {
        **signed_in.credentials,
        "access_token": "bench-access-" + uuid.uuid4().hex,
        "expires_at": str(int(time.time()) + 3600),
        "token_type": "Bearer",
    }
    signed_in.save(update_fields=["credentials"])
    services.connection_link(actor=person, workspace=workspace, connection_id=signed_in.id)

    budgets.connection_budget_set(
        actor=SYSTEM, workspace=workspace, connection_id=connection.id, limit=1_000_000, period_seconds=1
    )

    def resolver(
        target: Connection, opened: services.Opened | None = None, with_budget: bool = False
    ) -> object:
        def resolve() -> object:
            resolved = services.connection_for_step(
                workspace=workspace,
                connection_ref=str(target.id),
                action_key="get",
                on_behalf_of=person,
                job_id=None,
                step_path="s1",
                opened=opened,
            )
            applying = opened.budgets.get(resolved.connection.pk) if opened is not None else None
            if applying is None:
                applying = budgets.budgets_of(resolved.connection)
                if opened is not None:
                    opened.budgets[resolved.connection.pk] = applying
            if with_budget:
                budgets.budget_take(connection=resolved.connection, budgets=applying)
            return resolved.call.credentials

        return resolve

    def plain() -> object:
        return Connection.objects.filter(workspace=workspace, pk=connection.id).first()

    plain_ms = _median_ms(plain)
    every_ms = _median_ms(resolver(connection))
    # A job's later steps: the credentials were opened by its first step that used the connection.
    later_ms = _median_ms(resolver(connection, services.Opened()))
    budget_ms = _median_ms(resolver(connection, services.Opened(), True))
    print("connection resolution for a connector step (SQLite, median of", CALLS, "calls)")
    print(f"  plain row read: {plain_ms:.3f} ms")
    print(f"  checks + opening the credentials (a job's first step with it): {every_ms:.3f} ms")
    print(f"  checks, credentials opened earlier in the job: {later_ms:.3f} ms")
    print(f"  the same, and one request taken from a rate budget (a shared count): {budget_ms:.3f} ms")
    # The whole resolution is what a step adds: the step has no other read of the connection.
    verdict = "met" if later_ms < GOAL_MS else "NOT met"
    print(
        f"goal: resolution adds < {GOAL_MS} ms to a step: {verdict} ({later_ms:.3f} ms without a budget, "
        f"{budget_ms:.3f} ms with one)"
    )
    oauth_ms = _median_ms(resolver(signed_in))
    oauth_later_ms = _median_ms(resolver(signed_in, services.Opened()))
    print(f"  an OAuth connection with a live access token (a job's first step): {oauth_ms:.3f} ms")
    print(f"  the same, its tokens opened earlier in the job: {oauth_later_ms:.3f} ms")
    verdict = "met" if oauth_later_ms < GOAL_MS else "NOT met"
    print(f"goal: resolving an OAuth connection for a later step takes < {GOAL_MS} ms: {verdict}")
    _budget_under_load(str(connection.id))


def _take_for(home: str, connection_id: str, ready: Any, start: Any, results: Any) -> None:
    """One worker process: once both are ready, take requests from the connection's budget for the run's
    length; the periods of those granted."""
    _setup_django(home)
    from django.utils import timezone

    from causeway.connections import budgets
    from causeway.connections.models import Connection

    connection = Connection.objects.get(pk=connection_id)
    applying = budgets.budgets_of(connection)
    granted: list[int] = []
    ready.put(True)
    start.wait()
    until = time.time() + BUDGET_RUN_SECONDS
    while time.time() < until:
        now = timezone.now()
        if budgets.budget_take(connection=connection, budgets=applying, now=now) is None:
            granted.append(int(now.timestamp()) // BUDGET_PERIOD_SECONDS)
    results.put(granted)


def _budget_under_load(connection_id: str) -> None:
    from django.conf import settings
    from django.db import connections

    from causeway.accounts.actors import SYSTEM
    from causeway.connections import budgets
    from causeway.connections.models import Connection

    connection = Connection.objects.get(pk=connection_id)
    budgets.connection_budget_set(
        actor=SYSTEM,
        workspace=connection.workspace,
        connection_id=connection.id,
        limit=BUDGET_LIMIT,
        period_seconds=BUDGET_PERIOD_SECONDS,
    )
    connections.close_all()
    spawn = multiprocessing.get_context("spawn")
    ready, start, results = spawn.Queue(), spawn.Event(), spawn.Queue()
    workers = [
        spawn.Process(
            target=_take_for, args=(os.environ["CAUSEWAY_HOME"], connection_id, ready, start, results)
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=120)
    start.set()
    granted = [period for _ in workers for period in results.get(timeout=120)]
    for worker in workers:
        worker.join()
    per_period: dict[int, int] = {}
    for period in granted:
        per_period[period] = per_period.get(period, 0) + 1
    # Whole periods only: the first and last are cut by the start and end of the run.
    whole = sorted(per_period)[1:-1]
    counts = [per_period[p] for p in whole]
    store = "the database (SQLite)" if settings.CACHE_URL == "database" else "Redis"
    print(
        f"rate budget of {BUDGET_LIMIT} requests per {BUDGET_PERIOD_SECONDS} s, 2 worker processes, "
        f"counts in {store}, {len(counts)} whole periods"
    )
    worst = max(counts) / BUDGET_LIMIT - 1
    print(f"  granted per period: min {min(counts)}, max {max(counts)}; mean {statistics.mean(counts):.1f}")
    verdict = "met" if worst <= BUDGET_GOAL and min(counts) >= BUDGET_LIMIT * (1 - BUDGET_GOAL) else "NOT met"
    print(f"goal: the budget holds within {BUDGET_GOAL:.0%} of its limit: {verdict} ({worst:+.1%} at most)")


if __name__ == "__main__":
    main()
