from collections.abc import Iterator
from typing import Any

import pytest

from causeway.testkit.support import client, commits_without_waiting_for_the_disk  # noqa: F401


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's test database, whose commits do not wait for the disk (PostgreSQL)."""
    with django_db_blocker.unblock():
        commits_without_waiting_for_the_disk()
    yield
