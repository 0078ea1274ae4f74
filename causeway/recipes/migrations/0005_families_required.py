"""The families made in the previous migration become required: every copy of a project names its
project, once per environment; every recipe and lookup table names its family, once per project copy."""

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("recipes", "0004_one_project_three_environments")]

    operations = [
        migrations.AlterField(
            model_name="project", name="family", field=models.UUIDField(default=uuid.uuid4, editable=False)
        ),
        migrations.AlterField(
            model_name="recipe", name="family", field=models.UUIDField(default=uuid.uuid4, editable=False)
        ),
        migrations.AlterField(
            model_name="lookuptable",
            name="family",
            field=models.UUIDField(default=uuid.uuid4, editable=False),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.UniqueConstraint(
                fields=("family", "environment"), name="project_one_copy_per_environment"
            ),
        ),
        migrations.AddConstraint(
            model_name="recipe",
            constraint=models.UniqueConstraint(
                fields=("project", "family"), name="recipe_one_copy_per_project"
            ),
        ),
        migrations.AddConstraint(
            model_name="lookuptable",
            constraint=models.UniqueConstraint(
                fields=("project", "family"), name="lookup_table_one_copy_per_project"
            ),
        ),
    ]
