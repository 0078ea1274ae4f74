"""Rule 11: job history is sealed with the workspace key, then with the platform key."""

from __future__ import annotations

import uuid

import pytest
import tink

from causeway.vault.keysets import PLATFORM_PURPOSE, WORKSPACE_PURPOSE, keyring
from causeway.vault.rootkey import prefix_key_id
from causeway.vault.sealing import (
    LAYER_HISTORY_INNER,
    LAYER_HISTORY_OUTER,
    LAYER_VALUE,
    Scope,
    SealedValueError,
    open_,
    open_job_history,
    seal_job_history,
)
from causeway.vault.tests.sample_models import SampleRecord

PAYLOAD = b'{"step": 3, "output": "canary-job-history-4411"}'


def _scope() -> Scope:
    return Scope(uuid.uuid4(), "runs_step_history", str(uuid.uuid4()), "output")


@pytest.mark.django_db
def test_rule_11_job_history_round_trip_through_both_layers():
    scope = _scope()
    sealed = seal_job_history(PAYLOAD, scope=scope)
    assert open_job_history(sealed, scope=scope) == PAYLOAD
    assert b"canary-job-history" not in sealed


@pytest.mark.django_db
def test_rule_11_neither_key_alone_opens_job_history():
    scope = _scope()
    sealed = seal_job_history(PAYLOAD, scope=scope)
    platform = keyring(PLATFORM_PURPOSE, None)
    workspace = keyring(WORKSPACE_PURPOSE, scope.workspace_id)
    assert prefix_key_id(sealed) == platform.primary_key_id

    # The workspace key alone: the outermost layer is not its ciphertext, under any binding.
    for layer in (LAYER_VALUE, LAYER_HISTORY_INNER, LAYER_HISTORY_OUTER):
        with pytest.raises(tink.TinkError):
            workspace.primitive.decrypt(sealed, scope.associated_data(layer))

    # The platform key alone: it removes its own layer, and what is left is still a ciphertext,
    # under the workspace's key, that the platform key cannot open.
    inner = platform.primitive.decrypt(sealed, scope.associated_data(LAYER_HISTORY_OUTER))
    assert b"canary-job-history" not in inner
    assert prefix_key_id(inner) == workspace.primary_key_id
    for layer in (LAYER_VALUE, LAYER_HISTORY_INNER, LAYER_HISTORY_OUTER):
        with pytest.raises(tink.TinkError):
            platform.primitive.decrypt(inner, scope.associated_data(layer))

    # Both, in order: the payload.
    assert workspace.primitive.decrypt(inner, scope.associated_data(LAYER_HISTORY_INNER)) == PAYLOAD


@pytest.mark.django_db
def test_rule_11_job_history_does_not_open_as_a_single_sealed_value_or_elsewhere():
    scope = _scope()
    sealed = seal_job_history(PAYLOAD, scope=scope)
    with pytest.raises(SealedValueError):
        open_(sealed, scope=scope)
    other_row = Scope(scope.workspace_id, scope.table, str(uuid.uuid4()), scope.field)
    with pytest.raises(SealedValueError, match=f"row {other_row.row_id} field output"):
        open_job_history(sealed, scope=other_row)


@pytest.mark.django_db
def test_rule_11_job_history_needs_a_workspace():
    with pytest.raises(ValueError, match="workspace"):
        seal_job_history(PAYLOAD, scope=Scope(None, "t", "r", "f"))
    with pytest.raises(ValueError, match="workspace"):
        open_job_history(PAYLOAD, scope=Scope(None, "t", "r", "f"))


@pytest.mark.django_db
def test_rule_11_double_sealed_field_stores_both_layers():
    workspace = uuid.uuid4()
    record = SampleRecord.objects.create(
        workspace_id=workspace, history={"output": "canary-job-history-4411"}
    )
    raw = bytes(SampleRecord.objects.values_list("history", flat=True).get(pk=record.pk))
    scope = Scope(workspace, "vault_test_sample_record", str(record.pk), "history")
    assert prefix_key_id(raw) == keyring(PLATFORM_PURPOSE, None).primary_key_id
    assert open_job_history(raw, scope=scope) == b'{"output":"canary-job-history-4411"}'
    assert SampleRecord.objects.get(pk=record.pk).history == {"output": "canary-job-history-4411"}
