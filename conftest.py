from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from testkit.support import client, commits_without_waiting_for_the_disk  # noqa: F401

# Every property test draws the same examples on every run and in every test process, so a failure
# seen once is seen again, and no example is timed: on a loaded machine an example's first call
# (compiling a pattern, opening a connection) can take longer than hypothesis' default deadline.
# A test's own `@settings` still picks its number of examples.
settings.register_profile("causeway", deadline=None, derandomize=True, database=None)
settings.load_profile("causeway")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's test database, whose commits do not wait for the disk (PostgreSQL)."""
    with django_db_blocker.unblock():
        commits_without_waiting_for_the_disk()
    yield
