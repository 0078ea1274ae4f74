"""Seal invitation emails (rule 10) under their workspace's keyset, with a blind index to find them by.

Existing invitations are sealed in place in one transaction, on SQLite and PostgreSQL alike: the
plaintext column is renamed aside, the sealed one added, filled and made required, the plaintext one
dropped. See docs/vault.md, "Upgrading an existing installation", for clearing old plaintext pages.
"""

from django.db import migrations, models

import causeway.vault.fields

# Frozen here: the index is stored data; this migration computes what it computed when written.
INVITATION_EMAIL_INDEX_PURPOSE = "workspaces.invitation.email"
BATCH = 500


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
    Invitation = apps.get_model("workspaces", "Invitation")
    for batch in _batches(Invitation):
        for invitation in batch:
            email = (invitation.email_plain or "").strip().lower()
            invitation.email = email
            invitation.email_index = causeway.vault.fields.blind_index(INVITATION_EMAIL_INDEX_PURPOSE, email)
            invitation.save(update_fields=["email", "email_index"])


def unseal(apps, schema_editor):
    Invitation = apps.get_model("workspaces", "Invitation")
    for batch in _batches(Invitation):
        for invitation in batch:
            invitation.email_plain = invitation.email
            invitation.save(update_fields=["email_plain"])


class Migration(migrations.Migration):
    dependencies = [
        ("workspaces", "0001_initial"),
        ("vault", "0002_secrets_and_rotation"),
    ]

    operations = [
        migrations.RunPython(scrub_freed_space, scrub_freed_space),
        migrations.RenameField("invitation", "email", "email_plain"),
        migrations.AlterField("invitation", "email_plain", models.EmailField(max_length=254, null=True)),
        migrations.AddField(
            "invitation",
            "email",
            causeway.vault.fields.SealedTextField(null=True, workspace_field="workspace"),
        ),
        migrations.AddField(
            "invitation",
            "email_index",
            models.CharField(db_index=True, editable=False, max_length=80, null=True),
        ),
        migrations.RunPython(seal, unseal),
        migrations.AlterField(
            "invitation", "email", causeway.vault.fields.SealedTextField(workspace_field="workspace")
        ),
        migrations.AlterField(
            "invitation", "email_index", models.CharField(db_index=True, editable=False, max_length=80)
        ),
        migrations.RemoveField("invitation", "email_plain"),
    ]
