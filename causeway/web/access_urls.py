"""Routes for roles, groups, recipe grants, environment policies, service accounts and the access review."""

from __future__ import annotations

from django.urls import path, re_path

from causeway.web import access_views as views

urlpatterns = [
    path("w/<slug:workspace>/access/roles", views.roles, name="access_roles"),
    path("w/<slug:workspace>/access/roles/new", views.role_create, name="access_role_create"),
    path("w/<slug:workspace>/access/roles/<uuid:role>", views.role_update, name="access_role_update"),
    path("w/<slug:workspace>/access/roles/<uuid:role>/delete", views.role_delete, name="access_role_delete"),
    path("w/<slug:workspace>/access/groups", views.groups, name="access_groups"),
    path("w/<slug:workspace>/access/groups/new", views.group_create, name="access_group_create"),
    path(
        "w/<slug:workspace>/access/groups/<uuid:group>/delete", views.group_delete, name="access_group_delete"
    ),
    path("w/<slug:workspace>/access/groups/<uuid:group>/roles", views.group_roles, name="access_group_roles"),
    path(
        "w/<slug:workspace>/access/groups/<uuid:group>/members",
        views.group_member_add,
        name="access_group_member_add",
    ),
    path(
        "w/<slug:workspace>/access/groups/<uuid:group>/members/<uuid:member>/remove",
        views.group_member_remove,
        name="access_group_member_remove",
    ),
    path(
        "w/<slug:workspace>/access/group-mappings/new",
        views.group_mapping_create,
        name="access_group_mapping_create",
    ),
    path(
        "w/<slug:workspace>/access/group-mappings/<uuid:mapping>/delete",
        views.group_mapping_delete,
        name="access_group_mapping_delete",
    ),
    path("w/<slug:workspace>/recipes/<uuid:recipe>/access", views.recipe_access, name="recipe_access"),
    path(
        "w/<slug:workspace>/recipes/<uuid:recipe>/access/grant",
        views.recipe_grant_set,
        name="recipe_grant_set",
    ),
    path(
        "w/<slug:workspace>/recipes/<uuid:recipe>/access/<uuid:grant>/remove",
        views.recipe_grant_remove,
        name="recipe_grant_remove",
    ),
    path("w/<slug:workspace>/access/environments", views.environments, name="access_environments"),
    re_path(
        r"^w/(?P<workspace>[-a-zA-Z0-9_]+)/access/environments/(?P<environment>dev|test|prod)$",
        views.environment_set,
        name="access_environment_set",
    ),
    path(
        "w/<slug:workspace>/access/service-accounts", views.service_accounts, name="access_service_accounts"
    ),
    path(
        "w/<slug:workspace>/access/service-accounts/new",
        views.service_account_create,
        name="access_service_account_create",
    ),
    path(
        "w/<slug:workspace>/access/service-accounts/<uuid:account>/state",
        views.service_account_state,
        name="access_service_account_state",
    ),
    path(
        "w/<slug:workspace>/access/service-accounts/<uuid:account>/tokens",
        views.service_account_token_create,
        name="access_service_account_token_create",
    ),
    path(
        "w/<slug:workspace>/access/service-accounts/<uuid:account>/tokens/<uuid:token>/revoke",
        views.service_account_token_revoke,
        name="access_service_account_token_revoke",
    ),
    path("w/<slug:workspace>/access/review", views.access_review, name="access_review"),
    re_path(
        r"^w/(?P<workspace>[-a-zA-Z0-9_]+)/access/review\.(?P<format>csv|json)$",
        views.access_review_export,
        name="access_review_export",
    ),
]
