"""What an attacker with database superuser rights does to the audit tables, for the tamper tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.db import connection, transaction

from causeway.audit.models import AuditEvent, workspace_chain
from causeway.audit.services import Actor, audit_record
from causeway.audit.triggers import HEAD_TABLE, TABLES, drop_sql
from causeway.vault.fields import StoredCiphertext
from causeway.vault.sealing import Scope, seal


def sql(statement: str, params: tuple[Any, ...] = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def switch_off_triggers() -> None:
    """The superuser step: on PostgreSQL disable the user triggers, on SQLite drop them."""
    if connection.vendor == "postgresql":
        for table in (*TABLES, HEAD_TABLE):
            sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    else:
        for statement in drop_sql(connection.vendor):
            sql(statement)


def make_chain(count: int, *, workspace_id: uuid.UUID | None = None) -> tuple[str, list[AuditEvent]]:
    """Append `count` varied events to a workspace chain (a new one unless given)."""
    workspace_id = workspace_id or uuid.uuid4()
    events = []
    for number in range(1, count + 1):
        with transaction.atomic():
            events.append(
                audit_record(
                    actor=Actor(type="user", id=str(uuid.uuid4()), label=f"user{number}@example.com"),
                    action=f"thing.step_{number}",
                    target=("thing", str(number), f"Thing {number}"),
                    workspace_id=workspace_id,
                    outcome="success" if number % 3 else "denied",
                    details={
                        "number": number,
                        "ratio": number / 7,
                        "tags": ["a", "b"],
                        "nested": {"k": None},
                    },
                )
            )
    return workspace_chain(workspace_id), events


def set_seq(chain: str, old: int, new: int) -> None:
    assert sql("UPDATE audit_auditevent SET seq = %s WHERE chain = %s AND seq = %s", (new, chain, old)) == 1


def swap(chain: str, first: int, second: int) -> None:
    parking = 10**12
    set_seq(chain, first, parking)
    set_seq(chain, second, first)
    set_seq(chain, parking, second)


def set_sealed(chain: str, seq: int, column: str, value: Any) -> None:
    """Write a chosen value into one sealed column of an event, sealed for exactly that row and column.

    The strongest database attacker short of the audit MAC key: one who can also seal (holds the
    vault's keys), so the forged value opens cleanly and only the MAC can catch it.
    """
    event_id, workspace_id = AuditEvent.objects.values_list("id", "workspace_id").get(chain=chain, seq=seq)
    data = json.dumps(value).encode() if column == "details" else str(value).encode()
    sealed = seal(data, scope=Scope(workspace_id, "audit_auditevent", str(event_id), column))
    assert AuditEvent.objects.filter(id=event_id).update(**{column: StoredCiphertext(sealed)}) == 1
