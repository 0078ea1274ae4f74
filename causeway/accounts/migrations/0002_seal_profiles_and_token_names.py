"""Seal users' names and emails and API token names (rule 10), and index emails with a blind index.

Existing rows are sealed in place: each plaintext column is renamed aside, its sealed successor is
added, filled and made required, and the plaintext column is dropped, all in one transaction. Works
on SQLite (which rebuilds the table for some steps) and PostgreSQL alike. Sealing needs the vault's
root key, as every later write does; a database with no users never touches it.

Plaintext that was stored before may survive in free pages of an SQLite file and in dead rows and
the write-ahead log of PostgreSQL until they are reused: see docs/vault.md, "Upgrading an existing
installation", for the VACUUM that clears them.
"""

from django.db import migrations, models

import causeway.vault.fields

# Frozen here: the index is part of the stored data, so this migration must compute what it computed
# when it was written, whatever the application code says later.
EMAIL_INDEX_PURPOSE = "accounts.user.email"
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


def _refuse_case_duplicates(User):
    seen = {}
    for pk, email in User._base_manager.order_by("pk").values_list("pk", "email_plain"):
        key = (email or "").strip().lower()
        if key in seen:
            raise RuntimeError(
                f"users {seen[key]} and {pk} have the same email address apart from upper and lower "
                "case; emails are now unique in any case, so change or remove one of them and migrate again"
            )
        seen[key] = pk


def seal(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    ApiToken = apps.get_model("accounts", "ApiToken")
    if User._base_manager.exists():
        _refuse_case_duplicates(User)
        for batch in _batches(User):
            for user in batch:
                email = (user.email_plain or "").strip().lower()
                user.email = email
                user.email_index = causeway.vault.fields.blind_index(EMAIL_INDEX_PURPOSE, email)
                user.first_name = user.first_name_plain or ""
                user.last_name = user.last_name_plain or ""
                user.save(update_fields=["email", "email_index", "first_name", "last_name"])
    for batch in _batches(ApiToken):
        for token in batch:
            token.name = token.name_plain or ""
            token.save(update_fields=["name"])


def unseal(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    ApiToken = apps.get_model("accounts", "ApiToken")
    for batch in _batches(User):
        for user in batch:
            user.email_plain = user.email
            user.first_name_plain = user.first_name
            user.last_name_plain = user.last_name
            user.save(update_fields=["email_plain", "first_name_plain", "last_name_plain"])
    for batch in _batches(ApiToken):
        for token in batch:
            token.name_plain = token.name
            token.save(update_fields=["name_plain"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("vault", "0002_secrets_and_rotation"),
    ]

    operations = [
        migrations.RunPython(scrub_freed_space, scrub_freed_space),
        migrations.RenameField("user", "email", "email_plain"),
        migrations.RenameField("user", "first_name", "first_name_plain"),
        migrations.RenameField("user", "last_name", "last_name_plain"),
        migrations.RenameField("apitoken", "name", "name_plain"),
        # Not unique any more before it goes, so that migrating back can add it again to filled tables.
        migrations.AlterField("user", "email_plain", models.EmailField(max_length=254, null=True)),
        migrations.AlterField("user", "first_name_plain", models.CharField(max_length=150, null=True)),
        migrations.AlterField("user", "last_name_plain", models.CharField(max_length=150, null=True)),
        migrations.AlterField("apitoken", "name_plain", models.CharField(max_length=100, null=True)),
        migrations.AddField("user", "email", causeway.vault.fields.SealedTextField(null=True)),
        migrations.AddField(
            "user",
            "email_index",
            models.CharField(editable=False, max_length=80, null=True, unique=True),
        ),
        migrations.AddField("user", "first_name", causeway.vault.fields.SealedTextField(null=True)),
        migrations.AddField("user", "last_name", causeway.vault.fields.SealedTextField(null=True)),
        migrations.AddField("apitoken", "name", causeway.vault.fields.SealedTextField(null=True)),
        migrations.RunPython(seal, unseal),
        migrations.AlterField("user", "email", causeway.vault.fields.SealedTextField()),
        migrations.AlterField(
            "user", "email_index", models.CharField(editable=False, max_length=80, unique=True)
        ),
        migrations.AlterField("user", "first_name", causeway.vault.fields.SealedTextField()),
        migrations.AlterField("user", "last_name", causeway.vault.fields.SealedTextField()),
        migrations.AlterField("apitoken", "name", causeway.vault.fields.SealedTextField()),
        migrations.RemoveField("user", "email_plain"),
        migrations.RemoveField("user", "first_name_plain"),
        migrations.RemoveField("user", "last_name_plain"),
        migrations.RemoveField("apitoken", "name_plain"),
    ]
