"""Roles now live in `workspaces` (with the memberships that name them), recipe grants and roles'
project scopes in `recipes` (with the recipes and projects they name): see `workspaces.0005` and
`recipes.0003`. Here the policy forgets its record of them, and a group's roles point at
`workspaces.Role`. The tables, their rows and constraints stay as they are.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0006_job_history_for_analysts_and_operators"),
        ("workspaces", "0005_roles_kept_with_memberships"),
        ("recipes", "0003_grants_and_role_scopes_kept_with_recipes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="group",
                    name="roles",
                    field=models.ManyToManyField(blank=True, related_name="groups", to="workspaces.role"),
                ),
                migrations.RemoveField(model_name="role", name="projects"),
                migrations.DeleteModel(name="RecipeGrant"),
                migrations.DeleteModel(name="Role"),
            ],
            database_operations=[],
        ),
    ]
