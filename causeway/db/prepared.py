"""Statements of the hot paths, described with the ORM and compiled to SQL once per database connection.

Django compiles a queryset to SQL each time it runs it. On a path that runs the same few statements for
every call (a webhook accepted, a job claimed, renewed and finished) that compiling costs several times
what the database does with the statement. A prepared statement is written as any other queryset, its
values named by placeholders; the first time a connection runs it, it is compiled with a stand-in value
for each placeholder, and from then on only the values change. A select gives back the queryset's own
model instances, related ones included, made as the ORM makes them (so sealed fields bind to their rows
as for any query); an update gives the number of rows it changed.

Rows written whole (a job inserted, its step rows inserted and then rewritten) need no queryset: the SQL
of an insert, or of an update of some fields by primary key, follows from the model, and is written once
per connection (and number of rows). Each value goes through its field exactly as `Model.save` and
`bulk_create` send it (`pre_save`, then `get_db_prep_save`), so a sealed field seals as it does on a save
and its ciphertext is bound like any other parameter. Neither sends `pre_save` or `post_save` signals
(as `bulk_create` does not): models written this way have no receivers.

A statement must be the same SQL whatever its values: a value that changes the SQL itself (`None`,
which Django writes as `NULL`, or a list whose length makes the `IN`) is written into the description,
not passed as a placeholder. Every placeholder must reach the SQL as a parameter (one used twice fills
both): one that Django folded into the SQL text is refused when the statement is compiled.
"""

from __future__ import annotations

import itertools
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.query import get_related_populators
from django.db.models.sql.subqueries import UpdateQuery

M = TypeVar("M", bound=models.Model)

# Each statement's name on a connection. Not `id()`: a statement made and dropped (in a test) would leave
# its compiled SQL under a number the next one may be given.
_names = itertools.count()


def _name(kind: str) -> str:
    return f"_causeway_{kind}_{next(_names)}"


# What a placeholder holds: the Python type of the values it is given.
Kind = type[str] | type[int] | type[uuid.UUID] | type[datetime]


class NotPreparable(Exception):
    """The description does not compile to one SQL text with one parameter per placeholder."""


def _stand_in(kind: Kind) -> Any:
    # A value no real call passes, so it is found in the compiled parameters and nowhere else.
    if kind is str:
        return f"\x00prepared:{secrets.token_hex(16)}"
    if kind is int:
        # Within every integer column's range (a small integer's too): a value out of a column's range
        # is one Django answers without asking the database.
        return 1000 + secrets.randbelow(30000)
    if kind is uuid.UUID:
        return uuid.uuid4()
    if kind is datetime:
        return datetime(1903, 1, 1, 1, 1, 1, secrets.randbelow(10**6), tzinfo=UTC)
    raise NotPreparable(f"no placeholder for values of type {kind!r}")


# How a placeholder's value becomes the parameter the database is sent, as the ORM did it for the
# stand-in: each is tried on the stand-in until one gives the compiled parameter.
def _as_given(value: Any, connection: BaseDatabaseWrapper) -> Any:
    return value


def _as_hex(value: Any, connection: BaseDatabaseWrapper) -> Any:
    return value.hex


def _as_datetime(value: Any, connection: BaseDatabaseWrapper) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _as_text(value: Any, connection: BaseDatabaseWrapper) -> Any:
    return str(value)


_FORMS: dict[Any, tuple[Callable[[Any, BaseDatabaseWrapper], Any], ...]] = {
    str: (_as_given,),
    int: (_as_given,),
    uuid.UUID: (_as_given, _as_hex, _as_text),
    datetime: (_as_given, _as_datetime),
}


@dataclass(frozen=True)
class _Retyped:
    """A form whose result the backend wraps in a type of its own (psycopg's `Int4` for an integer
    column), written with that type as the ORM wrote the stand-in."""

    wrap: type
    form: Callable[[Any, BaseDatabaseWrapper], Any]

    def __call__(self, value: Any, connection: BaseDatabaseWrapper) -> Any:
        return self.wrap(self.form(value, connection))


