"""API tokens, personal here (service accounts' in the access rules): stored hashed, verified, revoked."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from causeway.accounts import services
from causeway.accounts.actors import SYSTEM
from causeway.accounts.tests.conftest import PASSWORD, Browser, new_user, sign_in
from causeway.audit.models import AuditEvent
from causeway.workspaces import tokens
from causeway.workspaces.models import ApiToken

pytestmark = pytest.mark.django_db


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


def test_rule_17_tokens_are_stored_hashed_and_the_secret_is_nowhere_in_the_database() -> None:
    user = new_user("ada@example.com")
    token, secret = tokens.token_create(actor=user, name="ci", expires_in_days=30)
    assert secret.startswith(f"cw_{token.prefix}_")
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM workspaces_apitoken")
        stored = [str(value) for row in cursor.fetchall() for value in row]
        cursor.execute("SELECT details, target_label FROM audit_auditevent")
        stored += [str(value) for row in cursor.fetchall() for value in row]
    # The random part follows the prefix; it may itself hold "_", so it is cut off by position.
    random_part = secret[len(f"cw_{token.prefix}_") :]
    assert not any(secret in value or random_part in value for value in stored)
    assert tokens.token_verify(secret) == token


def test_rule_17_token_verify_refuses_expired_revoked_disabled_and_forged() -> None:
    user = new_user("ada@example.com")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        _, secret = tokens.token_create(actor=user, name="ci", expires_in_days=1)
        assert tokens.token_verify(secret) is not None
        traveller.shift(timedelta(days=1, seconds=1))
        assert tokens.token_verify(secret) is None
    _, secret = tokens.token_create(actor=user, name="ci2", expires_in_days=1)
    assert tokens.token_verify(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert tokens.token_verify(secret.replace("cw_", "xx_", 1)) is None
    assert tokens.token_verify(secret + "x" * 200) is None
    services.user_disable(actor=SYSTEM, user=user)
    assert tokens.token_verify(secret) is None
    services.user_enable(actor=SYSTEM, user=user)
    found = tokens.token_verify(secret)
    assert found is not None
    tokens.token_revoke(actor=user, token=found)
    assert tokens.token_verify(secret) is None


def test_token_last_used_is_stamped_at_most_once_a_minute() -> None:
    user = new_user("ada@example.com")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        token, secret = tokens.token_create(actor=user, name="ci", expires_in_days=5)
        assert token.last_used_at is None
        tokens.token_verify(secret)
        first = ApiToken.objects.get(pk=token.pk).last_used_at
        assert first == timezone.now()
        traveller.shift(timedelta(seconds=30))
        tokens.token_verify(secret)
        assert ApiToken.objects.get(pk=token.pk).last_used_at == first
        traveller.shift(timedelta(seconds=31))
        tokens.token_verify(secret)
        assert ApiToken.objects.get(pk=token.pk).last_used_at == timezone.now()


def test_token_create_refuses_bad_names_and_expiries_by_field() -> None:
    user = new_user("ada@example.com")
    for arguments, field in [
        ({"name": " ", "expires_in_days": 5}, "name"),
        ({"name": "n" * 101, "expires_in_days": 5}, "name"),
        ({"name": "ci", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "ci", "expires_in_days": 366}, "expires_in_days"),
        (
            {"name": "ci", "expires_in_days": 10, "not_after": timezone.now() + timedelta(days=5)},
            "expires_in_days",
        ),
    ]:
        with pytest.raises(ValidationError) as caught:
            tokens.token_create(actor=user, **arguments)  # type: ignore[arg-type]
        assert list(caught.value.message_dict) == [field]
    assert not ApiToken.objects.exists()
    assert events("api_token.created") == []


def test_token_create_and_revoke_each_record_one_event_and_revoke_is_idempotent() -> None:
    user = new_user("ada@example.com")
    token, _ = tokens.token_create(actor=user, name="ci", expires_in_days=5)
    tokens.token_revoke(actor=user, token=token)
    tokens.token_revoke(actor=user, token=token)
    assert len(events("api_token.created")) == 1
    assert len(events("api_token.revoked")) == 1
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


def test_nobody_revokes_or_sees_another_users_token() -> None:
    owner = new_user("ada@example.com")
    intruder = new_user("eve@example.com")
    token, secret = tokens.token_create(actor=owner, name="ci", expires_in_days=5)
    assert tokens.token_get_own(user=intruder, token_id=token.id) is None
    assert tokens.token_get_own(user=intruder, token_id="not-a-uuid") is None
    assert list(tokens.token_list(user=intruder)) == []
    with pytest.raises(ApiToken.DoesNotExist):
        tokens.token_revoke(actor=intruder, token=token)
    assert tokens.token_verify(secret) is not None


def test_user_disable_ends_sessions_keeps_tokens_unrevoked_and_is_audited() -> None:
    user = new_user("ada@example.com")
    browser = Browser()
    sign_in(browser, user.email)
    token, secret = tokens.token_create(actor=user, name="ci", expires_in_days=5)

    assert services.user_disable(actor=SYSTEM, user=user) == 1

    assert browser.get("/").status_code == 302
    assert tokens.token_verify(secret) is None
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    [event] = events("user.disabled")
    assert event.details == {"sessions_ended": 1}
    with pytest.raises(ValidationError):
        services.user_disable(actor=SYSTEM, user=user)
    assert len(events("user.disabled")) == 1
    response = Browser().post("/login", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 200, "a disabled user cannot sign in"
    services.user_enable(actor=SYSTEM, user=user)
    assert len(events("user.enabled")) == 1
    sign_in(Browser(), user.email)
