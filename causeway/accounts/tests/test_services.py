"""Account services: what each changes, what it refuses, and the one audit event it writes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.utils import timezone

from causeway.accounts import services
from causeway.accounts.actors import SYSTEM
from causeway.accounts.models import User, UserSession
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


def test_signing_in_drops_index_rows_of_sessions_that_lapsed() -> None:
    user = new_user("ada@example.com")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        sign_in(Browser(), user.email)
        assert UserSession.objects.filter(user=user).count() == 1
        clock.shift(timedelta(days=8))
        sign_in(Browser(), user.email)
        [row] = UserSession.objects.filter(user=user)
        assert Session.objects.get(session_key=row.session_key).expire_date > timezone.now()
