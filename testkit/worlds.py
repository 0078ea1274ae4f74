"""Data built once per test module and shared by its tests, none of which can change it for the next.

Tests whose writes are rolled back with them need not build the same rows again for every test. A
module builds them once, in a transaction rolled back when the module is done, and hands each test
the same objects read again from the database, so what one test changed in memory (a refreshed row,
a cached relation) is gone for the next:

    @pytest.fixture(scope="module")
    def world_once(django_db_setup, django_db_blocker):
        yield from built_once(build_world, django_db_blocker)

    @pytest.fixture
    def world(world_once, db):
        return reread(world_once)

The tests' own transactions nest inside it as savepoints, so such a module must not commit for real
(`transactional_db`, `live_server`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def built_once(build: Callable[[], T], django_db_blocker: Any) -> Iterator[T]:
    """What `build` returns, for a module-scoped fixture to yield: rolled back when the module is done."""
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        built = build()
        yield built
        transaction.set_rollback(True)


def reread(built: T) -> T:
    """`built` for one more test: each model instance in it read again from the database, and each
    container (a dataclass, a dict, a list) a new one, so a test that changes either leaves no trace."""
    from django.db import models

    found: Any = built
    if isinstance(found, models.Model):
        found.refresh_from_db()
        return built
    if dataclasses.is_dataclass(found) and not isinstance(found, type):
        changes = {
            item.name: reread(getattr(found, item.name)) for item in dataclasses.fields(found) if item.init
        }
        return dataclasses.replace(found, **changes)  # type: ignore[return-value]
    if isinstance(found, dict):
        return type(found)((key, reread(value)) for key, value in found.items())  # type: ignore[return-value]
    if isinstance(found, list | tuple):
        return type(found)(reread(value) for value in found)  # type: ignore[return-value]
    return built
