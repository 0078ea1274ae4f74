"""Vault test fixtures: a clean key cache and mask registry per test, a sample table, an audit sink."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from causeway.vault import keysets, rootkey
from causeway.vault.events import VaultEvent, vault_event
from causeway.vault.masking import registry
from causeway.vault.tests.sample_models import SampleRecord


@pytest.fixture(autouse=True)
def _fresh_vault_state() -> Iterator[None]:
    keysets.forget_cached_keysets()
    rootkey.forget_cached_keys()
    registry.clear()
    yield
    keysets.forget_cached_keysets()
    rootkey.forget_cached_keys()
    registry.clear()


@pytest.fixture(scope="session", autouse=True)
def _sample_table(django_db_setup: Any, django_db_blocker: Any) -> None:
    """The sample model is registered as soon as the tests are collected, so every vault test (the
    rotation walk above all) finds its table."""
    from django.db import connection

    with django_db_blocker.unblock():
        with connection.schema_editor() as editor:
            editor.create_model(SampleRecord)


class EventSink:
    """Records vault events the way the audit receiver will: inside the transaction of the change."""

    def __init__(self) -> None:
        self.events: list[VaultEvent] = []

    def __call__(self, event: VaultEvent) -> None:
        self.events.append(event)

    def receiver(self, sender: Any, event: VaultEvent, **kwargs: Any) -> None:
        self.events.append(event)

    @property
    def actions(self) -> list[str]:
        return [event.action for event in self.events]


@pytest.fixture
def sink() -> EventSink:
    return EventSink()


@pytest.fixture
def connected_sink(sink: EventSink) -> Iterator[EventSink]:
    """An EventSink connected to the vault_event signal, as the audit app's receiver will be."""
    vault_event.connect(sink.receiver, dispatch_uid="vault-test-sink")
    yield sink
    vault_event.disconnect(dispatch_uid="vault-test-sink")


@pytest.fixture
def no_audit_receiver() -> Iterator[None]:
    """Every receiver of vault events disconnected, as if nothing recorded them."""
    saved = list(vault_event.receivers)
    vault_event.receivers = []
    vault_event.sender_receivers_cache.clear()
    yield
    vault_event.receivers = saved
    vault_event.sender_receivers_cache.clear()
