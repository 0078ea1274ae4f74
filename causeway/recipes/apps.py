from __future__ import annotations

from django.apps import AppConfig


class RecipesConfig(AppConfig):
    name = "causeway.recipes"
    label = "recipes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Projects, folders, lookup tables and recipes answer the policy's `may` and `explain`.
        from causeway.recipes import policy  # noqa: F401