@dataclass(frozen=True)
class _Rows:
    compiler: Any
    converters: Any
    model: type[models.Model]
    start: int
    end: int
    init_list: list[str]
    populators: list[Any]
    # The queryset's annotations: attribute name -> column, set on each instance as the ORM sets them.
    annotations: dict[str, int]

    def instances(self, rows: list[Any], using: str) -> list[Any]:
        converted = self.compiler.apply_converters(rows, self.converters) if self.converters else rows
        found = []
        for row in converted:
            instance = self.model.from_db(using, self.init_list, row[self.start : self.end])
            for populator in self.populators:
                populator.populate(row, instance)
            for name, column in self.annotations.items():
                setattr(instance, name, row[column])
            found.append(instance)
        return found


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    # Where each placeholder goes: (position in params, name, how its value is written).
    slots: tuple[tuple[int, str, Callable[[Any, BaseDatabaseWrapper], Any]], ...]
    # For a select: how rows become instances (the ORM's own parts, made once).
    rows: _Rows | None = None

    def bind(self, values: dict[str, Any], connection: BaseDatabaseWrapper) -> list[Any]:
        params = list(self.params)
        for position, name, form in self.slots:
            params[position] = form(values[name], connection)
        return params


class _Statement:
    def __init__(self, kinds: dict[str, Kind]) -> None:
        self.kinds = kinds
        self._key = _name("prepared")

    def _sql(self, connection: BaseDatabaseWrapper, stand_ins: dict[str, Any]) -> tuple[str, Any, Any]:
        """The SQL, its parameters and (for a select) its compiler, for these stand-in values."""
        raise NotImplementedError

    def _rows(self, compiler: Any, connection: BaseDatabaseWrapper) -> _Rows | None:
        return None

    def compiled(self, using: str) -> tuple[_Compiled, BaseDatabaseWrapper]:
        # Kept on the connection's wrapper: each thread has its own, and a compiled statement holds
        # the wrapper's converters.
        connection = connections[using]
        found: _Compiled | None = connection.__dict__.get(self._key)
        if found is None:
            found = self._compile(connection)
            connection.__dict__[self._key] = found
        return found, connection

    def _compile(self, connection: BaseDatabaseWrapper) -> _Compiled:
        # Compiled twice, with two sets of stand-ins: whatever differs between the two and is not a
        # placeholder's own parameter is a value the description computed from one (`n + 1`), which
        # the compiled SQL would keep as the stand-in's; refused rather than run wrong.
        first = self.stand_ins()
        second = self.stand_ins(avoid=first)
        sql, params, compiler = self._sql(connection, first)
        again_sql, again_params, _ = self._sql(connection, second)
        slots = self._locate(tuple(params), first, connection)
        if again_sql != sql or len(again_params) != len(params):
            raise NotPreparable("the SQL text changes with the placeholders' values")
        if slots != self._locate(tuple(again_params), second, connection):
            raise NotPreparable("the placeholders reach the SQL differently with other values")
        filled = {position for position, _, _ in slots}
        for position, (one, other) in enumerate(zip(params, again_params, strict=True)):
            if position not in filled and not _same(one, other):
                raise NotPreparable(
                    f"parameter {position + 1} is computed from a placeholder: write it as an "
                    "expression of the placeholder (F() + 1), or make it a placeholder of its own"
                )
        return _Compiled(sql=sql, params=tuple(params), slots=slots, rows=self._rows(compiler, connection))

    def _locate(
        self, params: tuple[Any, ...], stand_ins: dict[str, Any], connection: BaseDatabaseWrapper
    ) -> tuple[tuple[int, str, Callable[[Any, BaseDatabaseWrapper], Any]], ...]:
        slots: list[tuple[int, str, Callable[[Any, BaseDatabaseWrapper], Any]]] = []
        for name, stand_in in stand_ins.items():
            found = [
                (position, name, form)
                for position, param in enumerate(params)
                for form in _FORMS[self.kinds[name]]
                if _same(param, form(stand_in, connection))
            ]
            if not found:
                raise NotPreparable(f"placeholder {name!r} does not reach the SQL as a parameter")
            # One form per position: the first that matched, as the forms are ordered.
            seen: set[int] = set()
            for position, _, form in found:
                if position not in seen:
                    seen.add(position)
                    wrap = type(params[position])
                    if wrap is not type(form(stand_in, connection)):
                        form = _Retyped(wrap, form)
                    slots.append((position, name, form))
        return tuple(slots)

    def stand_ins(self, avoid: dict[str, Any] | None = None) -> dict[str, Any]:
        """A stand-in for each placeholder, no two alike (nor like any of `avoid`)."""
        taken = set((avoid or {}).values())
        found: dict[str, Any] = {}
        for name, kind in self.kinds.items():
            value = _stand_in(kind)
            while value in taken:
                value = _stand_in(kind)
            taken.add(value)
            found[name] = value
        return found

    def check(self, values: dict[str, Any]) -> None:
        if values.keys() != self.kinds.keys():
            raise TypeError(f"expected the placeholders {sorted(self.kinds)}, got {sorted(values)}")


