"""Saving against the database's unique constraints: a clash becomes a refusal that names the field.

The database is the judge of uniqueness (a read before the write cannot see another request's write
that commits in between), so a service saves and lets the constraint answer. `conflict_named` runs the
write in a savepoint, finds which unique constraint refused it — by the constraint's name or its
columns, as SQLite and PostgreSQL each report them — and, when that constraint covers the field the
person gave, raises a `ValidationError` on that field with the code `conflict` (the API answers 409).
Any other integrity error (a foreign key, a check, another unique constraint) is not the person's
doing and is raised as it was.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

CONFLICT = "conflict"

_SQLITE_COLUMNS = re.compile(r"UNIQUE constraint failed: (?P<columns>[^']+)$")
_SQLITE_INDEX = re.compile(r"UNIQUE constraint failed: index '(?P<name>[^']+)'")
_POSTGRES_KEY = re.compile(r"Key \((?P<columns>[^)]*)\)=")
_POSTGRES_UNIQUE_VIOLATION = "23505"


def conflict(field: str, message: str) -> ValidationError:
    """The refusal of a value because of what is stored: `field` is taken."""
    return ValidationError({field: ValidationError(message, code=CONFLICT)})


def is_conflict(exc: ValidationError) -> bool:
    """A refusal because of what is stored (a name already taken, a pending invitation): the request
    was well formed, so 409. Services mark it with the code `conflict`, or raise it from the database's
    own unique constraint."""
    if isinstance(exc.__context__, IntegrityError):
        return True
    if hasattr(exc, "error_dict"):
        leaves = [leaf for errors in exc.error_dict.values() for leaf in errors]
    else:
        leaves = list(exc.error_list)
    return bool(leaves) and all(error.code == CONFLICT for error in leaves)


def clashing_fields(model: type[models.Model], error: IntegrityError) -> frozenset[str] | None:
    """The model fields of the unique constraint that refused a write, or None when the error is not
    a unique violation or names no constraint of this model."""
    cause = error.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is not None:
        if sqlstate != _POSTGRES_UNIQUE_VIOLATION:
            return None
        diag = getattr(cause, "diag", None)
        by_name = _constraint_fields(model, getattr(diag, "constraint_name", None))
        if by_name is not None:
            return by_name
        key = _POSTGRES_KEY.search(getattr(diag, "message_detail", None) or "")
        return _column_fields(model, key["columns"].split(", ")) if key else None
    text = str(error)
    index = _SQLITE_INDEX.search(text)
    if index is not None:
        return _constraint_fields(model, index["name"])
    listed = _SQLITE_COLUMNS.search(text)
    if listed is None:
        return None
    return _column_fields(model, [entry.strip().rpartition(".")[2] for entry in listed["columns"].split(",")])


def _constraint_fields(model: type[models.Model], name: str | None) -> frozenset[str] | None:
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and constraint.name == name and constraint.fields:
            return frozenset(constraint.fields)
    return None


def _column_fields(model: type[models.Model], columns: list[str]) -> frozenset[str] | None:
    by_column = {field.column: field.name for field in model._meta.concrete_fields}
    names = [by_column.get(column.strip().strip('"')) for column in columns]
    if not names or None in names:
        return None
    return frozenset(name for name in names if name is not None)


@contextmanager
def conflict_named(
    model: type[models.Model], field: str, message: str, *, on: Collection[str] = ()
) -> Iterator[None]:
    """Run the block in a savepoint; a unique constraint of `model` over `field` (or, when the field
    people see is not the model's, over any of `on`) that refuses it becomes `conflict(field, message)`."""
    watched = {field, *on}
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        clash = clashing_fields(model, exc)
        if clash is None or not clash & watched:
            raise
        raise conflict(field, message) from exc


def save_or_conflict(
    instance: models.Model, *, field: str, message: str, on: Collection[str] = (), **save: Any
) -> None:
    """`instance.save(**save)`, refused with `conflict(field, message)` if `field` is taken."""
    with conflict_named(type(instance), field, message, on=on):
        instance.save(**save)
