"""Service accounts: created by Admins, disabled and enabled again; a disabled account's tokens (see
`causeway.workspaces.tokens`) fail on the next request, since nothing about either is cached.

Who may call these is decided above, in `causeway.access`; these functions check the data, make the
change and record it.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from causeway.accounts.actors import SystemActor
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.db import save_or_conflict
from causeway.workspaces.models import ServiceAccount, Workspace

NAME_MAX = 100


def _name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({field: "a name is required"})
    clean: str = value.strip()
    if len(clean) > NAME_MAX or any(ord(ch) < 32 for ch in clean):
        raise ValidationError({field: f"at most {NAME_MAX} characters, no control characters"})
    return clean


def _user(actor: User | SystemActor) -> User | None:
    return actor if isinstance(actor, User) else None


@transaction.atomic
def service_account_create(*, actor: User | SystemActor, workspace: Workspace, name: str) -> ServiceAccount:
    account = ServiceAccount(workspace=workspace, name=_name(name), created_by=_user(actor))
    save_or_conflict(
        account, field="name", message="a service account with this name already exists", force_insert=True
    )
    audit_record(actor=actor, action="service_account.created", target=account, workspace_id=workspace.id)
    return account


@transaction.atomic
def service_account_set_enabled(
    *, actor: User | SystemActor, service_account: ServiceAccount, enabled: bool
) -> ServiceAccount:
    """Disable (its tokens stop working on the next request) or enable a service account again."""
    locked = ServiceAccount.objects.select_for_update().get(pk=service_account.pk)
    if enabled == locked.is_active:
        return locked
    locked.disabled_at = None if enabled else timezone.now()
    locked.save(update_fields=["disabled_at"])
    audit_record(
        actor=actor,
        action="service_account.enabled" if enabled else "service_account.disabled",
        target=locked,
        workspace_id=locked.workspace_id,
    )
    return locked
