"""Rule 13 in every process: the mask registry is fed from the secret store, not only by what it set."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from causeway.vault.masking import feed_from_secrets, mask, mask_text, registry
from causeway.vault.models import Secret
from causeway.vault.secrets import secret_set

pytestmark = pytest.mark.django_db


def stored(name: str, value: str, workspace: uuid.UUID | None = None) -> Secret:
    """A secret written by another process: in the store, never registered here."""
    secret = Secret(workspace_id=workspace or uuid.uuid4(), name=name, value=value)
    secret.save(force_insert=True)
    return secret


def test_the_first_feed_registers_every_stored_secret_then_only_changes(sink) -> None:
    stored("ONE", "value-one-1111")
    stored("TWO", "value-two-2222")
    assert mask("value-one-1111") == "value-one-1111"
    assert feed_from_secrets(max_age=0) == 2
    assert mask("value-one-1111 value-two-2222") == "[masked:ONE] [masked:TWO]"
    assert feed_from_secrets(max_age=0) == 0  # nothing changed: nothing opened again

    three = stored("THREE", "value-three-3333")
    three.value = "value-three-replaced"
    three.updated_at = timezone.now() + timedelta(seconds=1)
    three.save()
    assert feed_from_secrets(max_age=0) == 1
    assert mask("value-three-replaced") == "[masked:THREE]"


def test_a_recent_feed_is_not_repeated_within_max_age() -> None:
    feed_from_secrets(max_age=0)
    stored("LATE", "value-late-4444")
    assert feed_from_secrets(max_age=3600) == 0
    assert mask("value-late-4444") == "value-late-4444"
    assert feed_from_secrets(max_age=0) == 1
    assert mask("value-late-4444") == "[masked:LATE]"


def test_clearing_the_registry_makes_the_next_feed_register_everything_again(sink) -> None:
    secret_set(actor_id=None, workspace_id=uuid.uuid4(), name="SET", value="value-set-5555", on_change=sink)
    feed_from_secrets(max_age=0)
    registry.clear()
    assert feed_from_secrets(max_age=3600) == 1
    assert mask("value-set-5555") == "[masked:SET]"


def test_a_row_committed_late_with_an_older_time_is_still_found() -> None:
    feed_from_secrets(max_age=0)
    late = stored("SLOW_COMMIT", "value-slow-6666")
    # Its time was taken before the previous feed began, as in a transaction still open back then.
    Secret.objects.filter(pk=late.pk).update(updated_at=timezone.now() - timedelta(seconds=30))
    assert feed_from_secrets(max_age=0) == 1
    assert mask("value-slow-6666") == "[masked:SLOW_COMMIT]"


def test_a_value_that_does_not_open_is_skipped_and_the_rest_registered(caplog) -> None:
    good = stored("GOOD", "value-good-7777")
    moved = stored("MOVED", "value-moved-8888")
    # A ciphertext copied onto another row does not open there (it is bound to its own row).
    ciphertext = Secret.objects.filter(pk=good.pk).values_list("value", flat=True).get()
    Secret.objects.filter(pk=moved.pk).update(value=ciphertext)
    with caplog.at_level(logging.WARNING, logger="causeway.vault.masking"):
        assert feed_from_secrets(max_age=0) == 1
    assert mask("value-good-7777") == "[masked:GOOD]"
    assert f"secret {moved.pk} did not open" in caplog.text
    assert "value-moved-8888" not in caplog.text


def test_a_store_that_cannot_be_read_leaves_the_registry_as_it_was(monkeypatch, caplog) -> None:
    registry.register("KEPT", "value-kept-9999")
    monkeypatch.setattr(Secret._meta, "db_table", "vault_secret_not_there")
    with caplog.at_level(logging.WARNING, logger="causeway.vault.masking"):
        assert feed_from_secrets(max_age=0) == 0
    assert "could not read the secrets to mask" in caplog.text
    assert mask("value-kept-9999") == "[masked:KEPT]"


def test_a_broken_transaction_is_left_alone() -> None:
    stored("WAITING", "value-waiting-0000")
    with transaction.atomic():
        transaction.set_rollback(True)
        assert feed_from_secrets(max_age=0) == 0
    assert feed_from_secrets(max_age=0) == 1


def test_every_request_feeds_the_registry(client) -> None:
    stored("ON_REQUEST", "value-request-1234")
    assert client.get("/health").status_code == 200
    assert mask("value-request-1234") == "[masked:ON_REQUEST]"


def test_mask_text_feeds_first_unless_told_not_to() -> None:
    stored("FRESH", "value-fresh-4321")
    assert mask_text("value-fresh-4321", fresh=False) == "value-fresh-4321"
    assert mask_text("value-fresh-4321") == "[masked:FRESH]"
