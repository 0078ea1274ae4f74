"""Step-up: a sensitive act from a browser session asks for the password (or a code) again when the
session's last proof of identity is older than 10 minutes, on pages and in the API. Tried as an
attacker holding a copy of a signed-in session cookie."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pyotp
import pytest
import time_machine
from django.conf import settings

from causeway.accounts import mfa
from causeway.accounts.models import User
from causeway.accounts.services import STEP_UP_WINDOW
from causeway.audit.models import AuditEvent
from causeway.vault.models import Secret
from causeway.workspaces import tokens
from testkit.support import STRONG_PASSWORD, field_errors, https_client, make_user, make_workspace

START = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)
LATER = STEP_UP_WINDOW + timedelta(minutes=1)


@pytest.fixture
def clock() -> Any:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def ada(db: Any) -> User:
    user: User = make_user("ada@example.com")
    return user


@pytest.fixture
def workspace(ada: User) -> Any:
    return make_workspace("Acme", members={ada: "admin"})


def signed_in(user: User) -> Any:
    client = https_client()
    response = client.post("/login", {"username": user.email, "password": STRONG_PASSWORD})
    assert response.status_code == 302
    return client


def stolen(client: Any) -> Any:
    """Another browser holding a copy of the victim's session cookie."""
    thief = https_client()
    thief.cookies[settings.SESSION_COOKIE_NAME] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return thief


def secret_form(name: str) -> dict[str, str]:
    return {"form": "new", "name": name, "value": "canary-value-1", "allowed_hosts": ""}


def denied_for_step_up() -> int:
    return sum(
        1
        for e in AuditEvent.objects.filter(action="access.denied")
        if e.details["permission"] == "auth:recent"
    )


@pytest.mark.django_db
def test_a_fresh_session_acts_without_being_asked_again(ada: User, workspace: Any, clock: Any) -> None:
    client = signed_in(ada)
    assert client.post(f"/w/{workspace.slug}/vault/set", secret_form("FRESH")).status_code == 302
    assert Secret.objects.filter(workspace_id=workspace.id, name="FRESH").exists()
    assert client.post("/tokens", {"name": "ci", "expires_in_days": "1"}).status_code == 200
    assert denied_for_step_up() == 0


@pytest.mark.django_db
def test_stolen_session_cannot_change_secrets_or_mint_tokens_until_the_password_is_given(
    ada: User, workspace: Any, clock: Any
) -> None:
    thief = stolen(signed_in(ada))
    clock.shift(LATER)
    # Reading still works: the session is alive; only the sensitive writes ask again.
    assert thief.get(f"/w/{workspace.slug}/vault").status_code == 200
    page = f"https://testserver/w/{workspace.slug}/vault"
    sent = thief.post(f"/w/{workspace.slug}/vault/set", secret_form("STOLEN"), HTTP_REFERER=page)
    assert sent.status_code == 302
    assert sent["Location"] == f"/reauthenticate?next={quote(page, safe='')}"
    assert thief.post("/tokens", {"name": "mine", "expires_in_days": "30"}).status_code == 302
    api = thief.put(
        f"/api/v1/workspaces/{workspace.id}/secrets/STOLEN",
        {"value": "x"},
        content_type="application/json",
    )
    assert api.status_code == 403 and api.json()["permission"] == "auth:recent"
    minted = thief.post("/api/v1/me/tokens", {"name": "mine"}, content_type="application/json")
    assert minted.status_code == 403
    role = thief.put(
        f"/api/v1/workspaces/{workspace.id}/connectors/http",
        {"enabled": False},
        content_type="application/json",
    )
    assert role.status_code == 403 and role.json()["permission"] == "auth:recent"
    assert not Secret.objects.filter(name="STOLEN").exists()
    assert not tokens.token_list(user=ada)
    assert denied_for_step_up() == 5

    # Guessing the password is refused and audited; the right one opens the sensitive acts again.
    wrong = thief.post("/reauthenticate", {"password": "not-the-Password-9", "next": page})
    assert wrong.status_code == 400
    assert field_errors(wrong.content.decode(), "password") == ["Password is wrong."]
    assert AuditEvent.objects.filter(action="auth.reauthentication_failed").count() == 1
    assert thief.post(f"/w/{workspace.slug}/vault/set", secret_form("STOLEN")).status_code == 302
    assert not Secret.objects.filter(name="STOLEN").exists()
    back = thief.post("/reauthenticate", {"password": STRONG_PASSWORD, "next": page})
    assert back.status_code == 302 and back["Location"] == page
    assert thief.post(f"/w/{workspace.slug}/vault/set", secret_form("STOLEN")).status_code == 302
    assert Secret.objects.filter(name="STOLEN").exists()
    assert AuditEvent.objects.get(action="auth.reauthenticated").details == {"method": "password"}
    # The proof lasts its window, then is asked for again.
    clock.shift(LATER)
    assert thief.post(f"/w/{workspace.slug}/vault/set", secret_form("AGAIN")).status_code == 302
    assert not Secret.objects.filter(name="AGAIN").exists()


