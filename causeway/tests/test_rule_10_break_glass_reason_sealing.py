"""Rule 10 for installations that asked for break-glass access before reasons were sealed: the
migration seals every reason already stored, and the plaintext leaves the database."""

from __future__ import annotations

import pytest
from django.db import connection

from causeway.runs.models import BreakGlass
from causeway.tests.at_rest import database_bytes, found_in
from testkit.support import make_user, make_workspace, migrate_database

LEGACY_REASON = "legacy incident 5521 for customer Quibbleton"


@pytest.mark.django_db(transaction=True)
def test_rule_10_the_migration_seals_break_glass_reasons_stored_before_it(latest_afterwards: None) -> None:
    holder = make_user("holder@example.com", first="Hana", last="Holder")
    acme = make_workspace("Acme", members={holder: "operator"})
    old = migrate_database([("runs", "0005_break_glass")])
    legacy = old.get_model("runs", "BreakGlass").objects.create(
        workspace_id=acme.pk, user_id=holder.pk, reason=LEGACY_REASON, minutes=30
    )
    assert found_in(database_bytes(), LEGACY_REASON)  # the control: plaintext before the migration
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA secure_delete = OFF")

    migrate_database()

    sealed = BreakGlass.objects.get(pk=legacy.pk)
    assert (sealed.reason, sealed.status, sealed.closed_by, sealed.closed_label) == (
        LEGACY_REASON,
        "requested",
        None,
        "",
    )
    assert found_in(database_bytes(), LEGACY_REASON) == []
