"""Personal API tokens live in `workspaces.ApiToken` now (copied there by `workspaces.0004`)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_seal_profiles_and_token_names"),
        ("workspaces", "0004_api_tokens_of_both_kinds"),
    ]

    operations = [
        migrations.DeleteModel(name="ApiToken"),
    ]
