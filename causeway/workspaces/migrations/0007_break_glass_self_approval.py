"""The workspace setting that lets a break-glass request approve itself (flagged)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("workspaces", "0006_prod_second_approval")]

    operations = [
        migrations.AddField(
            model_name="workspace",
            name="break_glass_self_approval",
            field=models.BooleanField(default=False),
        ),
    ]
