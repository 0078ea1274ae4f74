from django.db import migrations

from causeway.audit.triggers import head_drop_sql, head_install_sql


def install(apps, schema_editor):
    for statement in head_install_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


def remove(apps, schema_editor):
    for statement in head_drop_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_triggers")]
    operations = [migrations.RunPython(install, remove)]
