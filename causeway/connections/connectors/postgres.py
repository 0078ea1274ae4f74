"""PostgreSQL: parameterised queries, inserting and upserting rows, and a "new rows" polling trigger.

SQL is never built from data. A query's text is taken as the recipe wrote it (`Action.literal`: it is
not a template, so no value from a trigger or an earlier step is spliced into it) and its values are
sent as parameters; the table and column names an insert or upsert is given are quoted as identifiers
by psycopg's `sql` module. `query` runs in a read-only transaction, so the `read` scope cannot change
data; `execute`, `insert` and `upsert` need `write`.

The server's host goes through the workspace's outbound rules like any HTTP destination (rule 20): it
is resolved once, every address checked, and the connection opened to the checked address
(`hostaddr`), while TLS still verifies the certificate against the host's name.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from causeway.connections.sdk import (
    USER_PASSWORD,
    Action,
    ActionFailed,
    ActionInput,
    ActionOutput,
    Call,
    Connector,
    Cursor,
    Found,
    Polled,
    Scope,
    Trigger,
    host_setting,
)

MAX_ROWS = 10_000
DEFAULT_ROWS = 1_000
MAX_WRITE_ROWS = 1_000
MAX_PARAMETERS = 10_000
# SQLSTATE classes a later try may get past: connection failures, serialization failures and deadlocks,
# insufficient resources, operator intervention (a server shutting down).
TRANSIENT_STATES = ("08", "40", "53", "57")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(title="Host", description="the server's name or address, such as db.example.com")
    port: int = Field(default=5432, ge=1, le=65535, title="Port")
    database: str = Field(title="Database")
    tls: Literal["verify-full", "require", "disable"] = Field(
        default="verify-full",
        title="TLS",
        description="verify-full: encrypted, and the server's certificate checked against its name; "
        "require: encrypted, certificate not checked; disable: not encrypted",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return host_setting(value)

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        text = value.strip()
        if not text or len(text) > 63 or any(c in text for c in "\x00 ='\\"):
            raise ValueError("a database name of at most 63 characters, without spaces, quotes or =")
        return text


# Values.


def to_json(value: Any) -> JsonValue:
    """A value PostgreSQL gave, as JSON: dates and times in ISO 8601, exact numbers as text, bytes as
    base64."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return str(value)


def to_parameter(value: JsonValue) -> Any:
    """A JSON value as a query parameter: an object goes as jsonb, a list as an array."""
    if isinstance(value, dict):
        return Jsonb(value)
    return value


def _table(name: str) -> sql.Identifier:
    parts = name.split(".")
    if len(parts) > 2 or not all(NAME.match(p) for p in parts):
        raise ValueError("a table name, or schema.table: letters, digits, _ and $, starting with a letter")
    return sql.Identifier(*parts)


def _column(name: str) -> str:
    if not NAME.match(name):
        raise ValueError(f"{name!r} is not a column name (letters, digits, _ and $, starting with a letter)")
    return name


def _checked_table(name: str) -> str:
    _table(name)
    return name


TableName = Annotated[str, AfterValidator(_checked_table)]
ColumnName = Annotated[str, AfterValidator(_column)]


# The connection.


def _failure(exc: psycopg.Error) -> ActionFailed:
    state = exc.sqlstate or ""
    text = str(exc).strip()
    message = exc.diag.message_primary or (text.splitlines()[0] if text else type(exc).__name__)
    return ActionFailed(
        f"PostgreSQL refused: {message}" + (f" (SQLSTATE {state})" if state else ""),
        transient=isinstance(exc, psycopg.OperationalError) or state[:2] in TRANSIENT_STATES,
    )


