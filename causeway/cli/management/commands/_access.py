"""Shared by the access commands: the system actor, the workspace named by --workspace, refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from causeway.access import policy
from causeway.access.errors import Forbidden, NotFound
from causeway.access.policy import Actor
from causeway.cli.management.commands.workspaces import cli_actor, refusal


def workspace_of(actor: Actor, ref: str) -> Any:
    try:
        return policy.system_workspace_get(actor, ref)
    except NotFound:
        raise CommandError(f"workspace: no workspace {ref!r}") from None


def run(action: Callable[[], Any]) -> Any:
    """Call `action`, turning every refusal into one line for stderr and a non-zero exit."""
    try:
        return action()
    except ValidationError as exc:
        raise refusal(exc) from None
    except NotFound as exc:
        raise CommandError(f"{exc.what}: not found") from None
    except Forbidden as exc:
        raise CommandError(str(exc)) from None


__all__ = ["cli_actor", "run", "workspace_of"]
