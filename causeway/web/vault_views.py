"""The workspace Vault page: every member sees secret names and metadata; Admins set and delete them."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from causeway.access import policy
from causeway.access.perms import Perm
from causeway.access.routes import AuthenticatedRequest, page
from causeway.recipes import secrets
from causeway.web.errors import masked_page
from causeway.web.vault_forms import SecretDeleteForm, SecretForm
from causeway.workspaces.models import Workspace


def _vault_page(
    request: AuthenticatedRequest, workspace: Workspace, *, status: int = 200, **extra: Any
) -> HttpResponse:
    perms = policy.workspace_perms(request.user, workspace)
    context = {
        "workspace": workspace,
        "can_view_members": Perm.MEMBER_VIEW in perms,
        "can_settings": Perm.WORKSPACE_SETTINGS in perms,
        "secrets": secrets.secrets_visible(request.user, workspace),
        "can_manage_secrets": secrets.can_manage_secrets(request.user, workspace),
        "failed": "",
        **extra,
    }
    response = render(request, "web/vault/vault.html", context, status=status)
    # A refused form is shown again with its name and hosts: should someone have typed a value there,
    # it comes back masked. The value field itself is never filled in.
    return masked_page(response) if status >= 400 else response


@page(need=Perm.WORKSPACE_VIEW)
@never_cache
@require_GET
def vault(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    return _vault_page(request, workspace)


@page(need=Perm.VAULT_SECRET_MANAGE)
@never_cache
@require_POST
def vault_set(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    form = SecretForm(request.POST)
    try:
        form.is_valid()
        written = secrets.secret_write(
            actor=request.user,
            workspace=workspace,
            name=form.cleaned_data["name"],
            value=form.cleaned_data["value"],
            allowed_hosts=form.hosts(),
        )
    except ValidationError as exc:
        form.refuse(exc)
        if form.replaces():
            return _vault_page(request, workspace, status=400, row_form=form, failed=form["name"].value())
        return _vault_page(request, workspace, status=400, new_form=form)
    messages.success(request, f"Secret {written.row.name} {'created' if written.created else 'replaced'}.")
    return redirect("web:vault", workspace=workspace.slug)


@page(need=Perm.VAULT_SECRET_MANAGE)
@require_POST
def vault_delete(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    form = SecretDeleteForm(request.POST)
    form.is_valid()
    name = form.cleaned_data["name"]
    secrets.secret_remove(actor=request.user, workspace=workspace, name=name)
    messages.success(request, f"Secret {name} deleted.")
    return redirect("web:vault", workspace=workspace.slug)