@contextmanager
def connect(call: Call, *, read_only: bool = False) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the server for one action, closed after it; one transaction, committed when the
    block ends without error."""
    settings = call.settings
    assert isinstance(settings, Settings)
    address = call.address(settings.host, settings.port)
    seconds = max(1, int(call.timeout))
    options = f"-c statement_timeout={seconds * 1000} -c idle_in_transaction_session_timeout={seconds * 1000}"
    parameters: dict[str, Any] = {
        "host": settings.host,
        "hostaddr": address,
        "port": settings.port,
        "dbname": settings.database,
        "user": call.credentials.get("username", ""),
        "password": call.credentials.get("password", ""),
        "sslmode": settings.tls,
        "connect_timeout": max(2, seconds),
        "application_name": "Causeway",
        "options": options,
    }
    if settings.tls == "verify-full":
        parameters["sslrootcert"] = "system"
    try:
        connection = psycopg.connect(**parameters)
    except psycopg.Error as exc:
        raise _failure(exc) from None
    try:
        connection.read_only = read_only
        with connection.transaction():
            yield connection
    except psycopg.Error as exc:
        raise _failure(exc) from None
    finally:
        connection.close()


def _rows(cursor: psycopg.Cursor[Any], limit: int) -> tuple[list[str], list[dict[str, JsonValue]], bool]:
    if cursor.description is None:
        return [], [], False
    columns = [c.name for c in cursor.description]
    fetched = cursor.fetchmany(limit + 1)
    more = len(fetched) > limit
    rows = [dict(zip(columns, (to_json(v) for v in row), strict=True)) for row in fetched[:limit]]
    return columns, rows, more


# Actions.


class QueryInput(ActionInput):
    sql: str = Field(
        title="SQL",
        description="taken as written, never a template: put values in parameters as %(name)s or %s",
        min_length=1,
        max_length=100_000,
    )
    parameters: dict[str, JsonValue] | list[JsonValue] = Field(
        default_factory=dict, title="Parameters", description="the values, by name or in order"
    )
    max_rows: int = Field(default=DEFAULT_ROWS, ge=1, le=MAX_ROWS, title="Most rows returned")

    @field_validator("parameters")
    @classmethod
    def _few(cls, value: Any) -> Any:
        if len(value) > MAX_PARAMETERS:
            raise ValueError(f"at most {MAX_PARAMETERS} parameters")
        return value


class QueryResult(ActionOutput):
    columns: list[str]
    rows: list[dict[str, JsonValue]]
    row_count: int
    truncated: bool = False


def _query(call: Call, given: QueryInput, *, read_only: bool) -> QueryResult:
    parameters: Any = (
        {k: to_parameter(v) for k, v in given.parameters.items()}
        if isinstance(given.parameters, dict)
        else [to_parameter(v) for v in given.parameters]
    )
    # The text came from the recipe as written (a literal field); psycopg sends the values apart from it.
    statement = sql.SQL(given.sql)
    with connect(call, read_only=read_only) as connection, connection.cursor() as cursor:
        try:
            cursor.execute(statement, parameters or None)
        except (TypeError, IndexError, KeyError) as exc:
            raise ActionFailed(f"the parameters do not fit the SQL's placeholders: {exc}") from None
        columns, rows, more = _rows(cursor, given.max_rows)
        return QueryResult(columns=columns, rows=rows, row_count=max(cursor.rowcount, 0), truncated=more)


def run_query(call: Call, given: QueryInput) -> QueryResult:
    return _query(call, given, read_only=True)


def run_execute(call: Call, given: QueryInput) -> QueryResult:
    return _query(call, given, read_only=False)


class RowsInput(ActionInput):
    table: TableName = Field(title="Table", description="a table name, or schema.table")
    rows: list[dict[str, JsonValue]] = Field(
        title="Rows",
        description="one object per row: column to value",
        min_length=1,
        max_length=MAX_WRITE_ROWS,
    )
    returning: list[ColumnName] = Field(
        default_factory=list, title="Columns to return", description="such as the new rows' ids"
    )

    @model_validator(mode="after")
    def _same_columns(self) -> RowsInput:
        columns = list(self.rows[0])
        if not columns:
            raise ValueError("rows: each row needs at least one column")
        for name in columns:
            _column(name)
        for number, row in enumerate(self.rows):
            if set(row) != set(columns):
                raise ValueError(f"rows[{number}]: every row has the same columns as the first")
        return self

    @property
    def columns(self) -> list[str]:
        return list(self.rows[0])


class UpsertInput(RowsInput):
    key: list[str] = Field(
        title="Conflict key",
        description="the columns of a unique constraint: a row whose key exists is updated",
        min_length=1,
    )

    @model_validator(mode="after")
    def _key_in_rows(self) -> UpsertInput:
        missing = [_column(c) for c in self.key if c not in self.columns]
        if missing:
            raise ValueError(f"key: every key column is in the rows; missing {', '.join(missing)}")
        return self


class WriteResult(ActionOutput):
    row_count: int
    rows: list[dict[str, JsonValue]] = Field(default_factory=list)


def _write(call: Call, given: RowsInput, conflict: sql.Composable) -> WriteResult:
    columns = given.columns
    values = sql.SQL(", ").join(
        sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns))) for _ in given.rows
    )
    statement = sql.SQL("INSERT INTO {table} ({columns}) VALUES {values}{conflict}").format(
        table=_table(given.table),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=values,
        conflict=conflict,
    )
    if given.returning:
        statement += sql.SQL(" RETURNING {}").format(sql.SQL(", ").join(map(sql.Identifier, given.returning)))
    parameters = [to_parameter(row[c]) for row in given.rows for c in columns]
    with connect(call) as connection, connection.cursor() as cursor:
        cursor.execute(statement, parameters)
        _, rows, _ = _rows(cursor, MAX_WRITE_ROWS)
        return WriteResult(row_count=max(cursor.rowcount, 0), rows=rows)


def run_insert(call: Call, given: RowsInput) -> WriteResult:
    return _write(call, given, sql.SQL(""))


def run_upsert(call: Call, given: UpsertInput) -> WriteResult:
    updated = [c for c in given.columns if c not in given.key]
    target = sql.SQL(", ").join(map(sql.Identifier, given.key))
    if updated:
        conflict = sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(
            target,
            sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in updated),
        )
    else:
        conflict = sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(target)
    return _write(call, given, conflict)


# The "new rows" trigger: rows whose cursor column is past the last one seen.


class NewRowsInput(ActionInput):
    table: TableName = Field(title="Table", description="a table name, or schema.table")
    cursor: ColumnName = Field(
        title="Cursor column",
        description="a column that grows with every new row, such as an id or a created-at time",
    )
    key: ColumnName | None = Field(
        default=None,
        title="Key column",
        description="a column unique to each row if the cursor may repeat (a time); empty: the cursor",
    )
    columns: list[ColumnName] = Field(
        default_factory=list, title="Columns", description="empty: every column"
    )
    batch: int = Field(default=100, ge=1, le=MAX_ROWS, title="Rows per poll")
    since: JsonValue = Field(
        default=None,
        title="Start after",
        description="a cursor value: rows past it start jobs on the first poll; empty: only rows added "
        "after the recipe is started",
    )


def _select(given: NewRowsInput, condition: sql.Composable, *, limited: bool) -> sql.Composed:
    wanted = [*given.columns, given.cursor, *([given.key] if given.key else [])]
    chosen = sql.SQL(", ").join(map(sql.Identifier, dict.fromkeys(wanted))) if given.columns else sql.SQL("*")
    return sql.SQL("SELECT {chosen} FROM {table}{condition} ORDER BY {cursor}{limit}").format(
        chosen=chosen,
        table=_table(given.table),
        condition=condition,
        cursor=sql.Identifier(given.cursor),
        limit=sql.SQL(" LIMIT %s") if limited else sql.SQL(""),
    )


def poll_new_rows(call: Call, given: NewRowsInput, after: Cursor | None) -> Polled:
    """Rows whose cursor column is past the last one seen, oldest first.

    Once the cursor has moved to a row's value, the rows at that value are read again each time, since a
    poll stopped halfway through rows sharing one value (a time) moved the cursor to that value; their
    keys, already seen, start no second job. Rows sharing the batch's last value are all taken, so a batch
    never splits them.
    """
    column = sql.Identifier(given.cursor)
    with connect(call, read_only=True) as connection, connection.cursor() as cursor:
        if after is None and given.since is None:
            # The first poll starts from now: the newest value there is, or an empty table.
            cursor.execute(sql.SQL("SELECT max({}) FROM {}").format(column, _table(given.table)))
            row = cursor.fetchone()
            return Polled(items=[], cursor=Cursor(to_json(row[0]) if row else None))
        start = given.since if after is None else after.value
        equal = sql.SQL(" WHERE {} = %s").format(column)
        raw: list[Any] = []
        if start is None:
            cursor.execute(_select(given, sql.SQL(""), limited=True), [given.batch])
        else:
            if after is not None and after.inclusive:
                cursor.execute(_select(given, equal, limited=False), [start])
                raw = cursor.fetchall()
            cursor.execute(
                _select(given, sql.SQL(" WHERE {} > %s").format(column), limited=True), [start, given.batch]
            )
        names = [c.name for c in cursor.description or ()]
        newer = cursor.fetchall()
        if len(newer) == given.batch:
            last = newer[-1][names.index(given.cursor)]
            cursor.execute(_select(given, equal, limited=False), [last])
            newer = [row for row in newer if row[names.index(given.cursor)] != last] + cursor.fetchall()
        raw += newer
    found: list[Found] = []
    for row in raw:
        record = {name: to_json(value) for name, value in zip(names, row, strict=True)}
        identity = json.dumps(record[given.key or given.cursor], sort_keys=True)
        found.append(Found(key=identity, cursor=record[given.cursor], data=record))
    if not found:
        return Polled(items=[], cursor=after or Cursor(start))
    return Polled(items=found, cursor=Cursor(found[-1].cursor, inclusive=True))


def _test(call: Call) -> str:
    with connect(call, read_only=True) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_setting('server_version')")
        row = cursor.fetchone()
    assert row is not None
    return f"connected to PostgreSQL {row[1]} as {row[0]}"


READ = frozenset({"read"})
WRITE = frozenset({"write"})
SQL_TEXT = frozenset({"sql"})

ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" fill="none" '
    'stroke="currentColor" stroke-width="2"><ellipse cx="12" cy="5" rx="8" ry="3"/>'
    '<path d="M4 5v14c0 1.7 3.6 3 8 3s8-1.3 8-3V5M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3"/></svg>'
)

connector = Connector(
    key="postgres",
    name="PostgreSQL",
    description="Query a PostgreSQL database, insert and upsert rows, and start recipes on new rows.",
    icon=ICON,
    auth_methods=(USER_PASSWORD,),
    settings=Settings,
    scopes=(
        Scope("read", "Read data: run queries in a read-only transaction and watch tables for new rows."),
        Scope("write", "Change data: insert and upsert rows, and run statements that change the database."),
    ),
    actions=(
        Action(
            "query",
            "Run a query",
            "Run a read-only SQL query with parameters.",
            QueryInput,
            QueryResult,
            run_query,
            READ,
            literal=SQL_TEXT,
        ),
        Action(
            "execute",
            "Run a statement",
            "Run any SQL statement with parameters; it may change data.",
            QueryInput,
            QueryResult,
            run_execute,
            WRITE,
            True,
            literal=SQL_TEXT,
        ),
        Action(
            "insert",
            "Insert rows",
            "Insert rows into a table.",
            RowsInput,
            WriteResult,
            run_insert,
            WRITE,
            True,
        ),
        Action(
            "upsert",
            "Upsert rows",
            "Insert rows, updating those whose conflict key exists.",
            UpsertInput,
            WriteResult,
            run_upsert,
            WRITE,
            True,
        ),
    ),
    triggers=(
        Trigger(
            "new_rows",
            "New rows",
            "A job for each row whose cursor column is past the last one seen.",
            "poll",
            READ,
            NewRowsInput,
            poll_new_rows,
        ),
    ),
    test=_test,
)
