"""Test helpers for workspaces: people and workspaces, watching the audit chains, signing in, API tokens.

This package sits below `access` in the layers, so it builds its own people and workspaces rather than
importing `causeway.testing` (which imports `access`), and names roles through the app registry.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.db.models import Max
from django.utils.text import slugify

from causeway.accounts.models import User, UserType
from causeway.audit.models import PLATFORM_CHAIN, AuditEvent, workspace_chain
from causeway.workspaces.models import Membership, Workspace

PASSWORD = "correct-Horse-battery-9"


def role(key: str, workspace: Workspace | None = None) -> Any:
    return apps.get_model("access", "Role")._default_manager.get(workspace=workspace, key=key)


def person(email: str, *, staff: bool = False, first: str = "Ada", last: str = "Lovelace") -> User:
    return User.objects.create_user(
        email=email,
        password=PASSWORD,
        first_name=first,
        last_name=last,
        user_type=UserType.STAFF if staff else UserType.STANDARD,
    )


def tenant(name: str, *, members: dict[Any, str] | None = None) -> Workspace:
    workspace = Workspace.objects.create(name=name, slug=slugify(name))
    for user, key in (members or {}).items():
        Membership.objects.create(workspace=workspace, user=user, role=role(key))
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
