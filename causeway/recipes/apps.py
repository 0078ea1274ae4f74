from __future__ import annotations

from django.apps import AppConfig


class RecipesConfig(AppConfig):
    name = "causeway.recipes"
    label = "recipes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Projects, folders, lookup tables and recipes answer the policy's `may` and `explain`.
        # The Vault page shows which recipes refer to each secret; the vault and access cannot know
        # recipes, so this app tells them (only recipes the viewer may read).
        from causeway.access.secrets import register_reference_source
        from causeway.recipes import policy  # noqa: F401
        from causeway.recipes.selectors import secret_references

        register_reference_source(secret_references)
