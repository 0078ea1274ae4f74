"""Who acts: a person, a service account, or the system (jobs, schedules, the operator's command line)."""

from __future__ import annotations

from typing import TypeAlias

from causeway.accounts.actors import SYSTEM, TRIGGER, SystemActor
from causeway.accounts.models import User
from causeway.workspaces.models import ServiceAccount

Actor: TypeAlias = User | ServiceAccount | SystemActor

__all__ = ["SYSTEM", "TRIGGER", "Actor", "ServiceAccount", "SystemActor", "User"]
