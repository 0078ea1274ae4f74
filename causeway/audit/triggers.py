"""Database triggers that refuse UPDATE, DELETE and TRUNCATE on audit events and checkpoints."""

from __future__ import annotations

from django.db import connection

TABLES = ("audit_auditevent", "audit_auditcheckpoint")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION causeway_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only: % on % refused', TG_OP, TG_TABLE_NAME;
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


def _sqlite_statements(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'audit records are append-only: UPDATE refused'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'audit records are append-only: DELETE refused'); END",
    ]


def install_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [_PG_FUNCTION] + [s for table in TABLES for s in _pg_statements(table)]
    if vendor == "sqlite":
        return [s for table in TABLES for s in _sqlite_statements(table)]
    raise RuntimeError(f"no append-only triggers for the {vendor} database")


def drop_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}"
            for table in TABLES
            for name in ("append_only", "no_truncate")
        ]
    return [
        f"DROP TRIGGER IF EXISTS {table}_{name}" for table in TABLES for name in ("no_update", "no_delete")
    ]


def enable() -> None:
    with connection.cursor() as cursor:
        for statement in install_sql(connection.vendor):
            cursor.execute(statement)
