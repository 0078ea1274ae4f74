"""Recipe grants and roles' project scopes are kept with the recipes and projects they name
(`recipes.RecipeGrant`, `recipes.RoleProject`).

Only Django's record of where the models live changes: the tables keep their names
(`access_recipegrant`, and `access_role_projects`, which Django made for the role's list of projects),
their rows, constraints and indexes, so nothing is copied. `access.0007` then forgets its own record
of them.
"""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("recipes", "0002_lookup_key_index_length"),
        ("access", "0006_job_history_for_analysts_and_operators"),
        ("workspaces", "0005_roles_kept_with_memberships"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="RoleProject",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="recipes.project",
                            ),
                        ),
                        (
                            "role",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="workspaces.role",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "access_role_projects",
                        "unique_together": {("role", "project")},
                    },
                ),
                migrations.AddField(
                    model_name="project",
                    name="roles",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="projects",
                        through="recipes.RoleProject",
                        to="workspaces.role",
                    ),
                ),
                migrations.CreateModel(
                    name="RecipeGrant",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        ("read", models.BooleanField(default=False)),
                        ("write", models.BooleanField(default=False)),
                        ("execute", models.BooleanField(default=False)),
                        ("debug", models.BooleanField(default=False)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "group",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="recipe_grants",
                                to="access.group",
                            ),
                        ),
                        (
                            "recipe",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="grants",
                                to="recipes.recipe",
                            ),
                        ),
                        (
                            "service_account",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="recipe_grants",
                                to="workspaces.serviceaccount",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="recipe_grants",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "workspace",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="workspaces.workspace",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "access_recipegrant",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(
                                    models.Q(
                                        ("group__isnull", True),
                                        ("service_account__isnull", True),
                                        ("user__isnull", False),
                                    ),
                                    models.Q(
                                        ("group__isnull", True),
                                        ("service_account__isnull", False),
                                        ("user__isnull", True),
                                    ),
                                    models.Q(
                                        ("group__isnull", False),
                                        ("service_account__isnull", True),
                                        ("user__isnull", True),
                                    ),
                                    _connector="OR",
                                ),
                                name="recipe_grant_one_grantee",
                            ),
                            models.UniqueConstraint(
                                condition=models.Q(("user__isnull", False)),
                                fields=("recipe", "user"),
                                name="recipe_grant_unique_user",
                            ),
                            models.UniqueConstraint(
                                condition=models.Q(("service_account__isnull", False)),
                                fields=("recipe", "service_account"),
                                name="recipe_grant_unique_service_account",
                            ),
                            models.UniqueConstraint(
                                condition=models.Q(("group__isnull", False)),
                                fields=("recipe", "group"),
                                name="recipe_grant_unique_group",
                            ),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
