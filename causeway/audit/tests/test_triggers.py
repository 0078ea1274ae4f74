"""Rule 16: without the superuser's step of switching triggers off, the database itself refuses to
change or remove audit records, and chain heads only move forward."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from causeway.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from causeway.audit.services import audit_checkpoint
from causeway.audit.tests.tamper import make_chain, sql

# Committed for real, so the triggers act as they do in production. Each test names
# `transactional_db` so the suite's trigger fixture sees a committing test.
pytestmark = pytest.mark.django_db(transaction=True)


def refused(statement: str, params: tuple[object, ...] = ()) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        sql(statement, params)
    return str(caught.value)


def test_rule_16_database_refuses_update_and_delete_of_events(transactional_db: None) -> None:
    chain, events = make_chain(3)
    message = refused("UPDATE audit_auditevent SET outcome = 'success' WHERE chain = %s", (chain,))
    assert "append-only" in message
    assert "append-only" in refused("DELETE FROM audit_auditevent WHERE chain = %s AND seq = 2", (chain,))
    assert "append-only" in refused("DELETE FROM audit_auditevent")
    # Through the ORM too: a queryset update or delete is the same SQL underneath.
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(chain=chain).update(action="x")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(chain=chain).delete()
    assert list(AuditEvent.objects.filter(chain=chain).order_by("seq").values_list("action", flat=True)) == [
        e.action for e in events
    ]


def test_rule_16_database_refuses_update_and_delete_of_checkpoints(transactional_db: None) -> None:
    make_chain(2)
    audit_checkpoint()
    assert AuditCheckpoint.objects.count() == 1
    assert "append-only" in refused("UPDATE audit_auditcheckpoint SET seq = 1")
    assert "append-only" in refused("DELETE FROM audit_auditcheckpoint")
    assert AuditCheckpoint.objects.get().seq == 2


def test_rule_16_database_refuses_emptying_the_tables(transactional_db: None) -> None:
    make_chain(2)
    audit_checkpoint()
    for table in ("audit_auditevent", "audit_auditcheckpoint", "audit_auditchainhead"):
        if connection.vendor == "postgresql":
            # CASCADE: past the foreign keys of tables that point at the events (refusal tallies), so
            # it is the trigger that refuses, not a constraint an attacker would simply cascade over.
            assert "refused" in refused(f"TRUNCATE {table} CASCADE")
        else:
            # SQLite has no TRUNCATE; an unqualified DELETE is its equivalent.
            assert "refused" in refused(f"DELETE FROM {table}")  # noqa: S608 (a fixed table name)
    assert AuditEvent.objects.count() == 2
    assert AuditCheckpoint.objects.count() == 1


def test_rule_16_chain_heads_only_move_forward(transactional_db: None) -> None:
    chain, _ = make_chain(3)
    assert "only move forward" in refused(
        "UPDATE audit_auditchainhead SET seq = 1 WHERE chain = %s", (chain,)
    )
    assert "only move forward" in refused("UPDATE audit_auditchainhead SET chain = 'platform'")
    assert "only move forward" in refused("DELETE FROM audit_auditchainhead")
    assert AuditChainHead.objects.get(chain=chain).seq == 3
    make_chain(1, workspace_id=AuditEvent.objects.filter(chain=chain).first().workspace_id)  # type: ignore[union-attr]
    assert AuditChainHead.objects.get(chain=chain).seq == 4


def test_rule_16_the_migrations_install_the_triggers(transactional_db: None) -> None:
    """Unapplying the trigger migrations lets an UPDATE through; applying them again refuses it."""
    chain, _ = make_chain(2)
    try:
        call_command("migrate", "audit", "0001", verbosity=0)
        with transaction.atomic():
            assert (
                sql("UPDATE audit_auditevent SET action = 'edited' WHERE chain = %s AND seq = 1", (chain,))
                == 1
            )
            assert sql("UPDATE audit_auditchainhead SET seq = 1 WHERE chain = %s", (chain,)) == 1
    finally:
        call_command("migrate", "audit", verbosity=0)
    assert "append-only" in refused("UPDATE audit_auditevent SET action = 'again' WHERE chain = %s", (chain,))
    assert "only move forward" in refused(
        "UPDATE audit_auditchainhead SET seq = 0 WHERE chain = %s", (chain,)
    )
