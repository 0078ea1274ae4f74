from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_save


class RunsConfig(AppConfig):
    name = "causeway.runs"
    label = "runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Jobs answer the policy's `may` and `explain`.
        from causeway.runs import policy  # noqa: F401

        # Recipes sit below runs and cannot call it: starting one is heard here instead.
        from causeway.runs.triggers import on_recipe_saved

        post_save.connect(on_recipe_saved, sender="recipes.Recipe", dispatch_uid="runs.recipe_started")
