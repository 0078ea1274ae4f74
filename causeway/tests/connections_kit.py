"""What the connection rule tests share: a workspace with every persona, the HTTP connector enabled, a
real local server that records what it receives, and recipes that use a connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from causeway.access.policy import TRIGGER, Actor
from causeway.connections import services as connections
from causeway.connections.models import Connection
from causeway.connections.outbound import outbound_hosts_set
from causeway.recipes.models import Recipe
from causeway.recipes.services import recipe_create
from causeway.runs import runtime
from causeway.runs.models import Job
from causeway.runs.services import job_create
from testkit.factories import ProjectFactory, UserFactory
from testkit.personas import cast, member

TOKEN = "tok-canary-7d3f2b9e1a"
COMPANY_PASSWORD = "pw-canary-5c8e0d4f6b"


@dataclass
class Kit:
    workspace: Any
    owner: Any
    admin: Any
    analyst: Any
    operator: Any
    staff: Any
    outsider: Any
    project: Any
    base_url: str
    personal: Connection | None = None
    company: Connection | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def build(base_url: str) -> Kit:
    acme = cast(emails={"outsider": "outsider@other.example.com"})
    workspace, people = acme.workspace, acme.people()
    admin, analyst, operator, staff, outsider = (
        people[kind] for kind in ("admin", "analyst", "operator", "staff", "outsider")
    )
    # The owner of the personal connection: an Analyst like any other.
    owner = UserFactory.create(email="owner@example.com", first_name="Olive", last_name="Owner")
    member(workspace, owner, "analyst")
    outbound_hosts_set(actor=admin, workspace=workspace, hosts=["127.0.0.1"])
    connections.connector_enable(actor=admin, workspace=workspace, key="http", enabled=True)
    project = ProjectFactory.create(actor=admin, workspace=workspace, name="Integrations")
    kit = Kit(workspace, owner, admin, analyst, operator, staff, outsider, project, base_url)
    kit.personal = connections.connection_create(
        actor=owner,
        workspace=workspace,
        kind="personal",
        connector_key="http",
        name="Olive's API",
        auth_method="bearer",
        settings={"base_url": base_url},
        credentials={"token": TOKEN},
        scopes=["read", "write"],
    )
    kit.company = connections.connection_create(
        actor=admin,
        workspace=workspace,
        kind="company",
        connector_key="http",
        name="Company API",
        auth_method="basic",
        settings={"base_url": base_url},
        credentials={"username": "acme", "password": COMPANY_PASSWORD},
        scopes=["read"],
    )
    return kit


def step(connection: Connection, action: str = "get", path: str = "/items", **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": "call",
        "type": "connector",
        "connection": str(connection.id),
        "action": action,
        "input": {"path": path, **extra},
        "retries": 0,
    }
    return found


def recipe(kit: Kit, author: Any, steps: list[dict[str, Any]], name: str = "Uses a connection") -> Recipe:
    return recipe_create(
        actor=author,
        workspace=kit.workspace,
        project=kit.project,
        name=name,
        definition={"trigger": {"type": "manual"}, "steps": steps},
    )


def run(actor: Actor, found: Recipe, *, test: bool = True) -> Job:
    """A job started through the runs service, then run in this process as a worker would."""
    job = job_create(actor=actor, recipe=found, trigger_type="manual", is_test=test)
    runtime.run(job.pk)
    job.refresh_from_db()
    return job


def triggered(found: Recipe, trigger_type: str = "schedule") -> Job:
    """A job a trigger fired (no one started it), run in this process."""
    found.active, found.active_version = True, found.current_version
    found.save(update_fields=["active", "active_version"])
    job = job_create(actor=TRIGGER, recipe=found, trigger_type=trigger_type)
    runtime.run(job.pk)
    job.refresh_from_db()
    return job
