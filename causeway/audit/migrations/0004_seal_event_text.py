"""Seal the free text of audit events (rule 10): actor and target labels, user agent and details.

Audit events are append-only: triggers refuse every UPDATE. Sealing the events already written is
the one sanctioned rewrite of the table. This migration runs in one transaction (on SQLite and on
PostgreSQL): it drops the events table's triggers, moves each plaintext column aside, adds its sealed
successor, copies every event's text into it (sealed under the event's workspace keyset, the
platform's for the platform chain), drops the plaintext columns and re-creates the triggers at the
end. If anything fails, all of it rolls back, the triggers included. Nothing else may ever do this.

The MAC of each event covers the canonical plaintext content, which this copy does not change, so
`causeway audit verify` passes before and after. See docs/vault.md, "Upgrading an existing
installation", for clearing old plaintext from free database pages.
"""

from django.db import migrations, models

import causeway.vault.fields
from causeway.audit.triggers import event_table_drop_sql, table_install_sql

# Frozen here: the index is stored data (and `causeway audit verify` checks it); this migration
# computes what it computed when written.
ACTOR_INDEX_PURPOSE = "audit.event.actor_label"
BATCH = 500
SEALED = ("actor_label", "target_label", "user_agent", "details")


def _execute(schema_editor, statements):
    # params=None: the PL/pgSQL bodies hold '%' of their own, which are not query parameters.
    for statement in statements:
        schema_editor.execute(statement, params=None)


def lift_triggers(apps, schema_editor):
    _execute(schema_editor, event_table_drop_sql(schema_editor.connection.vendor))


def restore_triggers(apps, schema_editor):
    _execute(schema_editor, table_install_sql(schema_editor.connection.vendor))


def scrub_freed_space(apps, schema_editor):
    """Have SQLite overwrite what it frees, so the plaintext this migration replaces leaves the file.

    Rows rewritten, tables rebuilt and columns dropped leave their old bytes in free pages unless
    secure_delete is on; many SQLite builds turn it on by default, not all. It stays on for the rest
    of this connection. (PostgreSQL keeps old row versions until VACUUM: see docs/vault.md.)
    """
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("PRAGMA secure_delete = ON")


def _batches(model):
    last = None
    while True:
        rows = model._base_manager.order_by("pk")
        if last is not None:
            rows = rows.filter(pk__gt=last)
        batch = list(rows[:BATCH])
        if not batch:
            return
        yield batch
        last = batch[-1].pk


def seal(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    for batch in _batches(AuditEvent):
        for event in batch:
            label = event.actor_label_plain or ""
            event.actor_label = label
            event.actor_index = causeway.vault.fields.blind_index(
                ACTOR_INDEX_PURPOSE, f"{event.chain}\n{label.casefold()}"
            )
            event.target_label = event.target_label_plain or ""
            event.user_agent = event.user_agent_plain or ""
            event.details = event.details_plain if event.details_plain is not None else {}
            event.save(update_fields=[*SEALED, "actor_index"])


def unseal(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    for batch in _batches(AuditEvent):
        for event in batch:
            for name in SEALED:
                setattr(event, f"{name}_plain", getattr(event, name))
            event.save(update_fields=[f"{name}_plain" for name in SEALED])


def _sealed_text(**kwargs):
    return causeway.vault.fields.SealedTextField(workspace_field="workspace_id", **kwargs)


def _sealed_json(**kwargs):
    return causeway.vault.fields.SealedJSONField(workspace_field="workspace_id", **kwargs)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_head_forward_only"),
        ("vault", "0002_secrets_and_rotation"),
    ]

    operations = [
        migrations.RunPython(scrub_freed_space, scrub_freed_space),
        migrations.RunPython(lift_triggers, restore_triggers),
        *(migrations.RenameField("auditevent", name, f"{name}_plain") for name in SEALED),
        migrations.AddField("auditevent", "actor_label", _sealed_text(null=True)),
        migrations.AddField("auditevent", "target_label", _sealed_text(null=True)),
        migrations.AddField("auditevent", "user_agent", _sealed_text(null=True)),
        migrations.AddField("auditevent", "details", _sealed_json(null=True)),
        migrations.AddField(
            "auditevent", "actor_index", models.CharField(blank=True, default="", max_length=80)
        ),
        migrations.RunPython(seal, unseal),
        migrations.AlterField("auditevent", "actor_label", _sealed_text()),
        migrations.AlterField("auditevent", "target_label", _sealed_text()),
        migrations.AlterField("auditevent", "user_agent", _sealed_text()),
        # Required first, then given its default: a schema editor making a column required computes the
        # default's stored form, and a sealed column refuses every value that is not sealed.
        migrations.AlterField("auditevent", "details", _sealed_json()),
        migrations.AlterField("auditevent", "details", _sealed_json(default=dict)),
        *(migrations.RemoveField("auditevent", f"{name}_plain") for name in SEALED),
        migrations.AddIndex(
            "auditevent", models.Index(fields=["chain", "actor_index"], name="audit_event_chain_actor")
        ),
        migrations.RunPython(restore_triggers, lift_triggers),
    ]
