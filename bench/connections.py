"""What resolving a connection adds to a connector step: `connections.connection_for_step` for a company
connection linked by the person the job runs for (reading the connection, its connector's enablement,
the person's membership and link, the action's scopes and switch, and opening the sealed credentials),
against the same step's plain read of the connection row; and the same for an OAuth connection holding
a live access token (its expiry checked, no refresh due). Each figure is the median of many calls after
a warm-up, on SQLite, in this process.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid

CALLS = 400
GOAL_MS = 1.0


def _setup_django() -> None:
    from django.conf import settings

    if settings.configured:
        return
    home = tempfile.mkdtemp(prefix="causeway-bench-")
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
    from causeway.connections import services
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

    def resolver(target: Connection) -> object:
        def resolve() -> object:
            resolved = services.connection_for_step(
                workspace=workspace,
                connection_ref=str(target.id),
                action_key="get",
                on_behalf_of=person,
                job_id=None,
                step_path="s1",
            )
            return resolved.call.credentials

        return resolve

    resolve = resolver(connection)

    def plain() -> object:
        return Connection.objects.filter(workspace=workspace, pk=connection.id).first()

    resolved_ms, plain_ms = _median_ms(resolve), _median_ms(plain)
    added = resolved_ms - plain_ms
    print("connection resolution for a connector step (SQLite, median of", CALLS, "calls)")
    print(f"  resolve (checks + open credentials): {resolved_ms:.3f} ms; plain row read: {plain_ms:.3f} ms")
    verdict = "met" if added < GOAL_MS else "NOT met"
    print(f"goal: resolution adds < {GOAL_MS} ms to a step: {verdict} ({added:.3f} ms)")
    oauth_ms = _median_ms(resolver(signed_in))
    oauth_added = oauth_ms - plain_ms
    verdict = "met" if oauth_added < GOAL_MS else "NOT met"
    print(f"  an OAuth connection with a live access token: {oauth_ms:.3f} ms")
    print(f"goal: OAuth resolution adds < {GOAL_MS} ms to a step: {verdict} ({oauth_added:.3f} ms)")


if __name__ == "__main__":
    main()
