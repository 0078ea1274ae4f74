"""Database triggers that keep the audit tables append-only for every role that cannot drop them.

Events and checkpoints refuse UPDATE, DELETE and (PostgreSQL) TRUNCATE. A chain's head row
may only move forward: it cannot be deleted, renamed or set back. A database superuser can
still switch these off; the MAC chain and the checkpoint file are what catch that.
"""

from __future__ import annotations

from django.db import connection

EVENT_TABLE = "audit_auditevent"
TABLES = (EVENT_TABLE, "audit_auditcheckpoint")
HEAD_TABLE = "audit_auditchainhead"

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION causeway_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""

_PG_HEAD_FUNCTION = """
CREATE OR REPLACE FUNCTION causeway_audit_head_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.chain <> OLD.chain OR NEW.seq < OLD.seq THEN
        RAISE EXCEPTION 'audit chain heads only move forward: % on % refused', TG_OP, TG_TABLE_NAME;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def _pg_statements(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION causeway_audit_append_only()",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION causeway_audit_append_only()",
    ]


def _pg_head_statements() -> list[str]:
    table = HEAD_TABLE
    return [
        _PG_HEAD_FUNCTION,
        f"DROP TRIGGER IF EXISTS {table}_forward_only ON {table}",
        f"CREATE TRIGGER {table}_forward_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION causeway_audit_head_forward_only()",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION causeway_audit_append_only()",
    ]


def _sqlite_statements(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'audit records are append-only: UPDATE refused'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'audit records are append-only: DELETE refused'); END",
    ]


def _sqlite_head_statements() -> list[str]:
    table = HEAD_TABLE
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_forward_only BEFORE UPDATE ON {table} "
        "WHEN NEW.seq < OLD.seq OR NEW.chain <> OLD.chain "
        "BEGIN SELECT RAISE(ABORT, 'audit chain heads only move forward: UPDATE refused'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'audit chain heads only move forward: DELETE refused'); END",
    ]


def head_install_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return _pg_head_statements()
    if vendor == "sqlite":
        return _sqlite_head_statements()
    raise RuntimeError(f"no append-only triggers for the {vendor} database")


def table_install_sql(vendor: str) -> list[str]:
    """The event and checkpoint triggers alone (migration 0002)."""
    if vendor == "postgresql":
        return [_PG_FUNCTION, *(s for table in TABLES for s in _pg_statements(table))]
    if vendor == "sqlite":
        return [s for table in TABLES for s in _sqlite_statements(table)]
    raise RuntimeError(f"no append-only triggers for the {vendor} database")


def install_sql(vendor: str) -> list[str]:
    """Every statement that installs the triggers; running it again changes nothing."""
    return table_install_sql(vendor) + head_install_sql(vendor)


def _drop(vendor: str, pairs: list[tuple[str, str]]) -> list[str]:
    if vendor == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {table}_{kind} ON {table}" for table, kind in pairs]
    return [f"DROP TRIGGER IF EXISTS {table}_{kind}" for table, kind in pairs]


def head_drop_sql(vendor: str) -> list[str]:
    kinds = ("forward_only", "no_truncate") if vendor == "postgresql" else ("forward_only", "no_delete")
    return _drop(vendor, [(HEAD_TABLE, kind) for kind in kinds])


def table_drop_sql(vendor: str) -> list[str]:
    kinds = ("append_only", "no_truncate") if vendor == "postgresql" else ("no_update", "no_delete")
    return _drop(vendor, [(table, kind) for table in TABLES for kind in kinds])


def event_table_drop_sql(vendor: str) -> list[str]:
    """The events table's triggers alone: what the migration that seals existing events lifts."""
    kinds = ("append_only", "no_truncate") if vendor == "postgresql" else ("no_update", "no_delete")
    return _drop(vendor, [(EVENT_TABLE, kind) for kind in kinds])


def drop_sql(vendor: str) -> list[str]:
    """Statements that remove every trigger (what only a database owner or superuser can do)."""
    return table_drop_sql(vendor) + head_drop_sql(vendor)


def enable() -> None:
    with connection.cursor() as cursor:
        for statement in install_sql(connection.vendor):
            cursor.execute(statement)
