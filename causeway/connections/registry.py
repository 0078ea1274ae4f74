"""Which connectors this installation has: those declared in the `causeway.connectors` entry point group.

Each entry point names a module attribute holding a `Connector`. A declaration that cannot be loaded or
that is not valid is left out and its reason kept (`problems()`), so one broken package does not stop
the others; `causeway check` and the catalogue show the reasons.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from threading import Lock
from typing import Any

from causeway.connections.sdk import Connector

GROUP = "causeway.connectors"
logger = logging.getLogger(__name__)

_lock = Lock()
_loaded: dict[str, Connector] | None = None
_problems: dict[str, str] = {}


class UnknownConnector(LookupError):
    def __init__(self, key: str) -> None:
        super().__init__(f"there is no connector {key!r}")
        self.key = key


def _load() -> dict[str, Connector]:
    found: dict[str, Connector] = {}
    _problems.clear()
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            connector = entry.load()
        except Exception as exc:  # a broken package must not take the others down
            _problems[entry.name] = f"cannot be loaded: {type(exc).__name__}: {exc}"
            continue
        if not isinstance(connector, Connector):
            _problems[entry.name] = f"{entry.value} is not a Connector"
            continue
        wrong = connector.problems()
        if connector.key != entry.name:
            wrong.append(f"its entry point is named {entry.name!r} but its key is {connector.key!r}")
        if wrong:
            _problems[entry.name] = "; ".join(wrong)
            continue
        found[connector.key] = connector
    for name, reason in _problems.items():
        logger.warning("connector %s left out: %s", name, reason)
    return found


def connectors() -> dict[str, Connector]:
    """Every valid connector, by key (loaded once per process)."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = _load()
    return _loaded


def problems() -> dict[str, str]:
    connectors()
    return dict(_problems)


def get(key: str) -> Connector:
    found = connectors().get(key) if isinstance(key, str) else None
    if found is None:
        raise UnknownConnector(str(key)[:60])
    return found


def _custom(workspace_id: Any) -> dict[str, Connector]:
    from causeway.connections import declarative
    from causeway.connections.models import CustomConnector

    found: dict[str, Connector] = {}
    for row in CustomConnector.objects.filter(workspace_id=workspace_id).order_by("key"):
        try:
            found[row.key] = declarative.connector(declarative.load(row.document))
        except declarative.DocumentError as exc:
            logger.warning("custom connector %s left out: %s", row.key, exc)
    return found


def for_workspace(workspace_id: Any) -> dict[str, Connector]:
    """The installed connectors, then the workspace's declarative ones (whose keys never shadow them)."""
    return {**_custom(workspace_id), **connectors()}


def get_for(workspace_id: Any, key: str) -> Connector:
    """One connector as the workspace knows it: installed, or one of its declarative connectors."""
    installed = connectors().get(key) if isinstance(key, str) else None
    if installed is not None:
        return installed
    from causeway.connections import declarative
    from causeway.connections.models import CustomConnector

    row = CustomConnector.objects.filter(workspace_id=workspace_id, key=str(key)[:40]).first()
    if row is None:
        raise UnknownConnector(str(key)[:60])
    try:
        return declarative.connector(declarative.load(row.document))
    except declarative.DocumentError:
        raise UnknownConnector(str(key)[:60]) from None
