"""Pages for custom roles, groups, recipe grants, environment policies, service accounts and the
access review. Each asks `access` and renders; refusals come from the policy (404 or 403 naming the
permission), form errors are shown under their field."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from causeway.access import group_mappings, policy, services
from causeway.access.errors import Forbidden
from causeway.access.perms import CAPABILITY_NAMES, Environment, Perm
from causeway.access.routes import AuthenticatedRequest, page, refused_form_errors
from causeway.accounts import sso
from causeway.recipes import grants, review
from causeway.recipes import policy as recipes_policy
from causeway.recipes import roles as custom_roles
from causeway.recipes.models import Project
from causeway.web.access_forms import (
    CapabilitiesForm,
    EnabledForm,
    GrantForm,
    GroupMappingForm,
    GroupMemberForm,
    GroupRolesForm,
    NameForm,
    RoleForm,
    ServiceAccountTokenForm,
)
from causeway.workspaces.models import Workspace


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"__all__": list(exc.messages)}


def _base(request: AuthenticatedRequest, workspace: Workspace) -> dict[str, Any]:
    perms = policy.workspace_perms(request.user, workspace)
    return {
        "workspace": workspace,
        "can_view_members": Perm.MEMBER_VIEW in perms,
        "can_manage_members": Perm.MEMBER_MANAGE in perms,
        "can_manage_roles": Perm.ROLE_MANAGE in perms,
        "can_settings": Perm.WORKSPACE_SETTINGS in perms,
        "errors": {},
    }


# Roles.


def _roles_page(
    request: AuthenticatedRequest, workspace: Workspace, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {
        **_base(request, workspace),
        "roles": custom_roles.roles_visible(request.user, workspace),
        "catalogue": custom_roles.CATALOGUE,
        "projects": Project.objects.visible_to(request.user, workspace=workspace).order_by(
            "environment", "name"
        ),
        "values": {"name": "", "permissions": [], "all_projects": True, "projects": []},
        **extra,
    }
    return render(request, "web/access/roles.html", context, status=status)


@page(need=Perm.MEMBER_VIEW)
@require_GET
def roles(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    return _roles_page(request, workspace)


@page(need=Perm.ROLE_MANAGE)
@require_POST
def role_create(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    form = RoleForm(request.POST)
    try:
        form.is_valid()
        role = custom_roles.role_create(actor=request.user, workspace=workspace, **form.values())
    except ValidationError as exc:
        form.refuse(exc)
        return _roles_page(request, workspace, status=400, role_form=form, values=form.shown())
    except Forbidden as exc:
        form.refuse(ValidationError(refused_form_errors(request, exc, "permissions")))
        return _roles_page(request, workspace, status=403, role_form=form, values=form.shown())
    messages.success(request, f"Role {role.name} created.")
    return redirect("web:access_roles", workspace=workspace.slug)


@page(need=Perm.ROLE_MANAGE)
@require_POST
def role_update(request: AuthenticatedRequest, workspace: Workspace, role: Any) -> HttpResponse:
    found = custom_roles.role_get(request.user, workspace, role)
    form = RoleForm(request.POST)
    try:
        form.is_valid()
        custom_roles.role_update(actor=request.user, role=found, **form.values())
    except ValidationError as exc:
        return _roles_page(request, workspace, status=400, row_form=form.refuse(exc), row_pk=found.pk)
    except Forbidden as exc:
        form.refuse(ValidationError(refused_form_errors(request, exc, "permissions")))
        return _roles_page(request, workspace, status=403, row_form=form, row_pk=found.pk)
    messages.success(request, f"Role {found.name} saved.")
    return redirect("web:access_roles", workspace=workspace.slug)


@page(need=Perm.ROLE_MANAGE)
@require_POST
def role_delete(request: AuthenticatedRequest, workspace: Workspace, role: Any) -> HttpResponse:
    found = custom_roles.role_get(request.user, workspace, role)
    try:
        custom_roles.role_delete(actor=request.user, role=found)
    except ValidationError as exc:
        return _roles_page(request, workspace, status=400, role_errors={found.pk: _errors(exc)})
    messages.success(request, f"Role {found.name} deleted.")
    return redirect("web:access_roles", workspace=workspace.slug)


# Groups.


def _groups_page(
    request: AuthenticatedRequest, workspace: Workspace, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {
        **_base(request, workspace),
        "groups": services.groups_visible(request.user, workspace),
        "roles": [r for r in custom_roles.roles_visible(request.user, workspace) if r.key != "admin"],
        "members": policy.memberships_visible(request.user, workspace),
        "service_accounts": services.service_accounts_visible(request.user, workspace),
        "mappings": group_mappings.group_mappings_visible(request.user, workspace),
        "providers": sso.enabled_providers(),
        **extra,
    }
    return render(request, "web/access/groups.html", context, status=status)


@page(need=Perm.MEMBER_VIEW)
@require_GET
def groups(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    return _groups_page(request, workspace)


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def group_create(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    form = NameForm(request.POST, auto_id="group-%s")
    try:
        form.is_valid()
        group = services.group_create(actor=request.user, workspace=workspace, name=form.cleaned_data["name"])
    except ValidationError as exc:
        return _groups_page(request, workspace, status=400, group_form=form.refuse(exc))
    messages.success(request, f"Group {group.name} created.")
    return redirect("web:access_groups", workspace=workspace.slug)


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def group_delete(request: AuthenticatedRequest, workspace: Workspace, group: Any) -> HttpResponse:
    found = services.group_get(request.user, workspace, group, need=Perm.MEMBER_MANAGE)
    services.group_delete(actor=request.user, group=found)
    messages.success(request, f"Group {found.name} deleted.")
    return redirect("web:access_groups", workspace=workspace.slug)


@page(need=Perm.ROLE_MANAGE)
@require_POST
def group_roles(request: AuthenticatedRequest, workspace: Workspace, group: Any) -> HttpResponse:
    found = services.group_get(request.user, workspace, group, need=Perm.ROLE_MANAGE)
    form = GroupRolesForm(request.POST)
    try:
        form.is_valid()
        services.group_roles_set(actor=request.user, group=found, roles=form.cleaned_data["roles"])
    except ValidationError as exc:
        return _groups_page(request, workspace, status=400, row_form=form.refuse(exc), row_pk=found.pk)
    except Forbidden as exc:
        form.refuse(ValidationError(refused_form_errors(request, exc, "roles")))
        return _groups_page(request, workspace, status=403, row_form=form, row_pk=found.pk)
    messages.success(request, f"Roles of {found.name} saved.")
    return redirect("web:access_groups", workspace=workspace.slug)


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def group_member_add(request: AuthenticatedRequest, workspace: Workspace, group: Any) -> HttpResponse:
    found = services.group_get(request.user, workspace, group, need=Perm.MEMBER_MANAGE)
    form = GroupMemberForm(request.POST)
    try:
        form.is_valid()
        services.group_member_add(actor=request.user, group=found, **form.who())
    except ValidationError as exc:
        return _groups_page(request, workspace, status=400, row_form=form.refuse(exc), row_pk=found.pk)
    except Forbidden as exc:
        form.refuse(ValidationError(refused_form_errors(request, exc, "member")))
        return _groups_page(request, workspace, status=403, row_form=form, row_pk=found.pk)
    messages.success(request, f"Added to {found.name}.")
    return redirect("web:access_groups", workspace=workspace.slug)


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def group_member_remove(
    request: AuthenticatedRequest, workspace: Workspace, group: Any, member: Any
) -> HttpResponse:
    found = services.group_get(request.user, workspace, group, need=Perm.MEMBER_MANAGE)
    services.group_member_remove(actor=request.user, group=found, member_id=member)
    messages.success(request, f"Removed from {found.name}.")
    return redirect("web:access_groups", workspace=workspace.slug)


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def group_mapping_create(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    form = GroupMappingForm(request.POST)
    try:
        form.is_valid()
        mapping = group_mappings.group_mapping_create(
            actor=request.user, workspace=workspace, **form.cleaned_data
        )
    except ValidationError as exc:
        return _groups_page(request, workspace, status=400, mapping_form=form.refuse(exc))
    messages.success(
        request,
        f"{mapping.claim}={mapping.value} from {mapping.provider.name} now puts members into "
        f"{mapping.group.name} at each sign-in.",
    )
    return redirect("web:access_groups", workspace=workspace.slug)


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def group_mapping_delete(request: AuthenticatedRequest, workspace: Workspace, mapping: Any) -> HttpResponse:
    found = group_mappings.group_mapping_get(request.user, workspace, mapping)
    group_mappings.group_mapping_delete(actor=request.user, mapping=found)
    messages.success(request, f"{found.claim}={found.value} no longer maps to {found.group.name}.")
    return redirect("web:access_groups", workspace=workspace.slug)


# Recipe access (grants).


def _recipe_access_page(
    request: AuthenticatedRequest, workspace: Workspace, recipe: Any, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {
        **_base(request, workspace),
        "recipe": recipe,
        "grants": grants.grants_visible(request.user, workspace, recipe),
        "can_edit": policy.may(request.user, Perm.RECIPE_EDIT, recipe),
        "capabilities": list(CAPABILITY_NAMES),
        "grantee_types": GrantForm.GRANTEE_TYPES,
        "groups": services.groups_visible(request.user, workspace)
        if policy.may(request.user, Perm.MEMBER_VIEW, workspace)
        else [],
        **extra,
    }
    return render(request, "web/access/recipe_access.html", context, status=status)


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def recipe_access(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    found = recipes_policy.recipe_get(request.user, workspace, recipe, need=Perm.RECIPE_VIEW)
    return _recipe_access_page(request, workspace, found)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def recipe_grant_set(request: AuthenticatedRequest, workspace: Workspace, recipe: Any) -> HttpResponse:
    found = recipes_policy.recipe_get(request.user, workspace, recipe, need=Perm.RECIPE_EDIT)
    form = GrantForm(request.POST)
    if not form.is_valid():
        return _recipe_access_page(request, workspace, found, status=400, grant_form=form)
    try:
        grants.grant_set(
            actor=request.user,
            workspace=workspace,
            recipe=found,
            capabilities=form.cleaned_data["capabilities"],
            **form.grantee_kwargs(),
        )
    except ValidationError as exc:
        return _recipe_access_page(request, workspace, found, status=400, grant_form=form.refuse(exc))
    except Forbidden as exc:
        form.refuse(ValidationError(refused_form_errors(request, exc, "capabilities")))
        return _recipe_access_page(request, workspace, found, status=403, grant_form=form)
    messages.success(request, "Access saved.")
    return redirect("web:recipe_access", workspace=workspace.slug, recipe=found.pk)


@page(need=Perm.WORKSPACE_VIEW)
@require_POST
def recipe_grant_remove(
    request: AuthenticatedRequest, workspace: Workspace, recipe: Any, grant: Any
) -> HttpResponse:
    found = recipes_policy.recipe_get(request.user, workspace, recipe, need=Perm.RECIPE_EDIT)
    grants.grant_remove(
        actor=request.user,
        workspace=workspace,
        grant=grants.grant_get(request.user, workspace, found, grant),
    )
    messages.success(request, "Grant taken away.")
    return redirect("web:recipe_access", workspace=workspace.slug, recipe=found.pk)


# Environments.


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def environments(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    return _environments_page(request, workspace)


def _environments_page(
    request: AuthenticatedRequest, workspace: Workspace, *, status: int = 200, **extra: Any
) -> HttpResponse:
    ceilings = services.environment_policies(request.user, workspace)
    context = {
        **_base(request, workspace),
        "environments": [(e.value, e.name, sorted(ceilings[e.value])) for e in Environment],
        "capabilities": list(CAPABILITY_NAMES),
        **extra,
    }
    return render(request, "web/access/environments.html", context, status=status)


@page(need=Perm.WORKSPACE_SETTINGS)
@require_POST
def environment_set(request: AuthenticatedRequest, workspace: Workspace, environment: str) -> HttpResponse:
    form = CapabilitiesForm(request.POST)
    try:
        form.is_valid()
        services.environment_policy_set(
            actor=request.user,
            workspace=workspace,
            environment=environment,
            capabilities=form.cleaned_data["capabilities"],
        )
    except ValidationError as exc:
        return _environments_page(request, workspace, status=400, errors=_errors(exc))
    messages.success(request, f"The {environment.upper()} policy was saved.")
    return redirect("web:access_environments", workspace=workspace.slug)


# Service accounts.


def _accounts_page(
    request: AuthenticatedRequest, workspace: Workspace, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {
        **_base(request, workspace),
        "accounts": services.service_accounts_visible(request.user, workspace),
        **extra,
    }
    return render(request, "web/access/service_accounts.html", context, status=status)


@page(need=Perm.MEMBER_VIEW)
@require_GET
def service_accounts(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    return _accounts_page(request, workspace)


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def service_account_create(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    form = NameForm(request.POST, auto_id="sa-%s")
    try:
        form.is_valid()
        account = services.service_account_create(
            actor=request.user, workspace=workspace, name=form.cleaned_data["name"]
        )
    except ValidationError as exc:
        return _accounts_page(request, workspace, status=400, account_form=form.refuse(exc))
    messages.success(request, f"Service account {account.name} created.")
    return redirect("web:access_service_accounts", workspace=workspace.slug)


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def service_account_state(request: AuthenticatedRequest, workspace: Workspace, account: Any) -> HttpResponse:
    found = services.service_account_get(request.user, workspace, account)
    form = EnabledForm(request.POST)
    form.is_valid()
    enabled = form.cleaned_data["active"]
    services.service_account_set_enabled(
        actor=request.user, workspace=workspace, account=found, enabled=enabled
    )
    messages.success(request, f"Service account {found.name} {'enabled' if enabled else 'disabled'}.")
    return redirect("web:access_service_accounts", workspace=workspace.slug)


@page(need=Perm.MEMBER_MANAGE)
@never_cache
@require_POST
def service_account_token_create(
    request: AuthenticatedRequest, workspace: Workspace, account: Any
) -> HttpResponse:
    found = services.service_account_get(request.user, workspace, account)
    form = ServiceAccountTokenForm(request.POST)
    try:
        form.is_valid()
        token, secret = services.service_account_token_create(
            actor=request.user, workspace=workspace, account=found, **form.cleaned_data
        )
    except ValidationError as exc:
        return _accounts_page(request, workspace, status=400, row_form=form.refuse(exc), row_pk=found.pk)
    # Rendered, not redirected: the token is shown this once and never travels in a message cookie.
    return _accounts_page(request, workspace, issued={"account": found, "token": token, "secret": secret})


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def service_account_token_revoke(
    request: AuthenticatedRequest, workspace: Workspace, account: Any, token: Any
) -> HttpResponse:
    found = services.service_account_get(request.user, workspace, account)
    revoked = services.service_account_token_get(request.user, workspace, found, token)
    services.service_account_token_revoke(actor=request.user, workspace=workspace, token=revoked)
    messages.success(request, f"Token {revoked.name} revoked.")
    return redirect("web:access_service_accounts", workspace=workspace.slug)


# Access review.


@page(need=Perm.MEMBER_VIEW)
@require_GET
def access_review(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    context = {**_base(request, workspace), "rows": review.access_review(request.user, workspace)}
    return render(request, "web/access/review.html", context)


@page(need=Perm.MEMBER_VIEW)
@require_GET
def access_review_export(request: AuthenticatedRequest, workspace: Workspace, format: str) -> HttpResponse:
    rows = review.access_review(request.user, workspace)
    if format == "csv":
        response = HttpResponse(review.review_csv(rows), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(review.review_json(rows), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="access-review-{workspace.slug}.{format}"'
    return response
