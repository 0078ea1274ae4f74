"""Roles are kept with the memberships and invitations that name them (`workspaces.Role`).

Only Django's record of where the model lives changes: the table keeps its name (`access_role`), its
rows, its constraints and the foreign keys that point at it, so nothing is copied and nothing is
locked. `access.0007` then forgets its own record of the model.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("workspaces", "0004_api_tokens_of_both_kinds"),
        ("access", "0006_job_history_for_analysts_and_operators"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Role",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        ("key", models.SlugField(max_length=60)),
                        ("name", models.CharField(max_length=100)),
                        ("is_system", models.BooleanField(default=False)),
                        ("permissions", models.JSONField(default=list)),
                        ("all_projects", models.BooleanField(default=True)),
                        (
                            "workspace",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="roles",
                                to="workspaces.workspace",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "access_role",
                        "ordering": ["is_system", "name"],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("workspace__isnull", True)),
                                fields=("key",),
                                name="role_unique_system_key",
                            ),
                            models.UniqueConstraint(
                                fields=("workspace", "key"), name="role_unique_workspace_key"
                            ),
                        ],
                    },
                ),
                migrations.AlterField(
                    model_name="invitation",
                    name="role",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="workspaces.role",
                    ),
                ),
                migrations.AlterField(
                    model_name="membership",
                    name="role",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="memberships",
                        to="workspaces.role",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
