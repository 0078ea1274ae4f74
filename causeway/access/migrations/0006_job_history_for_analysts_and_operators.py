"""Analysts and Operators hold `recipe:debug` (a recipe's whole job history, rule 4): installations
seeded before get it on their stored system roles."""

from django.db import migrations

from causeway.access.seed import ensure_system_roles

ROLES_GIVEN_DEBUG = ("analyst", "operator")


def seed(apps, schema_editor):
    ensure_system_roles(apps.get_model("access", "Role"))


def take_back(apps, schema_editor):
    role_model = apps.get_model("access", "Role")
    for role in role_model.objects.filter(workspace=None, is_system=True, key__in=ROLES_GIVEN_DEBUG):
        role.permissions = [p for p in role.permissions if p != "recipe:debug"]
        role.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [("access", "0005_reseed_system_roles")]
    operations = [migrations.RunPython(seed, take_back)]
