"""The workspace setting that makes a promotion into PROD wait for a second person's approval."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("workspaces", "0005_roles_kept_with_memberships")]

    operations = [
        migrations.AddField(
            model_name="workspace",
            name="prod_second_approval",
            field=models.BooleanField(default=False),
        ),
    ]
