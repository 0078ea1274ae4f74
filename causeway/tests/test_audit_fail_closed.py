"""Rule 16, fail closed: when its audit event cannot be written, a privileged change does not happen
and the caller gets an error. (Here rather than in audit's tests: it drives the layers above audit.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.contrib.sessions.models import Session
from django.db import connection, transaction

from causeway.access.seed import ensure_system_roles
from causeway.accounts.actors import SYSTEM
from causeway.accounts.models import User, UserSession
from causeway.accounts.services import password_change
from causeway.audit.models import AuditEvent
from causeway.audit.services import AuditWriteError, audit_record
from causeway.audit.tests.tamper import sql
from causeway.vault import mac, rootkey
from causeway.workspaces.models import ApiToken
from causeway.workspaces.tokens import token_create
from testkit.support import STRONG_PASSWORD, RunningServer, https_client, make_user, make_workspace

NEW_PASSWORD = "another-Strong-pass-42"


def break_audit_storage() -> None:
    """A real failure inside the append: the database refuses every new audit row."""
    if connection.vendor == "postgresql":
        sql(
            "CREATE OR REPLACE FUNCTION test_audit_storage_failed() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit storage failed'; END; $$ LANGUAGE plpgsql"
        )
        sql(
            "CREATE TRIGGER test_audit_storage_failed BEFORE INSERT ON audit_auditevent "
            "FOR EACH ROW EXECUTE FUNCTION test_audit_storage_failed()"
        )
    else:
        sql(
            "CREATE TRIGGER test_audit_storage_failed BEFORE INSERT ON audit_auditevent "
            "BEGIN SELECT RAISE(ABORT, 'audit storage failed'); END"
        )


def repair_audit_storage() -> None:
    if connection.vendor == "postgresql":
        sql("DROP TRIGGER IF EXISTS test_audit_storage_failed ON audit_auditevent")
    else:
        sql("DROP TRIGGER IF EXISTS test_audit_storage_failed")


@pytest.fixture
def system_roles(transactional_db: None) -> None:
    """The system roles, as their data migration makes them; a committing test's flush removed them."""
    ensure_system_roles()


@pytest.fixture
def broken_storage(transactional_db: None) -> Iterator[None]:
    break_audit_storage()
    try:
        yield
    finally:
        repair_audit_storage()


def first_audit_event() -> None:
    """The keyset is made with the first event; break it afterwards, as it would break in production."""
    with transaction.atomic():
        audit_record(actor=SYSTEM, action="platform.started")


@pytest.mark.django_db
def test_rule_16_token_is_not_created_when_the_mac_keyset_is_unusable() -> None:
    user = make_user("ada@example.com")
    first_audit_event()
    sql("UPDATE vault_wrappedkeyset SET wrapped = %s WHERE purpose = %s", (b"\x00garbage", mac.AUDIT_PURPOSE))
    with pytest.raises(AuditWriteError, match=r"api_token\.created.*does not open under the root key"):
        token_create(actor=user, name="deploy", expires_in_days=30)
    assert not ApiToken.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_rule_16_token_is_not_created_when_the_root_key_is_missing(settings: Any, tmp_path: Any) -> None:
    user = make_user("ada@example.com")
    first_audit_event()
    settings.ROOT_KEY_FILE = tmp_path / "gone.json"
    mac.forget_cached_keysets()
    rootkey.forget_cached_keys()
    try:
        # The token's sealed name needs the root key too, so the refusal may come before the audit event.
        with pytest.raises((AuditWriteError, rootkey.RootKeyError), match="does not exist"):
            token_create(actor=user, name="deploy", expires_in_days=30)
    finally:
        mac.forget_cached_keysets()
    assert not ApiToken.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_rule_16_password_is_not_changed_when_the_audit_row_cannot_be_stored(client: Any) -> None:
    user = make_user("ada@example.com")
    client.force_login(user)
    assert UserSession.objects.filter(user=user).count() == 1
    break_audit_storage()
    with pytest.raises(AuditWriteError, match=r"user\.password_changed.*audit storage failed"):
        password_change(actor=user, user=user, current_password=STRONG_PASSWORD, new_password=NEW_PASSWORD)
    user = User.objects.get(pk=user.pk)
    assert user.check_password(STRONG_PASSWORD)
    assert not user.check_password(NEW_PASSWORD)
    # Nor did the sessions it would have ended go.
    assert UserSession.objects.filter(user=user).count() == 1
    assert Session.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_rule_16_audit_outside_a_transaction_is_refused(transactional_db: None) -> None:
    with pytest.raises(AuditWriteError, match="inside the transaction"):
        audit_record(actor=SYSTEM, action="platform.started")
    assert not AuditEvent.objects.exists()


def _login(server: RunningServer, email: str) -> tuple[httpx.Client, httpx.Response]:
    browser = httpx.Client(base_url=server.url, verify=False, follow_redirects=False)  # noqa: S501
    form = browser.get("/login")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None
    answer = browser.post(
        "/login",
        data={
            "csrfmiddlewaretoken": token.group(1),
            "username": email,
            "password": STRONG_PASSWORD,
            "next": "/",
        },
        headers={"Referer": f"{server.url}/login"},
    )
    return browser, answer


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_rule_16_login_over_https_fails_closed(https_server: RunningServer, broken_storage: None) -> None:
    make_user("ada@example.com")
    browser, answer = _login(https_server, "ada@example.com")
    try:
        assert answer.status_code == 500
        assert "__Host-causeway-session" not in answer.headers.get("set-cookie", "")
        # Not signed in: the home page still sends the browser to log in.
        home = browser.get("/")
        assert home.status_code == 302
        assert home.headers["location"].startswith("/login")
    finally:
        browser.close()
    assert not Session.objects.exists()
    assert not UserSession.objects.exists()
    assert User.objects.with_email("ada@example.com").get().last_login is None


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_rule_16_api_answers_an_error_not_data_when_a_denial_cannot_be_audited(
    https_server: RunningServer, transactional_db: None, system_roles: None
) -> None:
    analyst = make_user("ana@example.com")
    workspace = make_workspace("Acme", members={analyst: "analyst"})
    with transaction.atomic():
        audit_record(actor=SYSTEM, action="secret.thing", workspace_id=workspace.id)
    _, secret = token_create(actor=analyst, name="cli", expires_in_days=1)
    url = f"{https_server.url}/api/v1/workspaces/{workspace.id}/audit-events"
    headers = {"Authorization": f"Bearer {secret}"}
    refused = httpx.get(url, headers=headers, verify=False)  # noqa: S501
    assert refused.status_code == 403
    assert refused.json()["permission"] == "audit:view"
    denials = AuditEvent.objects.filter(action="access.denied").count()
    break_audit_storage()
    try:
        failed = httpx.get(url, headers=headers, verify=False)  # noqa: S501
    finally:
        repair_audit_storage()
    assert failed.status_code == 500
    assert "secret.thing" not in failed.text
    assert AuditEvent.objects.filter(action="access.denied").count() == denials


@pytest.mark.django_db
def test_rule_16_api_session_caller_gets_an_error_when_the_denial_cannot_be_audited() -> None:
    analyst = make_user("ana@example.com")
    workspace = make_workspace("Acme", members={analyst: "analyst"})
    client = https_client(raise_request_exception=False)
    client.force_login(analyst)
    break_audit_storage()
    answer = client.get(f"/api/v1/workspaces/{workspace.id}/audit-events")
    assert answer.status_code == 500
