"""A throwaway database on this machine's real PostgreSQL, with its own role and password, for the
PostgreSQL connector's tests: made for one test module and dropped after it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

# The server the tests use: the one CI and `make test` start on this machine.
ADMIN_URL = os.environ.get("CAUSEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    name: str
    user: str
    password: str

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "database": self.name, "tls": "disable", **extra}

    def credentials(self) -> dict[str, str]:
        return {"username": self.user, "password": self.password}

    @contextmanager
    def owner(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection as the database's owner, outside Causeway, to set up and inspect tables."""
        with psycopg.connect(
            host=self.host, port=self.port, dbname=self.name, user="postgres", autocommit=True
        ) as connection:
            yield connection

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        with self.owner() as connection:
            return connection.execute(query).fetchall()  # type: ignore[arg-type]


@contextmanager
def throwaway_database(password: str = "") -> Iterator[Database]:
    """A new database and a role owning it, with a password; both dropped when the block ends."""
    suffix = secrets.token_hex(5)
    name, user = f"causeway_conn_{suffix}", f"causeway_conn_{suffix}"
    password = password or secrets.token_urlsafe(16)
    info = psycopg.conninfo.conninfo_to_dict(ADMIN_URL)
    host, port = str(info.get("host", "127.0.0.1")), int(info.get("port", 5432))
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(user), password))
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(user))
        )
    try:
        yield Database(host=host, port=port, name=name, user=user, password=password)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))
