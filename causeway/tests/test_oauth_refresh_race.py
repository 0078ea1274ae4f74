"""The refresh race: two real `causeway worker` processes run two jobs through the same OAuth connection
while its access token expires between their steps, against a provider (Authlib's server side) that
rotates refresh tokens and, shown a spent one, revokes the whole grant. Both jobs must succeed and the
provider must see exactly one refresh: the second worker waits on the connection's lock (a row lock on
PostgreSQL, SQLite's one writer in the embedded default) and then uses the tokens the first one got.

Run on whichever database and broker the settings name: SQLite and the embedded broker, or PostgreSQL
and Redis (CAUSEWAY_DATABASE_URL, CAUSEWAY_BROKER_URL), as CI's second pass does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from causeway.connections.models import Connection
from causeway.runs.models import FINISHED, Job
from causeway.runs.services import job_create
from causeway.tests.connections_kit import recipe, step
from causeway.tests.oauth_kit import OAuthKit, oauth_kit
from testkit.support import (
    CausewayProcess,
    jobs_seen,
    launch_worker,
    poll_until,
    process_env,
    stop_together,
    wait_started,
)

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

BOUND = 120


@pytest.fixture
def kit(transactional_db: None) -> Iterator[OAuthKit]:
    with oauth_kit() as made:
        yield made


@pytest.fixture
def workers(kit: OAuthKit, tmp_path: Path) -> Iterator[list[CausewayProcess]]:
    # One job at a time each, so the two jobs run in two processes.
    env = process_env(CAUSEWAY_WORKER_CONCURRENCY="1")
    started: list[CausewayProcess] = []
    try:
        started.append(launch_worker(env, tmp_path, name=f"race-a-{tmp_path.name[-6:]}@test"))
        started.append(launch_worker(env, tmp_path, name=f"race-b-{tmp_path.name[-6:]}@test"))
        wait_started(*started)
        yield started
    finally:
        stop_together(*started)


def test_two_workers_whose_token_expires_mid_run_refresh_once_and_both_succeed(
    kit: OAuthKit, workers: list[CausewayProcess]
) -> None:
    provider = kit.provider
    connection = kit.sign_in(scopes=["read"])
    signed_in = dict(connection.credentials)
    expired = False

    def hold(path: str) -> bool:
        # Both jobs' first steps wait here until both have arrived; then every access token expires
        # (their first steps are still answered: the token was live when they came).
        nonlocal expired
        if "/first" not in path:
            return True
        if sum("/first" in p for p in provider.arrivals) < 2:
            return False
        if not expired:
            provider.expire_all()
            expired = True
        return True

    provider.hold = hold
    steps = [
        step(connection, "get", path="/first"),
        {**step(connection, "get", path="/second"), "id": "next"},
    ]
    jobs = [
        job_create(
            actor=kit.owner,
            recipe=recipe(kit.as_kit(), kit.owner, steps, name=name),
            trigger_type="manual",
            is_test=True,
        )
        for name in ("Race one", "Race two")
    ]

    def both_finished() -> list[Job] | None:
        found = [Job.objects.get(pk=job.pk) for job in jobs]
        return found if all(job.status in FINISHED for job in found) else None

    done = poll_until(both_finished, seconds=BOUND, what="both jobs to finish", saw=lambda: jobs_seen(jobs))
    assert [job.status for job in done] == ["succeeded", "succeeded"], [job.error for job in done]
    # The two jobs ran in the two worker processes, side by side.
    owners = {job.lease_owner.split(":")[1] for job in done}
    assert len(owners) == 2, owners
    assert provider.refreshes == 1
    assert provider.reused_refresh_tokens == 0
    refreshed = Connection.objects.get(pk=connection.pk).credentials
    assert refreshed["refresh_token"] != signed_in["refresh_token"]
    calls: dict[str, int] = {}
    for token, status in provider.resource_calls:
        calls[f"{'old' if token == signed_in['access_token'] else 'new'} {status}"] = (
            calls.get(f"{'old' if token == signed_in['access_token'] else 'new'} {status}", 0) + 1
        )
    # Each job: its first step with the old token; its second either refused (401, then the new token)
    # or sent with the new token straight away, if the other worker had refreshed by then.
    assert calls["old 200"] == 2 and calls["new 200"] == 2, calls
    assert calls.get("new 401", 0) == 0
    tokens: list[Any] = [t for t in provider.tokens if t.access_token == refreshed["access_token"]]
    assert len(tokens) == 1
