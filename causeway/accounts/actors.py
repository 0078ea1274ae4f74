"""The one identity that is not a person nor a service account: the system itself."""

from __future__ import annotations

from dataclasses import dataclass

from causeway.audit.models import ActorType
from causeway.audit.services import Actor as AuditActor


@dataclass(frozen=True)
class SystemActor:
    """Jobs, schedules, triggers and the operator's command line: whoever already holds the database
    and the keys, and so holds every permission. `label` says which (it goes on the audit record)."""

    label: str = "system"
    # A trigger (schedule, webhook, poll) firing for a started recipe, rather than the operator's hand:
    # it runs only what was started, and its runs are not audit events.
    trigger: bool = False
    # The operator's command line, a hand that could reach for TEST and PROD recipes: like a person's,
    # its recipe writes there stop at the environment's policy (rule 5: they change by promotion).
    command_line: bool = False

    @property
    def audit_actor(self) -> AuditActor:
        return AuditActor(type=ActorType.SYSTEM, label=self.label)


SYSTEM = SystemActor()
TRIGGER = SystemActor(label="trigger", trigger=True)