@pytest.mark.django_db
def test_api_session_confirms_with_a_code_and_tokens_are_not_asked(
    ada: User, workspace: Any, clock: Any
) -> None:
    enrolment = mfa.totp_enrol_begin(actor=ada)
    mfa.totp_enrol_confirm(actor=ada, code=pyotp.TOTP(enrolment.secret).now())
    clock.shift(timedelta(seconds=30))
    browser = https_client()
    browser.post("/login", {"username": ada.email, "password": STRONG_PASSWORD})
    assert (
        browser.post("/login/second-factor", {"code": pyotp.TOTP(enrolment.secret).now()}).status_code == 302
    )
    clock.shift(LATER)
    url = f"/api/v1/workspaces/{workspace.id}/secrets/VIA_API"
    assert browser.put(url, {"value": "x"}, content_type="application/json").status_code == 403
    code = pyotp.TOTP(enrolment.secret).now()
    confirmed = browser.post("/api/v1/me/reauthenticate", {"code": code}, content_type="application/json")
    assert confirmed.status_code == 204
    reused = browser.post("/api/v1/me/reauthenticate", {"code": code}, content_type="application/json")
    assert reused.status_code == 400, "a code is not accepted twice"
    assert browser.put(url, {"value": "x"}, content_type="application/json").status_code == 201
    empty = browser.post("/api/v1/me/reauthenticate", {}, content_type="application/json")
    assert empty.status_code == 400

    # A personal token is a credential of its own (made only after a step-up): not asked again.
    _, secret = tokens.token_create(actor=ada, name="ci", expires_in_days=1)
    clock.shift(LATER)
    api = https_client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    token_url = f"/api/v1/workspaces/{workspace.id}/secrets/VIA_TOKEN"
    assert api.put(token_url, {"value": "y"}, content_type="application/json").status_code == 201


@pytest.mark.django_db
def test_changing_the_email_asks_for_a_recent_proof_but_a_name_does_not(ada: User, clock: Any) -> None:
    """ASVS 7.5.1: the email is an authentication attribute (password resets go to it): a stolen session
    cannot redirect them to its own address without the password or a code."""
    thief = stolen(signed_in(ada))
    clock.shift(LATER)
    page = "https://testserver/profile"
    profile = {"first_name": "Ada", "last_name": "Lovelace", "email": "thief@example.net"}
    sent = thief.post("/profile", profile, HTTP_REFERER=page)
    assert sent.status_code == 302 and sent["Location"] == f"/reauthenticate?next={quote(page, safe='')}"
    api = thief.patch("/api/v1/me", {"email": "thief@example.net"}, content_type="application/json")
    assert api.status_code == 403 and api.json()["permission"] == "auth:recent"
    assert User.objects.get(pk=ada.pk).email == "ada@example.com"
    assert denied_for_step_up() == 2
    # The same address in other letters, and names, change without being asked.
    renamed = {**profile, "first_name": "Augusta", "email": "ADA@example.com"}
    assert thief.post("/profile", renamed).status_code == 302
    assert (
        thief.patch("/api/v1/me", {"last_name": "King"}, content_type="application/json").status_code == 200
    )
    assert (User.objects.get(pk=ada.pk).first_name, User.objects.get(pk=ada.pk).last_name) == (
        "Augusta",
        "King",
    )
    assert denied_for_step_up() == 2

    # With the password given again, the address changes.
    assert thief.post("/reauthenticate", {"password": STRONG_PASSWORD, "next": page}).status_code == 302
    assert thief.post("/profile", profile).status_code == 302
    assert User.objects.get(pk=ada.pk).email == "thief@example.net"


# --- which routes ask -----------------------------------------------------------------------------

STEP_UP_PAGES = {
    "web:tokens",
    "web:connector_toggle",
    "web:break_glass_approve",
    "web:vault_set",
    "web:vault_delete",
    "web:workspace_settings",
    "web:workspace_member_role",
    "web:access_role_update",
    "web:access_environment_set",
    "web:platform_provider_create",
    "web:platform_provider_delete",
    "web:platform_provider_create_saml",
    "web:session_end",
    "web:workspace_member_sessions_end",
}
STEP_UP_OPERATIONS = {
    "POST /me/tokens",
    "PUT /workspaces/{workspace_id}/connectors/{connector_key}",
    "POST /workspaces/{workspace_id}/break-glass/{session_id}/approve",
    "PUT /workspaces/{workspace_id}/secrets/{name}",
    "PATCH /workspaces/{workspace_id}",
    "PATCH /workspaces/{workspace_id}/members/{member_id}",
    "POST /platform/identity-providers",
    "POST /platform/identity-providers/saml",
    "PATCH /platform/identity-providers/{provider_id}",
    "DELETE /platform/identity-providers/{provider_id}",
    "DELETE /me/sessions/{session_handle}",
    "DELETE /workspaces/{workspace_id}/members/{member_id}/sessions",
}


def test_the_sensitive_pages_and_operations_ask_for_a_recent_proof() -> None:
    from django.urls import get_resolver

    from causeway.access.routes import declaration_of
    from causeway.api.api import api
    from causeway.tests.test_default_deny import walk

    pages = {
        name
        for _, name, callback in walk(get_resolver())
        if getattr(declaration_of(callback), "step_up", False)
    }
    assert STEP_UP_PAGES <= pages
    operations = {
        f"{method} {path}"
        for _, router in api._routers
        for path, path_view in router.path_operations.items()
        for op in path_view.operations
        for method in op.methods
        if getattr(declaration_of(op.view_func), "step_up", False)
    }
    assert STEP_UP_OPERATIONS <= operations
