"""One project, three environments: a project exists in DEV, TEST and PROD, each environment holding
its own copy of the project's content.

A project that was in one environment becomes that environment's copy; projects of one workspace
with the same name in different environments (the only way a project could reach more than one
environment before) become copies of one project; the missing copies are made, empty. Recipes and
lookup tables with the same name in the copies of one project are copies of one recipe or table.
Going back keeps every project (the empty copies made here stay, as projects of their own). The
families become required, and unique per environment, in the next migration: PostgreSQL does not
change a table in the transaction that has just written rows to it.
"""

import uuid
from collections import defaultdict

from django.db import migrations, models

ENVIRONMENTS = ("dev", "test", "prod")


def one_project_three_environments(apps, schema_editor):
    Project = apps.get_model("recipes", "Project")
    Recipe = apps.get_model("recipes", "Recipe")
    LookupTable = apps.get_model("recipes", "LookupTable")
    by_name = defaultdict(list)
    for project in Project.objects.order_by("created_at", "id"):
        by_name[(project.workspace_id, project.name)].append(project)
    for (workspace_id, name), copies in by_name.items():
        family = uuid.uuid4()
        Project.objects.filter(pk__in=[c.pk for c in copies]).update(family=family)
        first = copies[0]
        present = {c.environment for c in copies}
        for environment in ENVIRONMENTS:
            if environment not in present:
                Project.objects.create(
                    workspace_id=workspace_id,
                    environment=environment,
                    family=family,
                    name=name,
                    description=first.description,
                    created_by_id=first.created_by_id,
                )
        ids = [c.pk for c in copies]
        for model in (Recipe, LookupTable):
            same = defaultdict(list)
            for pk, item_name in model.objects.filter(project_id__in=ids).values_list("pk", "name"):
                same[item_name].append(pk)
            for pks in same.values():
                model.objects.filter(pk__in=pks).update(family=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("recipes", "0003_grants_and_role_scopes_kept_with_recipes")]

    operations = [
        migrations.AddField(model_name="project", name="family", field=models.UUIDField(null=True)),
        migrations.AddField(model_name="recipe", name="family", field=models.UUIDField(null=True)),
        migrations.AddField(model_name="lookuptable", name="family", field=models.UUIDField(null=True)),
        migrations.RunPython(one_project_three_environments, migrations.RunPython.noop),
    ]
