"""Rule 10: values are stored encrypted, each ciphertext names its key and is bound to its record."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tink import aead

from causeway.tests.at_rest import database_bytes
from causeway.vault.keysets import workspace_keyring
from causeway.vault.models import Secret
from causeway.vault.rootkey import prefix_key_id
from causeway.vault.sealing import LAYER_VALUE, Scope, SealedValueError, open_, seal
from causeway.vault.secrets import secret_set
from causeway.vault.tests.sample_models import SampleRecord

CANARY = "canary-7f3a9c-plaintext-value"


@pytest.mark.django_db(transaction=True)
def test_rule_10_canary_secret_absent_from_the_database_file_or_dump(sink):
    workspace = uuid.uuid4()
    secret_set(
        actor_id=None,
        workspace_id=workspace,
        name="canary-name-visible",
        value=CANARY,
        allowed_hosts=["api.example.com"],
        on_change=sink,
    )
    record = SampleRecord.objects.create(
        workspace_id=workspace,
        label="sample-label-visible",
        first=CANARY,
        profile=CANARY,
        details={"token": CANARY},
        blob=CANARY.encode(),
        history={"step": CANARY},
    )
    stored = database_bytes()
    # The positive control: what is not sealed is found, so this is the right database, fully read.
    assert b"canary-name-visible" in stored
    assert b"sample-label-visible" in stored
    assert CANARY.encode() not in stored
    assert CANARY.encode().hex().encode() not in stored  # pg_dump writes bytea as hex
    assert Secret.objects.get(workspace_id=workspace).value == CANARY
    loaded = SampleRecord.objects.get(pk=record.pk)
    assert (loaded.first, loaded.profile, loaded.details, loaded.blob, loaded.history) == (
        CANARY,
        CANARY,
        {"token": CANARY},
        CANARY.encode(),
        {"step": CANARY},
    )


@pytest.mark.django_db
def test_rule_10_ciphertext_names_its_key():
    workspace = uuid.uuid4()
    secret = Secret.objects.create(workspace_id=workspace, name="k", value=CANARY)
    raw = bytes(Secret.objects.values_list("value", flat=True).get(pk=secret.pk))
    assert prefix_key_id(raw) == workspace_keyring(workspace).primary_key_id


def _raw(model, pk, field):
    return model.objects.values_list(field, flat=True).get(pk=pk)


@pytest.mark.django_db
def test_rule_10_ciphertext_moved_to_another_row_is_refused_naming_the_record():
    workspace = uuid.uuid4()
    a = Secret.objects.create(workspace_id=workspace, name="a", value=CANARY)
    b = Secret.objects.create(workspace_id=workspace, name="b", value="the other value")
    Secret.objects.filter(pk=b.pk).update(value=_raw(Secret, a.pk, "value"))
    with pytest.raises(SealedValueError) as refused:
        Secret.objects.get(pk=b.pk).value  # noqa: B018
    message = str(refused.value)
    assert f"vault_secret row {b.pk} field value" in message
    assert "another record or was altered" in message
    assert CANARY not in message


@pytest.mark.django_db
def test_rule_10_ciphertext_moved_to_another_field_is_refused_naming_the_record():
    workspace = uuid.uuid4()
    record = SampleRecord.objects.create(workspace_id=workspace, first=CANARY, second="second value")
    SampleRecord.objects.filter(pk=record.pk).update(second=_raw(SampleRecord, record.pk, "first"))
    loaded = SampleRecord.objects.get(pk=record.pk)
    assert loaded.first == CANARY
    with pytest.raises(SealedValueError, match=f"vault_test_sample_record row {record.pk} field second"):
        loaded.second  # noqa: B018


@pytest.mark.django_db
def test_rule_10_ciphertext_moved_to_another_workspace_is_refused_naming_the_record():
    home, elsewhere = uuid.uuid4(), uuid.uuid4()
    a = Secret.objects.create(workspace_id=home, name="a", value=CANARY)
    b = Secret.objects.create(workspace_id=elsewhere, name="b", value="theirs")
    Secret.objects.filter(pk=b.pk).update(value=_raw(Secret, a.pk, "value"))
    with pytest.raises(SealedValueError) as refused:
        Secret.objects.get(pk=b.pk).value  # noqa: B018
    assert f"vault_secret row {b.pk} field value (workspace {elsewhere})" in str(refused.value)
    # The whole row moved to the other workspace: same row, same field, other workspace.
    Secret.objects.filter(pk=a.pk).update(workspace_id=elsewhere)
    with pytest.raises(SealedValueError, match=f"vault_secret row {a.pk} field value"):
        Secret.objects.get(pk=a.pk).value  # noqa: B018


@pytest.mark.django_db
def test_rule_10_platform_ciphertext_moved_into_a_workspace_is_refused():
    workspace = uuid.uuid4()
    record = SampleRecord.objects.create(workspace_id=workspace, profile=CANARY, first="first")
    SampleRecord.objects.filter(pk=record.pk).update(first=_raw(SampleRecord, record.pk, "profile"))
    with pytest.raises(SealedValueError, match="field first"):
        SampleRecord.objects.get(pk=record.pk).first  # noqa: B018


@pytest.mark.django_db
@pytest.mark.parametrize("position", ["prefix", "nonce", "body", "tag"])
def test_rule_10_one_flipped_bit_is_refused(position):
    scope = Scope(uuid.uuid4(), "vault_secret", str(uuid.uuid4()), "value")
    sealed = bytearray(seal(CANARY.encode(), scope=scope))
    index = {"prefix": 4, "nonce": 8, "body": 20, "tag": len(sealed) - 1}[position]
    sealed[index] ^= 0x01
    with pytest.raises(SealedValueError) as refused:
        open_(bytes(sealed), scope=scope)
    assert scope.describe() in str(refused.value)


@pytest.mark.django_db
def test_rule_10_a_value_that_is_not_a_ciphertext_is_refused():
    scope = Scope(uuid.uuid4(), "t", "r", "f")
    with pytest.raises(SealedValueError, match="is not a sealed value"):
        open_(b"plain", scope=scope)


_text = st.text(max_size=40)
_scopes = st.builds(Scope, st.one_of(st.none(), st.uuids()), _text, _text, _text)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.binary(max_size=4096), scope=_scopes)
def test_rule_10_seal_then_open_gives_back_any_value(value, scope):
    assert open_(seal(value, scope=scope), scope=scope) == value


@st.composite
def _scope_and_a_change(draw):
    scope = draw(_scopes)
    component = draw(st.sampled_from(["workspace_id", "table", "row_id", "field"]))
    if component == "workspace_id":
        other = draw(st.one_of(st.none(), st.uuids()).filter(lambda w: w != scope.workspace_id))
    else:
        other = draw(_text.filter(lambda t: t != getattr(scope, component)))
    changed = Scope(
        **{**{f: getattr(scope, f) for f in ("workspace_id", "table", "row_id", "field")}, component: other}
    )
    return scope, changed


@pytest.mark.django_db
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.binary(max_size=256), scopes=_scope_and_a_change())
def test_rule_10_any_change_of_the_binding_fails_to_open(value, scopes):
    scope, changed = scopes
    sealed = seal(value, scope=scope)
    with pytest.raises(SealedValueError) as refused:
        open_(sealed, scope=changed)
    assert changed.describe() in str(refused.value)


@pytest.mark.django_db
def test_rule_10_a_sealed_value_is_an_ordinary_tink_ciphertext_of_its_keyset():
    scope = Scope(uuid.uuid4(), "vault_secret", str(uuid.uuid4()), "value")
    ring = workspace_keyring(scope.workspace_id)
    tinks_own = ring.handle.primitive(aead.Aead)
    associated = scope.associated_data(LAYER_VALUE)
    assert tinks_own.decrypt(seal(b"either way", scope=scope), associated) == b"either way"
    assert open_(tinks_own.encrypt(b"either way", associated), scope=scope) == b"either way"
