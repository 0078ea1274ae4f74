"""Fixtures the audit log's tests share, on its API and on its pages as in the app."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import transaction

from causeway.audit.models import AuditEvent
from causeway.audit.services import audit_record
from testkit.factories import seed_system_roles
from testkit.personas import cast


@pytest.fixture(autouse=True)
def checkpoint_file(settings: Any, tmp_path: Path) -> Path:
    """Each test writes checkpoints to its own file, so no test's checkpoints judge another's chain."""
    path = tmp_path / "audit-checkpoints.jsonl"
    settings.AUDIT_CHECKPOINT_FILE = path
    return path


@pytest.fixture
def system_roles() -> None:
    """The system roles as their data migration makes them (a committing test elsewhere may have
    flushed them away)."""
    seed_system_roles()


# The personas by name: people.admin, people.acme (their workspace), people.globex (the outsider's).
People = SimpleNamespace


def audit_people() -> People:
    """Acme's Admin, Analyst and Operator, Globex's Admin (`outsider`) and staff, without passwords: they
    sign in through `force_login`, so no test pays for a password hash."""
    found = cast(
        domain="acme.example",
        other="Globex",
        emails={"outsider": "admin@globex.example", "staff": "staff@causeway.example"},
        names={kind: ("Ada", "Lee") for kind in ("admin", "analyst", "operator", "outsider", "staff")},
        password=None,
    )
    return People(**found.people(other_key="globex"))


def record(workspace_id: uuid.UUID, action: str, **fields: Any) -> AuditEvent:
    """One event on the workspace's chain, written in a transaction of its own as a service writes it."""
    with transaction.atomic():
        return audit_record(
            actor=fields.pop("actor", None), action=action, workspace_id=workspace_id, **fields
        )


@pytest.fixture(name="people")
def people_fixture(system_roles: None) -> People:
    """The personas of `audit_people`, as the `people` fixture of the modules that import this one."""
    return audit_people()
