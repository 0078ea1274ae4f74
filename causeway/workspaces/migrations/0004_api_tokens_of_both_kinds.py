"""One API token model for people and service accounts (`workspaces.ApiToken`, with a kind).

Every existing token is copied with its id, prefix, digest and times, so each secret already handed
out keeps working; each name is sealed under the platform's keyset, bound to its new row (a service
account token's name was stored in plaintext until now). `accounts.0003` then drops the personal
tokens' old table. Migrating back copies the tokens to the two old tables.

Plaintext names that were stored before may survive in free pages of an SQLite file and in dead rows
of PostgreSQL until they are reused: see docs/vault.md, "Upgrading an existing installation".
"""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import causeway.vault.fields

PERSONAL = "personal"
SERVICE_ACCOUNT = "service_account"
BATCH = 500
COPIED = ("id", "prefix", "digest", "expires_at", "revoked_at", "last_used_at")


def scrub_freed_space(apps, schema_editor):
    """Have SQLite overwrite what it frees, so the plaintext names dropped here leave the file."""
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


def _copy(source, target, owner, **fixed):
    """Copy every row of source into target: the name through the models (sealed and opened under each
    row's own binding), the creation time afterwards (`auto_now_add` would replace it)."""
    for batch in _batches(source):
        for old in batch:
            new = target(name=old.name, **fixed, **{field: getattr(old, field) for field in COPIED})
            setattr(new, f"{owner}_id", getattr(old, f"{owner}_id"))
            new.save(force_insert=True)
            target._base_manager.filter(pk=old.pk).update(created_at=old.created_at)


def forward(apps, schema_editor):
    ApiToken = apps.get_model("workspaces", "ApiToken")
    _copy(apps.get_model("accounts", "ApiToken"), ApiToken, "user", kind=PERSONAL)
    _copy(
        apps.get_model("workspaces", "ServiceAccountToken"), ApiToken, "service_account", kind=SERVICE_ACCOUNT
    )


def backward(apps, schema_editor):
    ApiToken = apps.get_model("workspaces", "ApiToken")
    kinds = {
        PERSONAL: ("accounts", "ApiToken", "user"),
        SERVICE_ACCOUNT: ("workspaces", "ServiceAccountToken", "service_account"),
    }
    for kind, (app, name, owner) in kinds.items():
        target = apps.get_model(app, name)
        for batch in _batches(ApiToken):
            for token in batch:
                if token.kind != kind:
                    continue
                old = target(name=token.name, **{field: getattr(token, field) for field in COPIED})
                setattr(old, f"{owner}_id", getattr(token, f"{owner}_id"))
                old.save(force_insert=True)
                target._base_manager.filter(pk=token.pk).update(created_at=token.created_at)


class Migration(migrations.Migration):
    dependencies = [
        ("workspaces", "0003_serviceaccount_serviceaccounttoken_and_more"),
        ("accounts", "0002_seal_profiles_and_token_names"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(scrub_freed_space, scrub_freed_space),
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                (
                    "id",
                    models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("personal", "personal"), ("service_account", "service account")],
                        max_length=20,
                    ),
                ),
                ("name", causeway.vault.fields.SealedTextField()),
                ("prefix", models.CharField(max_length=16, unique=True)),
                ("digest", models.CharField(max_length=64, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("expires_at", models.DateTimeField()),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                (
                    "service_account",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tokens",
                        to="workspaces.serviceaccount",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                ("kind", "personal"),
                                ("service_account__isnull", True),
                                ("user__isnull", False),
                            ),
                            models.Q(
                                ("kind", "service_account"),
                                ("service_account__isnull", False),
                                ("user__isnull", True),
                            ),
                            _connector="OR",
                        ),
                        name="api_token_one_owner_of_its_kind",
                    )
                ],
            },
        ),
        migrations.RunPython(forward, backward),
        migrations.DeleteModel(name="ServiceAccountToken"),
    ]
