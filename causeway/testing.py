"""Test support, loaded as a pytest plugin before Django starts: data directory, personas, fixtures."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_HOME = Path(os.environ.setdefault("CAUSEWAY_HOME", str(ROOT / "var" / "test")))
os.environ.setdefault("CAUSEWAY_AUDIT_CHECKPOINT_FILE", str(TEST_HOME / "audit-checkpoints.jsonl"))

from causeway.bootstrap import prepare_home  # noqa: E402

prepare_home()

STRONG_PASSWORD = "correct-Horse-battery-9"  # noqa: S105


def pytest_configure(config: pytest.Config) -> None:
    (TEST_HOME / "audit-checkpoints.jsonl").unlink(missing_ok=True)
    shutil.rmtree(TEST_HOME / "mail", ignore_errors=True)


def https_client(**defaults: Any) -> Any:
    """Django's test client, speaking HTTPS as every real client of Causeway does."""
    from django.test import Client

    class HttpsClient(Client):
        def generic(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            kwargs["secure"] = True
            return super().generic(method, path, *args, **kwargs)

    return HttpsClient(HTTP_USER_AGENT="pytest", **defaults)


@pytest.fixture
def client() -> Any:
    return https_client()


@pytest.fixture(autouse=True)
def _audit_triggers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests that commit for real must be able to empty the audit tables afterwards.

    The append-only triggers are switched off only for that flush, and back on before the next test.
    """
    transactional = "transactional_db" in request.fixturenames or "live_server" in request.fixturenames
    if not transactional:
        yield
        return
    from django.db import connection

    from causeway.audit.triggers import drop_sql, enable

    request.getfixturevalue("transactional_db")
    enable()
    yield
    with connection.cursor() as cursor:
        for statement in drop_sql(connection.vendor):
            cursor.execute(statement)


def make_user(email: str, *, staff: bool = False, first: str = "Ada", last: str = "Lovelace") -> Any:
    from causeway.accounts.models import User, UserType

    return User.objects.create_user(
        email=email,
        password=STRONG_PASSWORD,
        first_name=first,
        last_name=last,
        user_type=UserType.STAFF if staff else UserType.STANDARD,
    )


def make_workspace(name: str, *, members: dict[Any, str] | None = None) -> Any:
    from django.utils.text import slugify

    from causeway.access.models import Role
    from causeway.workspaces.models import Membership, Workspace

    workspace = Workspace.objects.create(name=name, slug=slugify(name))
    for user, role_key in (members or {}).items():
        Membership.objects.create(
            workspace=workspace, user=user, role=Role.objects.get(workspace=None, key=role_key)
        )
    return workspace
