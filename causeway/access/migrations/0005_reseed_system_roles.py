from django.db import migrations

from causeway.access.seed import ensure_system_roles


def seed(apps, schema_editor):
    ensure_system_roles(apps.get_model("access", "Role"))


class Migration(migrations.Migration):
    dependencies = [("access", "0004_groups_grants_environments")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
