"""Key operations run from the command line are recorded on the platform's audit chain."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command

from causeway.audit.models import AuditEvent
from causeway.vault.sealing import Scope, seal


@pytest.mark.django_db
def test_rule_16_key_operations_from_the_command_line_are_on_the_platform_audit_chain() -> None:
    seal(b"profile detail", scope=Scope(None, "accounts_user", str(uuid.uuid4()), "first_name"))
    call_command("keys", "rotate", "--platform", stdout=io.StringIO())
    event = AuditEvent.objects.filter(action__startswith="vault.").latest("occurred_at")
    assert (event.actor_type, event.chain) == ("system", "platform")
