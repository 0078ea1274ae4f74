"""A workspace may require its members to have a second factor."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("workspaces", "0007_break_glass_self_approval"),
    ]

    operations = [
        migrations.AddField(
            model_name="workspace",
            name="mfa_required",
            field=models.BooleanField(default=False),
        ),
    ]
