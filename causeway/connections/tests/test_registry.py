"""Connectors are found through the `causeway.connectors` entry point group, and checked on the way in."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest
from pydantic import BaseModel

from causeway.connections import registry
from causeway.connections.connectors import http
from causeway.connections.sdk import NO_AUTH, Action, Connector, Scope


def test_the_http_connector_is_found_through_its_entry_point() -> None:
    found = registry.connectors()
    assert found["http"] is http.connector
    assert registry.problems() == {}


def test_an_unknown_connector_is_named() -> None:
    with pytest.raises(registry.UnknownConnector, match="there is no connector 'nope'"):
        registry.get("nope")


def _bad(**changes: Any) -> Connector:
    fields: dict[str, Any] = {
        "key": "bad",
        "name": "Bad",
        "description": "",
        "icon": "",
        "auth_methods": (NO_AUTH,),
        "scopes": (Scope("read", "Read things."),),
        "actions": (
            Action(
                "get", "Get", "", BaseModel, BaseModel, lambda call, given: BaseModel(), frozenset({"read"})
            ),
        ),
        "test": lambda call: "ok",
    }
    fields.update(changes)
    return Connector(**fields)


def test_a_connector_whose_action_needs_an_undeclared_scope_is_refused() -> None:
    action = Action(
        "get", "Get", "", BaseModel, BaseModel, lambda call, given: BaseModel(), frozenset({"admin"})
    )
    assert _bad(actions=(action,)).problems() == ["action 'get' needs undeclared scopes admin"]
    assert _bad(key="Bad Key").problems()[0].startswith("key 'Bad Key'")
    assert _bad().problems() == []


def test_a_broken_entry_point_is_left_out_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [
        EntryPoint("http", "causeway.connections.connectors.http:connector", registry.GROUP),
        EntryPoint("ghost", "causeway.connections.connectors.nowhere:connector", registry.GROUP),
        EntryPoint("wrong", "causeway.connections.connectors.http:Settings", registry.GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: [e for e in entries if e.group == group])
    monkeypatch.setattr(registry, "_loaded", None)
    try:
        assert list(registry.connectors()) == ["http"]
        reasons = registry.problems()
        assert reasons["ghost"].startswith("cannot be loaded: ModuleNotFoundError")
        assert reasons["wrong"].endswith("is not a Connector")
    finally:
        monkeypatch.setattr(registry, "_loaded", None)
