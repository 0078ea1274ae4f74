"""Rule 10 applied: profile details, API token names, invitation emails and audit event text are sealed.

A stolen database (the SQLite file, or a `pg_dump`) shows none of them, in plain, hex or base64 form;
a ciphertext moved to another record refuses to open naming that record; email lookups (log in,
uniqueness, invitations) go through keyed blind indexes; the audit chain still verifies; rotation
re-seals everything but the append-only audit events, whose old keys therefore cannot be retired.
"""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test import RequestFactory

from causeway.access.members import platform_invitation_create, workspace_invitation_create
from causeway.accounts.models import User, email_index
from causeway.accounts.selectors import user_by_email
from causeway.accounts.services import profile_update, user_create
from causeway.audit import context
from causeway.audit.models import PLATFORM_CHAIN, AuditEvent, workspace_chain
from causeway.audit.selectors import audit_event_list
from causeway.audit.services import Actor, audit_record
from causeway.audit.tests.tamper import switch_off_triggers
from causeway.audit.verify import verify_chains
from causeway.tests.at_rest import database_bytes, found_in
from causeway.vault.events import publish
from causeway.vault.fields import StoredCiphertext, sealed_fields
from causeway.vault.keysets import PLATFORM_PURPOSE, WORKSPACE_PURPOSE, keyring, workspace_keyring
from causeway.vault.rotation import RotationError, key_status, reencrypt, retire_key, rotate_keyset
from causeway.vault.sealing import SealedValueError
from causeway.workspaces.models import ApiToken, Invitation, invitation_email_index
from causeway.workspaces.tokens import token_create
from testkit.support import STRONG_PASSWORD, https_client, make_user, make_workspace

CANARY_FIRST = "Qzxcanaryfirstname"
CANARY_LAST = "Qzxcanarylastname"
CANARY_EMAIL = "canary-mail-5e1b@example.com"
CANARY_TOKEN = "canary-token-name-8c2f"
CANARY_INVITEE = "canary-invitee-3a7d@example.com"
CANARY_AGENT = "CanaryAgent/9f4e (sealed-at-rest probe)"
CANARY_DETAIL = "canary-audit-detail-6b0c"
CANARIES = (
    CANARY_FIRST,
    CANARY_LAST,
    CANARY_EMAIL,
    CANARY_TOKEN,
    CANARY_INVITEE,
    CANARY_AGENT,
    CANARY_DETAIL,
)


@pytest.fixture
def canary_request() -> Iterator[None]:
    """Everything done in the test is done as from a browser whose user agent is a canary."""
    token = context.activate(
        context.RequestContext(request_id="req-canary", ip_address="203.0.113.7", user_agent=CANARY_AGENT)
    )
    yield
    context.deactivate(token)