def _same(param: Any, candidate: Any) -> bool:
    try:
        return isinstance(param, type(candidate)) and bool(param == candidate)
    except Exception:
        return False


class PreparedSelect(_Statement, Generic[M]):
    """A select described by `build(**placeholders) -> QuerySet`, compiled once per connection."""

    def __init__(self, build: Callable[..., models.QuerySet[M]], **kinds: Kind) -> None:
        super().__init__(kinds)
        self.build = build

    def _sql(self, connection: BaseDatabaseWrapper, stand_ins: dict[str, Any]) -> tuple[str, Any, Any]:
        compiler = self.build(**stand_ins).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        return sql, params, compiler

    def _rows(self, compiler: Any, connection: BaseDatabaseWrapper) -> _Rows:
        select, klass_info = compiler.select, compiler.klass_info
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        return _Rows(
            compiler=compiler,
            converters=compiler.get_converters([column[0] for column in select[0 : compiler.col_count]]),
            model=klass_info["model"],
            start=start,
            end=end,
            init_list=[column[0].target.attname for column in select[start:end]],
            # django-stubs describe a later Django's signature; 5.2 takes these three.
            populators=get_related_populators(klass_info, select, connection.alias),  # type: ignore[call-arg]
            annotations=dict(compiler.annotation_col_map or {}),
        )

    def all(self, using: str = DEFAULT_DB_ALIAS, **values: Any) -> list[M]:
        """Every row, as the queryset's model instances with their related ones."""
        self.check(values)
        compiled, connection = self.compiled(using)
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, compiled.bind(values, connection))
            rows = cursor.fetchall()
        assert compiled.rows is not None
        found: list[M] = compiled.rows.instances(rows, using)
        return found

    def first(self, using: str = DEFAULT_DB_ALIAS, **values: Any) -> M | None:
        """The first row, or None; the description should order or limit the rows it means."""
        rows = self.all(using, **values)
        return rows[0] if rows else None


class PreparedUpdate(_Statement):
    """An update described by `build(**placeholders) -> (QuerySet, {field: value})`, compiled once per
    connection; `run` answers how many rows it changed."""

    def __init__(
        self, build: Callable[..., tuple[models.QuerySet[Any], dict[str, Any]]], **kinds: Kind
    ) -> None:
        super().__init__(kinds)
        self.build = build

    def _sql(self, connection: BaseDatabaseWrapper, stand_ins: dict[str, Any]) -> tuple[str, Any, Any]:
        queryset, changes = self.build(**stand_ins)
        query = cast(UpdateQuery, queryset.query.chain(UpdateQuery))
        query.add_update_values(changes)
        if query.get_related_updates():
            raise NotPreparable("an update of several tables")
        compiler = query.get_compiler(connection=connection)
        compiler.pre_sql_setup()
        sql, params = compiler.as_sql()
        return sql, params, None

    def run(self, using: str = DEFAULT_DB_ALIAS, **values: Any) -> int:
        self.check(values)
        compiled, connection = self.compiled(using)
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, compiled.bind(values, connection))
            changed: int = cursor.rowcount
        return changed


def _written(field: Any, value: Any, connection: BaseDatabaseWrapper) -> Any:
    # An expression (F(), a function) would be compiled into the SQL by the ORM: never a parameter.
    if hasattr(value, "resolve_expression"):
        raise TypeError(f"{field.model._meta.db_table}.{field.column}: an expression is not a value")
    return field.get_db_prep_save(value, connection=connection)


def _plain(fields: Sequence[Any], connection: BaseDatabaseWrapper) -> None:
    """Refuse a field the ORM writes through SQL of its own rather than a plain `%s` (a geometry, binary
    data on a database that marks it)."""
    for field in fields:
        if not hasattr(field, "get_placeholder"):
            continue
        # django-stubs describe a later Django's signature; 5.2 takes the value alone.
        ops: Any = connection.ops
        if not isinstance(field, models.BinaryField) or ops.binary_placeholder_sql(b"") != "%s":
            raise NotPreparable(f"{field.column} is written through SQL of its own, not a plain parameter")


