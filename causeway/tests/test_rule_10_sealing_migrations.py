"""Rule 10 for installations that ran the foundation: the data migrations seal rows already stored.

The test migrates the real test database back to before the sealing migrations (which unseals what is
there), writes rows the way the foundation wrote them (plaintext, and an audit event linked into its
chain with a real MAC), migrates forward again and checks that everything is sealed, opens, is found
through its blind index, verifies, and that the audit table is append-only again. On SQLite and on
PostgreSQL alike.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from causeway.access.members import workspace_invitation_create
from causeway.accounts.models import User
from causeway.accounts.services import user_create
from causeway.audit import canonical
from causeway.audit.models import AuditEvent, workspace_chain
from causeway.audit.selectors import audit_event_list
from causeway.audit.services import MAC_PURPOSE
from causeway.audit.verify import verify_chains
from causeway.tests.at_rest import database_bytes, found_in
from causeway.vault import mac
from causeway.workspaces.models import ApiToken, Invitation, Role, invitation_email_index
from causeway.workspaces.tokens import token_create
from testkit.support import STRONG_PASSWORD, make_user, make_workspace, migrate_database

BEFORE_SEALING = [
    ("accounts", "0001_initial"),
    ("workspaces", "0001_initial"),
    ("audit", "0003_head_forward_only"),
]
LEGACY = {
    "first": "Legacyfirstname",
    "last": "Legacylastname",
    "token": "legacy-token-name-41c9",
    "invitee": "legacy-invitee-41c9@example.com",
    "agent": "LegacyAgent/41c9",
    "detail": "legacy-detail-41c9",
    "target": "legacy target label 41c9",
}


def _legacy_event(old: Any, workspace_id: uuid.UUID, actor: User) -> uuid.UUID:
    """Append an event as the foundation did: plaintext columns, MAC over the canonical content."""
    chain = workspace_chain(workspace_id)
    head = old.get_model("audit", "AuditChainHead").objects.get(chain=chain)
    event = old.get_model("audit", "AuditEvent")(
        id=uuid.uuid4(),
        chain=chain,
        seq=head.seq + 1,
        workspace_id=workspace_id,
        occurred_at=timezone.now(),
        actor_type="user",
        actor_id=str(actor.pk),
        actor_label=actor.email,
        action="legacy.acted",
        target_type="thing",
        target_id="1",
        target_label=LEGACY["target"],
        outcome="success",
        ip_address="192.0.2.1",
        user_agent=LEGACY["agent"],
        request_id="req-legacy",
        details={"note": LEGACY["detail"], "count": 3},
        prev_mac=bytes(head.mac),
        mac=b"",
        mac_key_id=0,
    )
    tag = mac.compute(MAC_PURPOSE, canonical.event_content(event))
    event.mac, event.mac_key_id = tag.value, tag.key_id
    with transaction.atomic():
        event.save(force_insert=True)
        type(head).objects.filter(chain=chain).update(seq=event.seq, mac=event.mac)
    return event.id


@pytest.mark.django_db(transaction=True)
def test_rule_10_the_migrations_seal_rows_written_before_them(latest_afterwards: None) -> None:
    # Rows written by today's code: migrating back unseals them, forward seals them again.
    admin = make_user("admin@example.com", first="Adele", last="Admin")
    acme = make_workspace("Acme", members={admin: "admin"})
    today_token, _ = token_create(actor=admin, name="today", expires_in_days=5)
    workspace_invitation_create(actor=admin, workspace=acme, email="today@example.com", role="operator")
    with transaction.atomic():
        user_create(
            actor=admin, email="eve@example.com", first_name="Eve", last_name="Ng", password=STRONG_PASSWORD
        )

    old = migrate_database(BEFORE_SEALING)
    OldUser = old.get_model("accounts", "User")
    assert OldUser.objects.get(pk=admin.pk).email == "admin@example.com"  # plaintext again
    legacy = OldUser.objects.create(
        email="Legacy.Person@Example.COM",  # the foundation kept what it was given
        first_name=LEGACY["first"],
        last_name=LEGACY["last"],
        password=make_password(STRONG_PASSWORD),
    )
    old_token = old.get_model("accounts", "ApiToken").objects.create(
        user_id=legacy.pk,
        name=LEGACY["token"],
        prefix="legacy41c9ab",
        digest="4" * 64,
        expires_at=timezone.now() + timedelta(days=3),
    )
    old_invitation = old.get_model("workspaces", "Invitation").objects.create(
        workspace_id=acme.pk,
        email=LEGACY["invitee"],
        role_id=Role.objects.get(workspace=None, key="analyst").pk,
        digest="5" * 64,
        expires_at=timezone.now() + timedelta(days=3),
    )
    legacy_event = _legacy_event(old, acme.pk, legacy)
    assert found_in(database_bytes(), LEGACY["detail"])  # the control: plaintext before the migration
    if connection.vendor == "sqlite":
        # As on SQLite builds that do not overwrite freed space by default (Debian's does): the
        # migration must switch that on itself, or the old plaintext stays in the file's free pages.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA secure_delete = OFF")

    migrate_database()

    person = User.objects.get_by_natural_key("LEGACY.PERSON@example.com")
    assert (person.pk, person.email, person.first_name, person.last_name) == (
        legacy.pk,
        "legacy.person@example.com",
        LEGACY["first"],
        LEGACY["last"],
    )
    assert person.check_password(STRONG_PASSWORD)
    assert ApiToken.objects.get(pk=old_token.pk).name == LEGACY["token"]
    assert ApiToken.objects.get(pk=today_token.pk).name == "today"
    invitation = Invitation.objects.get(email_index=invitation_email_index(LEGACY["invitee"].upper()))
    assert (invitation.pk, invitation.email) == (old_invitation.pk, LEGACY["invitee"])
    assert Invitation.objects.get(email_index=invitation_email_index("today@example.com")).workspace == acme
    assert User.objects.get_by_natural_key("admin@example.com").first_name == "Adele"

    event = AuditEvent.objects.get(pk=legacy_event)
    assert (event.actor_label, event.target_label, event.user_agent, event.details) == (
        "Legacy.Person@Example.COM",  # audit text is kept exactly as it was written
        LEGACY["target"],
        LEGACY["agent"],
        {"note": LEGACY["detail"], "count": 3},
    )
    assert [e.pk for e in audit_event_list(workspace_id=acme.pk, actor="legacy.PERSON")] == [legacy_event]
    verification = verify_chains()
    assert verification.ok, [r.problem for r in verification.bad]

    # Every sealed column holds ciphertext only, and the dump holds none of the old plaintext.
    raw = User.objects.filter(pk=legacy.pk).values_list("email", "first_name", "last_name").get()
    assert all(isinstance(value, bytes | memoryview) for value in raw)
    stored = database_bytes()
    for value in LEGACY.values():
        assert not found_in(stored, value), value

    # The audit table is append-only again.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=legacy_event).update(action="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=legacy_event).delete()


@pytest.mark.django_db(transaction=True)
def test_rule_10_the_user_migration_refuses_emails_equal_but_for_case(latest_afterwards: None) -> None:
    old = migrate_database(BEFORE_SEALING)
    OldUser = old.get_model("accounts", "User")
    first = OldUser.objects.create(email="twin@example.com", first_name="Tw", last_name="In", password="!")
    second = OldUser.objects.create(email="TWIN@example.com", first_name="Tw", last_name="In", password="!")
    with pytest.raises(RuntimeError) as refused:
        migrate_database()
    # Nothing was half done: the user table is still as the foundation left it.
    assert OldUser.objects.filter(email__iexact="twin@example.com").count() == 2
    OldUser.objects.filter(pk=second.pk).delete()
    ids = sorted([str(first.pk), str(second.pk)])
    assert f"users {ids[0]} and {ids[1]} have the same email address apart from" in str(refused.value)
