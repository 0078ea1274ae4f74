from django.db import migrations

from causeway.access.perms import SYSTEM_ROLE_NAMES, SYSTEM_ROLES


def seed(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    for key, perms in SYSTEM_ROLES.items():
        Role.objects.update_or_create(
            workspace=None,
            key=key,
            defaults={
                "name": SYSTEM_ROLE_NAMES[key],
                "is_system": True,
                "permissions": sorted(str(p) for p in perms),
                "all_projects": True,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("access", "0002_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