def test_rule_10_the_forms_a_canary_is_looked_for_in_do_find_it() -> None:
    """The check itself: base64 of the value inside a longer base64 text is found at every alignment."""
    for prefix in (b"", b"a", b"ab", b"abc"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(prefix + CANARY_DETAIL.encode() + b"tail")
            assert found_in(text, CANARY_DETAIL), (prefix, encode)
    assert found_in(b"\\x" + CANARY_DETAIL.encode().hex().encode(), CANARY_DETAIL)
    assert not found_in(b"nothing here", CANARY_DETAIL)


@pytest.mark.django_db(transaction=True)
def test_rule_10_canaries_are_absent_from_the_database_file_or_dump(canary_request: None) -> None:
    staff = make_user("staff@example.com", staff=True)
    with transaction.atomic():
        user = user_create(
            actor=staff,
            email=CANARY_EMAIL,
            first_name=CANARY_FIRST,
            last_name=CANARY_LAST,
            password=STRONG_PASSWORD,
        )
    workspace = make_workspace("Canary Works", members={user: "admin"})
    token, _secret = token_create(actor=user, name=CANARY_TOKEN, expires_in_days=30)
    workspace_invitation_create(actor=user, workspace=workspace, email=CANARY_INVITEE, role="analyst")
    platform_invitation_create(actor=staff, email=f"platform-{CANARY_INVITEE}")
    with transaction.atomic():
        audit_record(
            actor=user,
            action="canary.noted",
            target=("thing", "1", CANARY_DETAIL),
            workspace_id=workspace.id,
            details={"note": CANARY_DETAIL, "who": CANARY_EMAIL},
        )

    stored = database_bytes()
    # Positive controls: what is not sealed is found, so this is the right database, fully read.
    assert found_in(stored, token.prefix)
    assert found_in(stored, "canary-works")
    assert found_in(stored, "canary.noted")
    for canary in CANARIES:
        assert not found_in(stored, canary), canary

    # And everything still reads back through the models.
    user = User.objects.get(pk=user.pk)
    assert (user.email, user.first_name, user.last_name) == (CANARY_EMAIL, CANARY_FIRST, CANARY_LAST)
    assert ApiToken.objects.get(pk=token.pk).name == CANARY_TOKEN
    invited = Invitation.objects.get(email_index=invitation_email_index(CANARY_INVITEE))
    assert invited.email == CANARY_INVITEE
    noted = AuditEvent.objects.get(action="canary.noted")
    assert (noted.user_agent, noted.target_label, noted.details) == (
        CANARY_AGENT,
        CANARY_DETAIL,
        {"note": CANARY_DETAIL, "who": CANARY_EMAIL},
    )
    assert verify_chains().ok


def _raw(model: Any, pk: Any, column: str) -> StoredCiphertext:
    return StoredCiphertext(bytes(model.objects.values_list(column, flat=True).get(pk=pk)))


@pytest.mark.django_db
@pytest.mark.parametrize("column", ["first_name", "last_name", "email"])
def test_rule_10_a_users_ciphertext_moved_to_another_user_refuses_naming_the_record(column: str) -> None:
    ada = make_user("ada@example.com", first="Ada", last="Lovelace")
    bob = make_user("bob@example.com", first="Bob", last="Babbage")
    User.objects.filter(pk=bob.pk).update(**{column: _raw(User, ada.pk, column)})
    with pytest.raises(SealedValueError) as refused:
        getattr(User.objects.get(pk=bob.pk), column)
    message = str(refused.value)
    assert f"accounts_user row {bob.pk} field {column} (the platform)" in message
    assert "another record or was altered" in message
    # Nothing of Ada's in it (the record's id is random hex, which may itself hold "ada").
    assert "ada" not in message.replace(str(bob.pk), "").lower()
    # Ada's own row is untouched and still opens.
    assert getattr(User.objects.get(pk=ada.pk), column) == getattr(ada, column)


@pytest.mark.django_db
def test_rule_10_token_names_and_invitation_emails_moved_elsewhere_refuse_naming_the_record() -> None:
    ada = make_user("ada@example.com")
    mine, _ = token_create(actor=ada, name="mine", expires_in_days=5)
    other, _ = token_create(actor=ada, name="other", expires_in_days=5)
    ApiToken.objects.filter(pk=other.pk).update(name=_raw(ApiToken, mine.pk, "name"))
    with pytest.raises(SealedValueError, match=f"workspaces_apitoken row {other.pk} field name"):
        ApiToken.objects.get(pk=other.pk).name  # noqa: B018

    acme = make_workspace("Acme", members={ada: "admin"})
    globex = make_workspace("Globex", members={ada: "admin"})
    here = workspace_invitation_create(actor=ada, workspace=acme, email="one@example.com", role="analyst")
    there = workspace_invitation_create(actor=ada, workspace=globex, email="two@example.com", role="analyst")
    Invitation.objects.filter(pk=there.invitation.pk).update(
        email=_raw(Invitation, here.invitation.pk, "email")
    )
    with pytest.raises(SealedValueError) as refused:
        Invitation.objects.get(pk=there.invitation.pk).email  # noqa: B018
    assert f"workspaces_invitation row {there.invitation.pk} field email (workspace {globex.id})" in str(
        refused.value
    )


@pytest.mark.django_db
def test_rule_10_an_audit_detail_moved_to_another_event_is_named_by_verify() -> None:
    workspace = uuid.uuid4()
    events = []
    for n in range(3):
        with transaction.atomic():
            events.append(
                audit_record(actor=None, action=f"thing.{n}", workspace_id=workspace, details={"n": n})
            )
    switch_off_triggers()
    AuditEvent.objects.filter(pk=events[1].pk).update(details=_raw(AuditEvent, events[0].pk, "details"))
    report = next(r for r in verify_chains().chains if r.chain == workspace_chain(workspace))
    assert report.problem is not None
    assert (report.problem.seq, report.problem.kind) == (2, "changed")
    assert (
        f"audit_auditevent row {events[1].pk} field details (workspace {workspace})" in report.problem.reason
    )


@pytest.mark.django_db
def test_rule_10_login_by_email_works_in_any_case_through_the_blind_index() -> None:
    user_create(
        actor=None,
        email="  Ada.Lovelace@Example.COM ",
        first_name="Ada",
        last_name="Lovelace",
        password=STRONG_PASSWORD,
    )
    ada = User.objects.get(email_index=email_index("ada.lovelace@example.com"))
    assert ada.email == "ada.lovelace@example.com"
    assert ada.get_username() == "ada.lovelace@example.com"
    assert User.objects.get_by_natural_key("ADA.LOVELACE@example.com") == ada
    assert user_by_email(email=" ada.LOVELACE@EXAMPLE.com") == ada

    client = https_client()
    response = client.post("/login", {"username": "ADA.Lovelace@example.Com", "password": STRONG_PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.session["_auth_user_id"] == str(ada.pk)

    refused = https_client().post(
        "/login", {"username": "ada.lovelace@example.org", "password": STRONG_PASSWORD}
    )
    assert refused.status_code == 200 and "Email or password is wrong." in refused.content.decode()

    request = RequestFactory().post("/login")
    assert authenticate(request, username="Ada.LoveLace@example.com", password=STRONG_PASSWORD) == ada

    # The index column is shorter than an address may be; the login form takes the address, not the index.
    long_address = f"{'l' * 90}@{'e' * 60}.example.com"
    user_create(actor=None, email=long_address, first_name="Lo", last_name="Ng", password=STRONG_PASSWORD)
    response = https_client().post("/login", {"username": long_address.upper(), "password": STRONG_PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
def test_rule_10_email_uniqueness_holds_in_any_case_and_follows_a_changed_email() -> None:
    ada = user_create(
        actor=None, email="ada@example.com", first_name="Ada", last_name="Lee", password=STRONG_PASSWORD
    )
    with pytest.raises(ValidationError) as taken:
        user_create(
            actor=None, email="ADA@Example.com", first_name="Eve", last_name="Lee", password=STRONG_PASSWORD
        )
    assert taken.value.message_dict == {"email": ["Email is already used by another account."]}

    profile_update(actor=ada, user=ada, email="Ada.New@example.com")
    assert User.objects.get_by_natural_key("ADA.NEW@example.com") == ada
    assert user_by_email(email="ada@example.com") is None
    # The old address is free again; the database itself refuses a second account on the new one.
    user_create(
        actor=None, email="ada@example.com", first_name="Eve", last_name="Lee", password=STRONG_PASSWORD
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(email="ada.new@EXAMPLE.com", password=None, first_name="Mal", last_name="X")


@pytest.mark.django_db
def test_rule_10_one_pending_invitation_per_email_is_checked_through_the_blind_index() -> None:
    admin = make_user("admin@example.com")
    acme = make_workspace("Acme", members={admin: "admin"})
    workspace_invitation_create(actor=admin, workspace=acme, email="New@Example.com", role="analyst")
    with pytest.raises(ValidationError, match="already has a pending invitation"):
        workspace_invitation_create(actor=admin, workspace=acme, email="new@EXAMPLE.com", role="operator")
    with pytest.raises(ValidationError, match="already a member"):
        workspace_invitation_create(actor=admin, workspace=acme, email="ADMIN@example.com", role="operator")


@pytest.mark.django_db
def test_rule_10_the_actor_filter_finds_part_of_a_sealed_label_over_the_whole_log() -> None:
    workspace = uuid.uuid4()
    bob = Actor(type="user", id="u-bob", label="bob@acme.example")
    ada = Actor(type="user", id="u-ada", label="ada@acme.example")
    for n in range(130):
        with transaction.atomic():
            audit_record(actor=bob if n % 3 == 0 else ada, action=f"thing.{n}", workspace_id=workspace)
    bobs = list(audit_event_list(workspace_id=workspace, actor="BOB@")[:100])
    assert len(bobs) == 44 and {e.actor_label for e in bobs} == {"bob@acme.example"}
    assert [e.seq for e in bobs] == sorted((n + 1 for n in range(0, 130, 3)), reverse=True)
    assert audit_event_list(workspace_id=workspace, actor="u-ada").count() == 86
    assert audit_event_list(workspace_id=workspace, actor="acme.EXAMPLE").count() == 130
    assert audit_event_list(workspace_id=workspace, actor="carol").count() == 0
    # Another workspace's identical label is another index: nothing crosses chains.
    with transaction.atomic():
        audit_record(actor=bob, action="elsewhere", workspace_id=uuid.uuid4())
    assert audit_event_list(workspace_id=workspace, actor="bob@").count() == 44
    assert verify_chains([workspace_chain(workspace)]).ok


def _usage() -> dict[tuple[str, uuid.UUID | None, int | None], Any]:
    return {(u.purpose, u.workspace_id, u.key_id): u for u in key_status()}


@pytest.fixture
def every_sealed_table(transactional_db: None) -> Iterator[None]:
    """Rotation walks every registered sealed model. The vault's test-only sample model is registered as
    soon as its tests are collected, but its table is made only when they start: make it if missing."""
    existing = set(connection.introspection.table_names())
    missing = list({f.model for f in sealed_fields() if f.model._meta.db_table not in existing})
    with connection.schema_editor() as editor:
        for model in missing:
            editor.create_model(model)
    yield
    with connection.schema_editor() as editor:
        for model in missing:
            editor.delete_model(model)


@pytest.mark.django_db(transaction=True)
def test_rule_10_rotation_moves_accounts_tokens_invitations_but_audit_events_keep_their_old_key(
    every_sealed_table: None,
) -> None:
    staff = make_user("staff@example.com", staff=True)
    ada = make_user("ada@example.com")
    acme = make_workspace("Acme", members={ada: "admin"})
    token, _ = token_create(actor=ada, name="deploy", expires_in_days=30)
    platform_invitation_create(actor=staff, email="someone@example.com")
    workspace_invitation_create(actor=ada, workspace=acme, email="newcomer@example.com", role="analyst")
    platform_events = AuditEvent.objects.filter(chain=PLATFORM_CHAIN).count()
    acme_events = AuditEvent.objects.filter(chain=workspace_chain(acme.id)).count()
    assert platform_events and acme_events
    old_platform = keyring(PLATFORM_PURPOSE, None).primary_key_id
    old_acme = workspace_keyring(acme.id).primary_key_id

    new_platform = rotate_keyset(workspace_id=None, on_change=publish).new_key_id
    new_acme = rotate_keyset(workspace_id=acme.id, on_change=publish).new_key_id
    report = reencrypt(on_change=publish)
    assert report.complete and not report.failed
    # Users (3 columns each), the token's name, the platform invitation's email, the workspace's invitation.
    assert report.resealed == 2 * 3 + 1 + 1 + 1

    usage = _usage()
    audit_columns = 4
    old = usage[(PLATFORM_PURPOSE, None, old_platform)]
    assert dict(old.tables) == {"audit_auditevent": platform_events * audit_columns}
    assert old.kept == old.uses == platform_events * audit_columns
    new = dict(usage[(PLATFORM_PURPOSE, None, new_platform)].tables)
    assert (new["accounts_user"], new["workspaces_apitoken"], new["workspaces_invitation"]) == (6, 1, 1)
    # Only events written after the rotation (the key operations themselves) are under the new key.
    assert new["audit_auditevent"] == audit_columns * (
        AuditEvent.objects.filter(chain=PLATFORM_CHAIN).count() - platform_events
    )
    assert dict(usage[(WORKSPACE_PURPOSE, acme.id, old_acme)].tables) == {
        "audit_auditevent": acme_events * audit_columns
    }
    assert dict(usage[(WORKSPACE_PURPOSE, acme.id, new_acme)].tables)["workspaces_invitation"] == 1

    # Nothing was lost: every sealed value opens, and the chains verify.
    assert {(u.email, u.first_name) for u in User.objects.all()} == {
        ("staff@example.com", "Ada"),
        ("ada@example.com", "Ada"),
    }
    assert ApiToken.objects.get(pk=token.pk).name == "deploy"
    assert {i.email for i in Invitation.objects.all()} == {"someone@example.com", "newcomer@example.com"}
    assert verify_chains().ok

    # The old keys cannot be retired while audit events use them, however long one waits.
    with pytest.raises(RotationError) as refused:
        retire_key(key_id=old_platform, on_change=publish)
    assert f"still seals {platform_events * audit_columns} value(s)" in str(refused.value)
    assert f"{platform_events * audit_columns} in audit_auditevent" in str(refused.value)
    assert "append-only and never re-encrypted" in str(refused.value)
    with pytest.raises(CommandError, match="audit_auditevent"):
        call_command("keys", "retire", str(old_acme), "--workspace", "acme", stdout=io.StringIO())
    status = io.StringIO()
    call_command("keys", "status", stdout=status)
    assert any(
        line.split()[:5]
        == ["platform", str(old_platform), "old", str(platform_events * audit_columns), "value(s)"]
        for line in status.getvalue().splitlines()
    ), status.getvalue()


@pytest.mark.django_db
def test_rule_10_sign_in_throttling_keyed_by_the_blind_index_keeps_addresses_out_of_axes(
    settings: Any,
) -> None:
    """With `AXES_USERNAME_CALLABLE` set to `login_throttle_key` (see docs/vault.md), axes' tables hold
    the email's blind index instead of the email, and throttling and its reset work as before."""
    from axes.models import AccessAttempt

    settings.AXES_USERNAME_CALLABLE = "causeway.accounts.services.login_throttle_key"
    settings.AXES_DISABLE_ACCESS_LOG = True
    make_user("ada@example.com")
    client = https_client()

    def attempt(email: str, password: str) -> int:
        return int(client.post("/login", {"username": email, "password": password}).status_code)

    assert attempt("Ada@Example.com", "wrong-password-1") == 200
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == [email_index("ada@example.com")]
    assert attempt("ada@example.com", STRONG_PASSWORD) == 302  # the same key: the failures are reset
    assert not AccessAttempt.objects.exists()

    client = https_client()
    assert [attempt("ADA@example.com", f"wrong-password-{n}") for n in range(5)] == [200] * 5
    assert attempt("ada@EXAMPLE.com", STRONG_PASSWORD) == 429
    stored = AccessAttempt.objects.values_list("username", "post_data")
    assert [username for username, _ in stored] == [email_index("ada@example.com")]
    assert all("ada@" not in post_data.lower() for _, post_data in stored)
