"""The second factor: set up on a page, by the API; asked at sign-in; replay, guessing and the lock;
recovery codes; a workspace that requires it; an operator's reset from the shell."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection

from causeway.accounts import mfa
from causeway.accounts.models import RecoveryCode, TotpDevice, User
from causeway.audit.models import AuditEvent
from causeway.workspaces import tokens
from testkit.support import STRONG_PASSWORD, field_errors, https_client, make_user, make_workspace

START = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)
STEP = timedelta(seconds=30)


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("occurred_at", "chain", "seq"))


def code_now(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def password_step(client: Any, email: str) -> Any:
    return client.post("/login", {"username": email, "password": STRONG_PASSWORD})


def sign_in(client: Any, email: str) -> None:
    assert password_step(client, email).status_code == 302
    assert client.get("/").status_code == 200


def enrol(user: User) -> tuple[str, list[str]]:
    """Set up an app for the user through the service; returns its secret and the recovery codes."""
    enrolment = mfa.totp_enrol_begin(actor=user)
    return enrolment.secret, mfa.totp_enrol_confirm(actor=user, code=code_now(enrolment.secret))


@pytest.fixture
def ada(db: Any) -> User:
    user: User = make_user("ada@example.com")
    return user


@pytest.fixture
def clock() -> Any:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


# --- setting it up on the page, then signing in with it ----------------------------------------


@pytest.mark.django_db
def test_page_sets_up_an_app_shows_its_key_once_and_sign_in_then_asks_for_a_code(
    ada: User, clock: Any
) -> None:
    client = https_client()
    sign_in(client, ada.email)
    assert "is <strong>off</strong>" in client.get("/profile/two-factor").content.decode()

    started = client.post("/profile/two-factor/start")
    page = started.content.decode()
    assert started.status_code == 200 and "no-store" in started["Cache-Control"]
    secret = re.search(r'id="mfa-secret">([A-Z2-7]+)<', page)
    assert secret is not None
    assert 'src="data:image/svg+xml' in page and "otpauth://totp/Causeway:ada%40example.com" in page
    # The key is sealed at rest: not in its column, and not shown again by the page.
    raw = TotpDevice.objects.filter(user=ada).values_list("secret", flat=True).get()
    assert secret[1].encode() not in bytes(raw)
    assert secret[1] not in client.get("/profile/two-factor").content.decode()

    wrong = client.post("/profile/two-factor/confirm", {"code": "000000"})
    assert wrong.status_code == 400
    assert field_errors(wrong.content.decode(), "code") == [mfa.WRONG_CODE]
    confirmed = client.post("/profile/two-factor/confirm", {"code": code_now(secret[1])})
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", confirmed.content.decode())
    assert confirmed.status_code == 200 and len(codes) == mfa.RECOVERY_CODE_COUNT
    assert not any(code in str(list(RecoveryCode.objects.values_list("digest", flat=True))) for code in codes)
    assert len(events("mfa.enabled")) == 1

    client.post("/logout")
    asked = password_step(client, ada.email)
    assert asked.status_code == 302 and asked["Location"] == "/login/second-factor"
    # The right password alone signs nobody in.
    assert client.get("/").status_code == 302
    # The code that confirmed the app is refused: it was used in this very step.
    replayed = client.post("/login/second-factor", {"code": code_now(secret[1])})
    assert replayed.status_code == 400
    assert field_errors(replayed.content.decode(), "code") == [mfa.WRONG_CODE]
    clock.shift(STEP)
    assert client.post("/login/second-factor", {"code": code_now(secret[1])}).status_code == 302
    assert client.get("/").status_code == 200
    [login] = events("auth.login")[-1:]
    assert login.details == {"second_factor": "totp"}
    assert [e.outcome for e in events("mfa.failed")] == ["failure"]


@pytest.mark.django_db
def test_a_code_works_once_even_from_two_browsers_in_the_same_step(ada: User, clock: Any) -> None:
    secret, _ = enrol(ada)
    clock.shift(STEP)
    first, second = https_client(), https_client()
    password_step(first, ada.email), password_step(second, ada.email)
    code = code_now(secret)
    assert first.post("/login/second-factor", {"code": code}).status_code == 302
    assert second.post("/login/second-factor", {"code": code}).status_code == 400
    assert second.get("/").status_code == 302


@pytest.mark.django_db
def test_the_time_to_enter_a_code_runs_out(ada: User, clock: Any) -> None:
    secret, _ = enrol(ada)
    client = https_client()
    password_step(client, ada.email)
    clock.shift(mfa.SIGN_IN_PENDING + timedelta(seconds=1))
    answer = client.post("/login/second-factor", {"code": code_now(secret)})
    assert answer.status_code == 302 and answer["Location"] == "/login"
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_recovery_code_signs_in_once(ada: User, clock: Any) -> None:
    _, codes = enrol(ada)
    client = https_client()
    password_step(client, ada.email)
    assert client.post("/login/second-factor", {"code": codes[0].upper()}).status_code == 302
    assert mfa.recovery_codes_left(user=ada) == mfa.RECOVERY_CODE_COUNT - 1
    client.post("/logout")
    password_step(client, ada.email)
    again = client.post("/login/second-factor", {"code": codes[0]})
    assert again.status_code == 400
    assert events("auth.login")[-1].details == {"second_factor": "recovery_code"}


@pytest.mark.django_db
def test_five_wrong_codes_lock_the_app_for_15_minutes_but_not_the_recovery_codes(
    ada: User, clock: Any
) -> None:
    secret, codes = enrol(ada)
    clock.shift(STEP)
    client = https_client()
    password_step(client, ada.email)
    right = code_now(secret)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(mfa.LOCK_AFTER):
        assert client.post("/login/second-factor", {"code": wrong}).status_code == 400
    # From another browser (and so another sign-in), the right code is refused while the lock holds.
    other = https_client(REMOTE_ADDR="198.51.100.7")
    password_step(other, ada.email)
    locked = other.post("/login/second-factor", {"code": right})
    assert locked.status_code == 400
    assert field_errors(locked.content.decode(), "code") == [mfa.LOCKED]
    assert events("mfa.failed")[-1].details == {"purpose": "sign_in", "locks": True}
    # The owner still gets in with a recovery code; an hour later the app works again.
    assert other.post("/login/second-factor", {"code": codes[1]}).status_code == 302
    clock.shift(mfa.LOCK_FOR + STEP)
    password_step(client, ada.email)
    assert client.post("/login/second-factor", {"code": code_now(secret)}).status_code == 302


@pytest.mark.django_db
def test_recovery_codes_renew_and_the_factor_turns_off_only_with_a_code(ada: User, clock: Any) -> None:
    secret, old = enrol(ada)
    client = https_client()
    password_step(client, ada.email)
    clock.shift(STEP)
    client.post("/login/second-factor", {"code": code_now(secret)})
    refused = client.post("/profile/two-factor/recovery-codes", {"code": ""})
    assert refused.status_code == 400 and field_errors(refused.content.decode(), "code")
    clock.shift(STEP)
    renewed = client.post("/profile/two-factor/recovery-codes", {"code": code_now(secret)})
    new = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", renewed.content.decode())
    assert len(new) == mfa.RECOVERY_CODE_COUNT and not set(new) & set(old)
    assert mfa.second_factor_check(user=ada, code=old[0], purpose="test").method is None

    assert client.post("/profile/two-factor/disable", {"code": "123456"}).status_code == 400
    assert mfa.mfa_enrolled(user=ada)
    assert client.post("/profile/two-factor/disable", {"code": new[0]}).status_code == 302
    assert not mfa.mfa_enrolled(user=ada) and not RecoveryCode.objects.filter(user=ada).exists()
    assert len(events("mfa.disabled")) == 1


# --- a workspace that requires it ---------------------------------------------------------------


@pytest.mark.django_db
def test_workspace_requiring_a_second_factor_shuts_out_members_without_one(ada: User, clock: Any) -> None:
    bob = make_user("bob@example.com", first="Bob")
    workspace = make_workspace("Acme", members={ada: "admin", bob: "analyst"})
    admin = https_client()
    sign_in(admin, ada.email)
    settings_url = f"/w/{workspace.slug}/settings"
    form = {"section": "general", "name": "Acme", "session_timeout": "10080", "mfa_required": "yes"}
    refused = admin.post(settings_url, form)
    assert refused.status_code == 400
    assert "turn it on for yourself first" in field_errors(refused.content.decode(), "mfa_required")[0]
    workspace.refresh_from_db()
    assert not workspace.mfa_required

    enrol(ada)
    assert admin.post(settings_url, form).status_code == 302
    workspace.refresh_from_db()
    assert workspace.mfa_required
    assert events("workspace.settings_changed")[-1].details == {
        "changes": {"mfa_required": {"from": False, "to": True}}
    }

    member = https_client()
    sign_in(member, bob.email)
    sent = member.get(f"/w/{workspace.slug}/")
    assert sent.status_code == 302 and sent["Location"] == "/profile/two-factor"
    assert events("access.denied")[-1].details["permission"] == "mfa:required"
    _, secret = tokens.token_create(actor=bob, name="cli", expires_in_days=1)
    api = https_client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    answer = api.get(f"/api/v1/workspaces/{workspace.id}")
    assert answer.status_code == 403 and answer.json()["permission"] == "mfa:required"

    # Set up through the API, with the same token: then the workspace opens.
    started = api.post("/api/v1/me/mfa/totp", content_type="application/json")
    assert started.status_code == 201
    key = started.json()["secret"]
    assert started.json()["otpauth_uri"].startswith("otpauth://totp/Causeway:bob%40example.com?secret=" + key)
    confirmed = api.post(
        "/api/v1/me/mfa/totp/confirm", {"code": code_now(key)}, content_type="application/json"
    )
    assert confirmed.status_code == 200 and len(confirmed.json()["recovery_codes"]) == mfa.RECOVERY_CODE_COUNT
    assert api.get(f"/api/v1/workspaces/{workspace.id}").status_code == 200
    assert member.get(f"/w/{workspace.slug}/").status_code == 200
    assert api.get("/api/v1/me/mfa").json() == {"enrolled": True, "recovery_codes_left": 10}

    # Turning it off is refused while the workspace requires it, even with a right code.
    clock.shift(STEP)
    off = api.post("/api/v1/me/mfa/disable", {"code": code_now(key)}, content_type="application/json")
    assert off.status_code == 400 and "requires two-factor authentication" in off.json()["detail"]
    assert mfa.mfa_enrolled(user=bob)


@pytest.mark.django_db
def test_api_refuses_unknown_fields_and_wrong_codes(ada: User, clock: Any) -> None:
    _, secret = tokens.token_create(actor=ada, name="cli", expires_in_days=1)
    api = https_client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    key = api.post("/api/v1/me/mfa/totp", content_type="application/json").json()["secret"]
    extra = api.post(
        "/api/v1/me/mfa/totp/confirm",
        {"code": code_now(key), "user_id": "x"},
        content_type="application/json",
    )
    assert extra.status_code == 422
    wrong = api.post("/api/v1/me/mfa/totp/confirm", {"code": "12345a"}, content_type="application/json")
    assert wrong.status_code == 400 and wrong.json()["detail"] == f"code: {mfa.WRONG_CODE}"
    assert not mfa.mfa_enrolled(user=ada)
    assert (
        api.post(
            "/api/v1/me/mfa/totp/confirm", {"code": code_now(key)}, content_type="application/json"
        ).status_code
        == 200
    )
    again = api.post("/api/v1/me/mfa/totp", content_type="application/json")
    assert again.status_code == 400 and "already on" in again.json()["detail"]
    # The key never reaches the audit log.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_auditevent")
        assert key not in repr(cursor.fetchall())


# --- the operator's reset -----------------------------------------------------------------------


@pytest.mark.django_db
def test_cli_resets_a_lost_second_factor_and_ends_the_sessions(ada: User, clock: Any) -> None:
    secret, _ = enrol(ada)
    client = https_client()
    password_step(client, ada.email)
    clock.shift(STEP)
    client.post("/login/second-factor", {"code": code_now(secret)})
    listed = io.StringIO()
    call_command("users", "list", stdout=listed)
    assert re.search(r"ada@example.com .* on ", listed.getvalue())

    out = io.StringIO()
    call_command("users", "mfa-reset", "ADA@example.com", stdout=out)
    assert "ended 1 session(s)" in out.getvalue()
    assert client.get("/").status_code == 302
    assert not mfa.mfa_enrolled(user=ada)
    assert events("mfa.reset")[0].actor_type == "system"
    # Signing in now needs the password alone, and a second reset says there is nothing to reset.
    sign_in(https_client(), ada.email)
    with pytest.raises(CommandError, match="two-factor authentication is not on"):
        call_command("users", "mfa-reset", ada.email)
