"""The access world (`access_personas.build_world`) for the rule tests: built once per module, and
handed to each test read again from the database (`testkit.worlds`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from causeway.tests.access_personas import World, build_world
from testkit.worlds import built_once, reread


@pytest.fixture(scope="module")
def world_once(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    yield from built_once(build_world, django_db_blocker)


@pytest.fixture
def world(world_once: World, db: None) -> World:
    """The world as it was built: each test's changes are rolled back with it."""
    return reread(world_once)