class PreparedInsert(Generic[M]):
    """Rows of one model inserted as `bulk_create` inserts them, with SQL written once per connection and
    number of rows. A primary key the database assigns (an auto-increment) is read back with RETURNING."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._key = _name("insert")

    def _statement(self, connection: BaseDatabaseWrapper, rows: int, auto: bool) -> tuple[str, list[Any]]:
        cache: dict[tuple[int, bool], tuple[str, list[Any]]] = connection.__dict__.setdefault(self._key, {})
        found = cache.get((rows, auto))
        if found is None:
            meta = self.model._meta
            ops: Any = connection.ops
            fields: list[Any] = [
                field
                for field in meta.local_concrete_fields
                if not field.generated and not (auto and field is meta.pk)
            ]
            _plain(fields, connection)
            columns = ", ".join(ops.quote_name(field.column) for field in fields)
            values = ops.bulk_insert_sql(fields, [["%s"] * len(fields)] * rows)
            sql = f"INSERT INTO {ops.quote_name(meta.db_table)} ({columns}) {values}"
            if auto:
                if not connection.features.can_return_rows_from_bulk_insert:
                    raise NotPreparable("the database cannot return the keys it assigns")
                returning, _ = ops.return_insert_columns([meta.pk])
                sql = f"{sql} {returning}"
            found = (sql, fields)
            cache[(rows, auto)] = found
        return found

    def run(self, objs: Sequence[M], using: str = DEFAULT_DB_ALIAS) -> None:
        """Insert the rows (in batches the database takes); each is saved after, as after `save()`."""
        if not objs:
            return
        connection = connections[using]
        pk = self.model._meta.pk
        assert pk is not None
        auto = bool(getattr(pk, "db_returning", False)) and objs[0].pk is None
        if any((obj.pk is None) != auto for obj in objs):
            raise ValueError("every row needs its primary key, or none has one and the database assigns it")
        for obj in objs:
            # A related row not saved yet is refused, as `save()` refuses it.
            cast(Any, obj)._prepare_related_fields_for_save(operation_name="save")
        _, fields = self._statement(connection, 1, auto)
        size = max(1, connection.ops.bulk_batch_size(fields, objs))
        with connection.cursor() as cursor:
            for start in range(0, len(objs), size):
                batch = objs[start : start + size]
                sql, fields = self._statement(connection, len(batch), auto)
                params = [
                    _written(field, field.pre_save(obj, True), connection)
                    for obj in batch
                    for field in fields
                ]
                cursor.execute(sql, params)
                if auto:
                    keys = cast(Any, connection.ops).fetch_returned_insert_rows(cursor)
                    for obj, row in zip(batch, keys, strict=True):
                        setattr(obj, pk.attname, row[0])
        for obj in objs:
            obj._state.adding = False
            obj._state.db = using


class PreparedSave(Generic[M]):
    """Some fields of one row written by its primary key, as `save(update_fields=...)` writes them, with
    SQL written once per connection. A row that is not there raises DatabaseError, as `save` does."""

    def __init__(self, model: type[M], fields: Sequence[str]) -> None:
        self.model = model
        self.fields: list[Any] = [model._meta.get_field(name) for name in fields]
        self._key = _name("save")

    def _sql(self, connection: BaseDatabaseWrapper) -> str:
        found: str | None = connection.__dict__.get(self._key)
        if found is None:
            _plain(self.fields, connection)
            meta = self.model._meta
            assert meta.pk is not None
            quote: Any = connection.ops.quote_name
            changes = ", ".join(f"{quote(field.column)} = %s" for field in self.fields)
            table, key = quote(meta.db_table), quote(meta.pk.column)
            # Names from the model, quoted by the database's own quoting; every value is a parameter.
            found = f"UPDATE {table} SET {changes} WHERE {key} = %s"  # noqa: S608  # nosec B608
            connection.__dict__[self._key] = found
        return found

    def run(self, obj: M, using: str = DEFAULT_DB_ALIAS) -> None:
        connection = connections[using]
        pk = self.model._meta.pk
        assert pk is not None
        params = [_written(field, field.pre_save(obj, False), connection) for field in self.fields]
        params.append(pk.get_db_prep_value(obj.pk, connection))
        with connection.cursor() as cursor:
            cursor.execute(self._sql(connection), params)
            changed = cursor.rowcount
        if changed != 1:
            raise DatabaseError("Save with update_fields did not affect any rows.")
