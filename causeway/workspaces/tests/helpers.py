"""Test helpers for workspaces: people and workspaces, watching the audit chains, signing in, API tokens.

People and workspaces come from the test kit (`testkit`), as everywhere else.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Max

from causeway.accounts.models import User
from causeway.audit.models import PLATFORM_CHAIN, AuditEvent, workspace_chain
from causeway.workspaces.models import Workspace
from testkit import STRONG_PASSWORD
from testkit.factories import UserFactory, WorkspaceFactory, system_role

PASSWORD = STRONG_PASSWORD


def role(key: str, workspace: Workspace | None = None) -> Any:
    return system_role(key, workspace)


def person(email: str, *, staff: bool = False, first: str = "Ada", last: str = "Lovelace") -> User:
    user: User = UserFactory.create(email=email, staff=staff, first_name=first, last_name=last)
    return user


def tenant(name: str, *, members: dict[Any, str] | None = None) -> Workspace:
    workspace: Workspace = WorkspaceFactory.create(name=name, members=members or {})
    return workspace


MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def fast_hashing(settings: Any) -> None:
    """Argon2 stays the hasher of every real process; tests about access, not hashing, skip its cost.

    Not for tests that sign in through a `causeway web` process: it verifies with Argon2 alone.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class AuditWatch:
    """Events appended since the watch began, per chain (sequence numbers only ever grow)."""

    def __init__(self) -> None:
        self.heads = dict(
            AuditEvent.objects.values_list("chain").annotate(m=Max("seq")).values_list("chain", "m")
        )

    def new(self) -> list[AuditEvent]:
        found = []
        for event in AuditEvent.objects.order_by("occurred_at", "seq"):
            if event.seq > self.heads.get(event.chain, 0):
                found.append(event)
        return found

    def actions(self) -> list[tuple[str, str]]:
        """(chain kind, action) of each new event: "platform" or the workspace's id."""
        return [(_chain_name(e.chain), e.action) for e in self.new()]


def _chain_name(chain: str) -> str:
    return "platform" if chain == PLATFORM_CHAIN else chain.removeprefix("workspace:")


def on_workspace(workspace: Any, action: str) -> tuple[str, str]:
    assert workspace_chain(workspace.id).removeprefix("workspace:") == str(workspace.id)
    return (str(workspace.id), action)


def on_platform(action: str) -> tuple[str, str]:
    return ("platform", action)


def sign_in(client: Any, user: Any) -> Any:
    client.force_login(user, backend=MODEL_BACKEND)
    return client


def bearer(user: Any) -> dict[str, str]:
    """Request headers carrying a fresh personal API token of the user."""
    from causeway.workspaces.tokens import token_create

    _, secret = token_create(actor=user, name="tests", expires_in_days=1)
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def token_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]
