"""Routes for projects (and their Migrate page), folders, recipes, lookup tables and bookmarks."""

from __future__ import annotations

from django.urls import path

from causeway.web import environments_views
from causeway.web import recipes_views as views

W = "w/<slug:workspace>/"

urlpatterns = [
    path(W + "recipes", views.recipes_home, name="recipes"),
    path(W + "bookmarks", views.bookmarks, name="bookmarks"),
    path(W + "watching", views.watching_list, name="watching"),
    path(W + "projects", views.project_create, name="project_create"),
    path(W + "projects/<uuid:project>", views.project_detail, name="project"),
    path(W + "projects/<uuid:project>/rename", views.project_rename, name="project_rename"),
    path(W + "projects/<uuid:project>/delete", views.project_delete, name="project_delete"),
    path(W + "projects/<uuid:project>/migrate", environments_views.migrate, name="project_migrate"),
    path(W + "projects/<uuid:project>/changes", environments_views.changes, name="project_changes"),
    path(
        W + "promotions/<uuid:promotion_id>/approve",
        environments_views.promotion_approve,
        name="promotion_approve",
    ),
    path(
        W + "promotions/<uuid:promotion_id>/reject",
        environments_views.promotion_reject,
        name="promotion_reject",
    ),
    path(W + "projects/<uuid:project>/folders", views.folder_create, name="folder_create"),
    path(W + "projects/<uuid:project>/recipes", views.recipe_create, name="recipe_create"),
    path(W + "projects/<uuid:project>/import", views.project_import, name="project_import"),
    path(W + "projects/<uuid:project>/lookup-tables", views.lookup_table_create, name="lookup_table_create"),
    path(W + "folders/<uuid:folder>/rename", views.folder_rename, name="folder_rename"),
    path(W + "folders/<uuid:folder>/delete", views.folder_delete, name="folder_delete"),
    path(W + "recipes/<uuid:recipe>", views.recipe_detail, name="recipe"),
    path(W + "recipes/<uuid:recipe>/build", views.recipe_build, name="recipe_build"),
    path(W + "recipes/<uuid:recipe>/versions", views.recipe_versions, name="recipe_versions"),
    path(W + "recipes/<uuid:recipe>/versions/<int:number>", views.recipe_version, name="recipe_version"),
    path(
        W + "recipes/<uuid:recipe>/versions/<int:number>/restore",
        views.recipe_restore,
        name="recipe_restore",
    ),
    path(W + "recipes/<uuid:recipe>/diff", views.recipe_diff, name="recipe_diff"),
    path(W + "recipes/<uuid:recipe>/rollback", environments_views.recipe_rollback, name="recipe_rollback"),
    path(W + "recipes/<uuid:recipe>/start", views.recipe_start, name="recipe_start"),
    path(W + "recipes/<uuid:recipe>/stop", views.recipe_stop, name="recipe_stop"),
    path(W + "recipes/<uuid:recipe>/rename", views.recipe_rename, name="recipe_rename"),
    path(W + "recipes/<uuid:recipe>/move", views.recipe_move, name="recipe_move"),
    path(W + "recipes/<uuid:recipe>/delete", views.recipe_delete, name="recipe_delete"),
    path(W + "recipes/<uuid:recipe>/bookmark", views.recipe_bookmark, name="recipe_bookmark"),
    path(W + "recipes/<uuid:recipe>/watch", views.recipe_watch, name="recipe_watch"),
    path(W + "recipes/<uuid:recipe>/unwatch", views.recipe_unwatch, name="recipe_unwatch"),
    path(W + "recipes/<uuid:recipe>/export", views.recipe_export, name="recipe_export"),
    path(W + "recipes/<uuid:recipe>/import", views.recipe_import_version, name="recipe_import"),
    path(W + "lookup-tables", views.lookup_tables, name="lookup_tables"),
    path(W + "lookup-tables/<uuid:table>", views.lookup_table_detail, name="lookup_table"),
    path(W + "lookup-tables/<uuid:table>/rows", views.lookup_row_put, name="lookup_row_put"),
    path(W + "lookup-tables/<uuid:table>/rows/delete", views.lookup_row_delete, name="lookup_row_delete"),
    path(W + "lookup-tables/<uuid:table>/delete", views.lookup_table_delete, name="lookup_table_delete"),
]
