"""The workspace Vault page: every member sees secret names and metadata; Admins set and delete them."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from causeway.access import policy, secrets
from causeway.access.perms import Perm
from causeway.access.routes import AuthenticatedRequest, page
from causeway.web.errors import masked_page
from causeway.workspaces.models import Workspace

_HOST_SEPARATORS = re.compile(r"[\s,]+")


def _hosts(raw: str) -> list[str]:
    return [host for host in _HOST_SEPARATORS.split(raw.strip()) if host]


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"__all__": list(exc.messages)}


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
        "errors": {},
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
    name, hosts = request.POST.get("name", "").strip(), request.POST.get("allowed_hosts", "")
    try:
        written = secrets.secret_write(
            actor=request.user,
            workspace=workspace,
            name=name,
            value=request.POST.get("value", ""),
            allowed_hosts=_hosts(hosts),
        )
    except ValidationError as exc:
        failed = name if request.POST.get("form") == "replace" else "new"
        return _vault_page(
            request, workspace, status=400, errors=_errors(exc), failed=failed, name=name, hosts=hosts
        )
    messages.success(request, f"Secret {written.row.name} {'created' if written.created else 'replaced'}.")
    return redirect("web:vault", workspace=workspace.slug)


@page(need=Perm.VAULT_SECRET_MANAGE)
@require_POST
def vault_delete(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    name = request.POST.get("name", "")
    secrets.secret_remove(actor=request.user, workspace=workspace, name=name)
    messages.success(request, f"Secret {name} deleted.")
    return redirect("web:vault", workspace=workspace.slug)
