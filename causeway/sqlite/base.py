"""Django's SQLite backend, with one writer at a time per process, queued on a lock.

SQLite lets one connection write at a time. Left to itself, a connection that finds the write lock taken
sleeps in SQLite's busy handler (1, 2, 5 ... up to 100 ms) and tries again, so under load the lock sits
free while writers sleep, and the threads of one process (a web worker's request and job threads) spin
against each other. Here every write transaction of a process, and every write statement run outside
one, first takes one process-wide lock: a process's writers queue and are handed the lock as soon as it
is free, and only writers of other processes meet the busy handler. Reads never wait (WAL).
"""

from __future__ import annotations

import threading
from typing import Any

from django.db.backends.sqlite3 import base

_WRITER = threading.Lock()
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _is_write(query: str) -> bool:
    return query.lstrip()[:7].upper().startswith(_WRITES)


class _Cursor(base.SQLiteCursorWrapper):
    wrapper: DatabaseWrapper

    def execute(self, query: str, params: Any = None) -> Any:
        if self.wrapper.writes_alone(query):
            with _WRITER:
                return super().execute(query, params)
        return super().execute(query, params)

    def executemany(self, query: str, param_list: Any) -> Any:
        if self.wrapper.writes_alone(query):
            with _WRITER:
                return super().executemany(query, param_list)
        return super().executemany(query, param_list)


class DatabaseWrapper(base.DatabaseWrapper):
    holds_writer = False

    def writes_alone(self, query: str) -> bool:
        """A write statement outside a transaction: it takes the lock for itself."""
        return not self.holds_writer and self.get_autocommit() and _is_write(query)

    def create_cursor(self, name: Any = None) -> Any:
        cursor = self.connection.cursor(factory=_Cursor)
        cursor.wrapper = self
        return cursor

    def _start_transaction_under_autocommit(self) -> None:
        _WRITER.acquire()
        self.holds_writer = True
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # not in the stubs
        except BaseException:
            self._release_writer()
            raise

    def _release_writer(self) -> None:
        if self.holds_writer:
            self.holds_writer = False
            _WRITER.release()

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]  # not in the stubs
        finally:
            self._release_writer()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]  # not in the stubs
        finally:
            self._release_writer()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]  # not in the stubs
        finally:
            self._release_writer()
