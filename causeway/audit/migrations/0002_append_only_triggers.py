from django.db import migrations

from causeway.audit.triggers import table_drop_sql, table_install_sql


# params=None: the PL/pgSQL body holds '%' placeholders of its own, which must reach
# PostgreSQL untouched rather than be read as query parameters by the driver.
def install(apps, schema_editor):
    for statement in table_install_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


def remove(apps, schema_editor):
    for statement in table_drop_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
