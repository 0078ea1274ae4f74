"""Vault events: what callers audit, and the signal the audit app listens to."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from causeway.vault.events import UnauditedError, VaultEvent, publish


def test_an_event_gives_the_audit_records_keyword_arguments():
    workspace = uuid.uuid4()
    event = VaultEvent("secret.used", ("secret", "1", "GH"), workspace, {"host": "api.github.com"}, "success")
    assert event.audit_fields() == {
        "action": "secret.used",
        "target": ("secret", "1", "GH"),
        "workspace_id": workspace,
        "outcome": "success",
        "details": {"host": "api.github.com"},
    }


def test_publishing_without_a_receiver_is_refused(no_audit_receiver):
    with pytest.raises(UnauditedError, match="no audit receiver is connected"):
        publish(VaultEvent("vault.key_rotated", ("keyset", "x", "x"), None))


@pytest.mark.django_db
def test_a_receiver_that_fails_fails_the_publisher(connected_sink):
    def failing(sender, event, **kwargs):
        raise RuntimeError("audit table unavailable")

    from causeway.vault.events import vault_event

    vault_event.connect(failing, dispatch_uid="failing")
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            publish(VaultEvent("vault.key_rotated", ("keyset", "x", "x"), None))
    finally:
        vault_event.disconnect(dispatch_uid="failing")


@pytest.mark.django_db
def test_the_wrapped_keyset_row_names_its_purpose():
    from causeway.vault.keysets import workspace_keyring
    from causeway.vault.models import WrappedKeyset

    workspace_keyring(None)
    assert str(WrappedKeyset.objects.get(purpose="platform-aead", workspace_id__isnull=True)) == (
        "platform-aead keyset"
    )
