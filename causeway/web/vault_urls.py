"""Routes for the workspace Vault page and its forms."""

from __future__ import annotations

from django.urls import path

from causeway.web import vault_views

urlpatterns = [
    path("w/<slug:workspace>/vault", vault_views.vault, name="vault"),
    path("w/<slug:workspace>/vault/set", vault_views.vault_set, name="vault_set"),
    path("w/<slug:workspace>/vault/delete", vault_views.vault_delete, name="vault_delete"),
]
