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


def reread(built: Any) -> Any:
    """Every model instance in `built` (a dataclass, a dict, a list) read again from the database."""
    from django.db import models

    if isinstance(built, models.Model):
        built.refresh_from_db()
    elif dataclasses.is_dataclass(built) and not isinstance(built, type):
        for item in dataclasses.fields(built):
            reread(getattr(built, item.name))
    elif isinstance(built, dict):
        for value in built.values():
            reread(value)
    elif isinstance(built, list | tuple):
        for value in built:
            reread(value)
    return built
