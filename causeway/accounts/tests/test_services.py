"""Account services: what each changes, what it refuses, and the one audit event it writes."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from causeway.accounts import selectors, services
from causeway.accounts.actors import SYSTEM
from causeway.accounts.models import ApiToken, User, UserSession
from causeway.accounts.tests.conftest import PASSWORD, Browser, new_user, sign_in
from causeway.audit.models import AuditEvent
from causeway.audit.services import AuditWriteError

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "another-Lantern-orbit-4"


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


def test_user_create_checks_every_rule_and_records_one_event() -> None:
    user = services.user_create(
        actor=SYSTEM,
        email=" Grace@Example.com ",
        first_name="Grace",
        last_name="Hopper",
        password=NEW_PASSWORD,
    )
    assert user.email == "grace@example.com"
    assert user.check_password(NEW_PASSWORD)
    assert user.password.startswith("argon2")
    assert [e.target_id for e in events("user.created")] == [str(user.id)]
    with pytest.raises(ValidationError) as caught:
        services.user_create(
            actor=SYSTEM,
            email="GRACE@example.com",
            first_name="Grace",
            last_name="Hopper",
            password=NEW_PASSWORD,
        )
    assert caught.value.message_dict["email"] == ["Email is already used by another account."]
    with pytest.raises(ValidationError) as caught:
        services.user_create(
            actor=SYSTEM, email="x@example.com", first_name="Xe", last_name="Y", password="password1234"
        )
    assert list(caught.value.message_dict) == ["password"]
    with pytest.raises(ValidationError) as caught:
        services.user_create(
            actor=SYSTEM,
            email="z@example.com",
            first_name="Zed",
            last_name="Y",
            password=NEW_PASSWORD,
            user_type="superuser",
        )
    assert list(caught.value.message_dict) == ["user_type"]
    assert User.objects.count() == 1


def test_profile_update_changes_only_given_fields_and_records_them() -> None:
    user = new_user("ada@example.com")
    services.profile_update(actor=user, user=user, first_name="Augusta")
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.email) == ("Augusta", "Lovelace", "ada@example.com")
    [event] = events("user.profile_changed")
    assert event.details == {"fields": ["first_name"]}
    services.profile_update(actor=user, user=user, first_name="Augusta")
    assert len(events("user.profile_changed")) == 1, "an unchanged profile records nothing"


def test_profile_update_refuses_an_email_taken_by_another_user() -> None:
    new_user("taken@example.com")
    user = new_user("ada@example.com")
    with pytest.raises(ValidationError) as caught:
        services.profile_update(actor=user, user=user, email="TAKEN@example.com")
    assert list(caught.value.message_dict) == ["email"]
    user.refresh_from_db()
    assert user.email == "ada@example.com"


def test_password_change_ends_every_session_of_the_user_only() -> None:
    user = new_user("ada@example.com")
    other = new_user("bob@example.com")
    browsers = [Browser(), Browser()]
    for browser in browsers:
        sign_in(browser, user.email)
    bystander = Browser()
    sign_in(bystander, other.email)
    assert UserSession.objects.filter(user=user).count() == 2

    ended = services.password_change(
        actor=user, user=user, current_password=PASSWORD, new_password=NEW_PASSWORD
    )

    assert ended == 2
    assert not UserSession.objects.filter(user=user).exists()
    assert Session.objects.count() == 1
    for browser in browsers:
        assert browser.get("/").status_code == 302
    assert bystander.get("/").status_code == 200
    [event] = events("user.password_changed")
    assert event.details == {"sessions_ended": 2}


def test_password_change_refuses_wrong_current_weak_or_same_password() -> None:
    user = new_user("ada@example.com")
    cases: list[tuple[dict[str, str], str]] = [
        ({"current_password": "wrong", "new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": "", "new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": PASSWORD, "new_password": "123456789012"}, "new_password"),
        ({"current_password": PASSWORD, "new_password": PASSWORD}, "new_password"),
    ]
    for arguments, field in cases:
        with pytest.raises(ValidationError) as caught:
            services.password_change(actor=user, user=user, **arguments)
        assert list(caught.value.message_dict) == [field]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert events("user.password_changed") == []


def test_password_change_does_not_happen_when_its_audit_event_cannot_be_written(monkeypatch: Any) -> None:
    from causeway.audit import services as audit_services

    user = new_user("ada@example.com")
    browser = Browser()
    sign_in(browser, user.email)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("audit key unavailable")

    monkeypatch.setattr(audit_services.mac, "compute", refuse)
    with pytest.raises(AuditWriteError):
        services.password_change(actor=user, user=user, current_password=PASSWORD, new_password=NEW_PASSWORD)
    monkeypatch.undo()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert browser.get("/").status_code == 200


def test_rule_17_tokens_are_stored_hashed_and_the_secret_is_nowhere_in_the_database() -> None:
    user = new_user("ada@example.com")
    token, secret = services.token_create(actor=user, name="ci", expires_in_days=30)
    assert secret.startswith(f"cw_{token.prefix}_")
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        stored = [str(value) for row in cursor.fetchall() for value in row]
        cursor.execute("SELECT details, target_label FROM audit_auditevent")
        stored += [str(value) for row in cursor.fetchall() for value in row]
    # The random part follows the prefix; it may itself hold "_", so it is cut off by position.
    random_part = secret[len(f"cw_{token.prefix}_") :]
    assert not any(secret in value or random_part in value for value in stored)
    assert services.token_authenticate(secret) == token


def test_rule_17_token_authenticate_refuses_expired_revoked_disabled_and_forged() -> None:
    user = new_user("ada@example.com")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        _, secret = services.token_create(actor=user, name="ci", expires_in_days=1)
        assert services.token_authenticate(secret) is not None
        traveller.shift(timedelta(days=1, seconds=1))
        assert services.token_authenticate(secret) is None
    _, secret = services.token_create(actor=user, name="ci2", expires_in_days=1)
    assert services.token_authenticate(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert services.token_authenticate(secret.replace("cw_", "xx_", 1)) is None
    assert services.token_authenticate(secret + "x" * 200) is None
    services.user_disable(actor=SYSTEM, user=user)
    assert services.token_authenticate(secret) is None
    services.user_enable(actor=SYSTEM, user=user)
    found = services.token_authenticate(secret)
    assert found is not None
    services.token_revoke(actor=user, token=found)
    assert services.token_authenticate(secret) is None


def test_token_last_used_is_stamped_at_most_once_a_minute() -> None:
    user = new_user("ada@example.com")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        token, secret = services.token_create(actor=user, name="ci", expires_in_days=5)
        assert token.last_used_at is None
        services.token_authenticate(secret)
        first = ApiToken.objects.get(pk=token.pk).last_used_at
        assert first == timezone.now()
        traveller.shift(timedelta(seconds=30))
        services.token_authenticate(secret)
        assert ApiToken.objects.get(pk=token.pk).last_used_at == first
        traveller.shift(timedelta(seconds=31))
        services.token_authenticate(secret)
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
            services.token_create(actor=user, **arguments)  # type: ignore[arg-type]
        assert list(caught.value.message_dict) == [field]
    assert not ApiToken.objects.exists()
    assert events("api_token.created") == []


def test_token_create_and_revoke_each_record_one_event_and_revoke_is_idempotent() -> None:
    user = new_user("ada@example.com")
    token, _ = services.token_create(actor=user, name="ci", expires_in_days=5)
    services.token_revoke(actor=user, token=token)
    services.token_revoke(actor=user, token=token)
    assert len(events("api_token.created")) == 1
    assert len(events("api_token.revoked")) == 1
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


def test_nobody_revokes_or_sees_another_users_token() -> None:
    owner = new_user("ada@example.com")
    intruder = new_user("eve@example.com")
    token, secret = services.token_create(actor=owner, name="ci", expires_in_days=5)
    assert selectors.token_get_own(user=intruder, token_id=token.id) is None
    assert selectors.token_get_own(user=intruder, token_id="not-a-uuid") is None
    assert list(selectors.token_list(user=intruder)) == []
    with pytest.raises(ApiToken.DoesNotExist):
        services.token_revoke(actor=intruder, token=token)
    assert services.token_authenticate(secret) is not None


def test_user_disable_ends_sessions_keeps_tokens_unrevoked_and_is_audited() -> None:
    user = new_user("ada@example.com")
    browser = Browser()
    sign_in(browser, user.email)
    token, secret = services.token_create(actor=user, name="ci", expires_in_days=5)

    assert services.user_disable(actor=SYSTEM, user=user) == 1

    assert browser.get("/").status_code == 302
    assert services.token_authenticate(secret) is None
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


def test_signing_in_drops_index_rows_of_sessions_that_lapsed() -> None:
    user = new_user("ada@example.com")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        sign_in(Browser(), user.email)
        assert UserSession.objects.filter(user=user).count() == 1
        clock.shift(timedelta(days=8))
        sign_in(Browser(), user.email)
        [row] = UserSession.objects.filter(user=user)
        assert Session.objects.get(session_key=row.session_key).expire_date > timezone.now()
