"""Each PROD version's signature keeps the id of the signing key that made it, so the workspace's
signing key can rotate; versions signed before read it from their tag's prefix."""

from django.db import migrations, models

# A Tink tag starts with 0x01 and the 4-byte id of the key that made it (frozen here: stored data).
PREFIX_LENGTH = 5


def fill(apps, schema_editor):
    RecipeVersion = apps.get_model("recipes", "RecipeVersion")
    signed = RecipeVersion.objects.filter(signature__isnull=False, signature_key_id__isnull=True)
    for version in signed.only("pk", "signature").iterator():
        tag = bytes(version.signature)
        if len(tag) > PREFIX_LENGTH and tag[0] == 1:
            version.signature_key_id = int.from_bytes(tag[1:PREFIX_LENGTH], "big")
            version.save(update_fields=["signature_key_id"])


class Migration(migrations.Migration):
    dependencies = [("recipes", "0008_promotion_approval")]

    operations = [
        migrations.AddField(
            model_name="recipeversion",
            name="signature_key_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
