"""Break-glass sessions can be withdrawn, refused and ended early (who, when), and their reasons are
sealed (rule 10) under their workspace's keyset.

Existing reasons are sealed in place in one transaction, on SQLite and PostgreSQL alike: the plaintext
column is renamed aside, the sealed one added, filled and made required, the plaintext one dropped.
"""

from django.conf import settings
from django.db import migrations, models

import causeway.vault.fields

BATCH = 500


def scrub_freed_space(apps, schema_editor):
    """Have SQLite overwrite what it frees, so the plaintext this migration replaces leaves the file."""
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
    BreakGlass = apps.get_model("runs", "BreakGlass")
    for batch in _batches(BreakGlass):
        for session in batch:
            session.reason = session.reason_plain or ""
            session.save(update_fields=["reason"])


def unseal(apps, schema_editor):
    BreakGlass = apps.get_model("runs", "BreakGlass")
    for batch in _batches(BreakGlass):
        for session in batch:
            session.reason_plain = (session.reason or "")[:1000]
            session.save(update_fields=["reason_plain"])


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0006_api_endpoint_trigger"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(scrub_freed_space, scrub_freed_space),
        migrations.RenameField("breakglass", "reason", "reason_plain"),
        migrations.AlterField("breakglass", "reason_plain", models.CharField(max_length=1000, null=True)),
        migrations.AddField(
            "breakglass",
            "reason",
            causeway.vault.fields.SealedTextField(null=True, workspace_field="workspace"),
        ),
        migrations.RunPython(seal, unseal),
        migrations.AlterField(
            "breakglass", "reason", causeway.vault.fields.SealedTextField(workspace_field="workspace")
        ),
        migrations.RemoveField("breakglass", "reason_plain"),
        migrations.AddField(
            "breakglass",
            "closed_by",
            models.ForeignKey(
                blank=True,
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            "breakglass", "closed_label", models.CharField(blank=True, default="", max_length=320)
        ),
        migrations.AddField("breakglass", "closed_at", models.DateTimeField(blank=True, null=True)),
    ]
