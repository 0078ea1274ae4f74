from __future__ import annotations

from django.apps import AppConfig


class RecipesConfig(AppConfig):
    name = "causeway.recipes"
    label = "recipes"
    default_auto_field = "django.db.models.BigAutoField"
