"""Service accounts and their API tokens: created by Admins, tokens shown once and kept as SHA-256
digests, expiring in 1 to 365 days, revocable. A disabled account or a revoked token fails on the next
request: nothing about either is cached.

Who may call these is decided above, in `causeway.access`; these functions check the data, make the
change and record it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from causeway.accounts.actors import SystemActor
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.vault.masking import register_value
from causeway.workspaces.models import ServiceAccount, ServiceAccountToken, Workspace

TOKEN_PREFIX = "cwsa"  # noqa: S105
TOKEN_MAX_DAYS = 365
NAME_MAX = 100
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


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
    try:
        with transaction.atomic():
            account.save(force_insert=True)
    except IntegrityError:
        raise ValidationError({"name": "a service account with this name already exists"}) from None
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


@transaction.atomic
def service_account_token_create(
    *, actor: User | SystemActor, service_account: ServiceAccount, name: str, expires_in_days: int
) -> tuple[ServiceAccountToken, str]:
    """A new token and its secret, which is never shown again."""
    name = _name(name)
    if isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int):
        raise ValidationError({"expires_in_days": f"Expiry must be between 1 and {TOKEN_MAX_DAYS} days."})
    if not 1 <= expires_in_days <= TOKEN_MAX_DAYS:
        raise ValidationError({"expires_in_days": f"Expiry must be between 1 and {TOKEN_MAX_DAYS} days."})
    if not service_account.is_active:
        raise ValidationError({"service_account": "is disabled; enable it before making tokens"})
    prefix = secrets.token_hex(6)
    secret = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ServiceAccountToken.objects.create(
        service_account=service_account,
        name=name,
        prefix=prefix,
        digest=_digest(secret),
        expires_at=timezone.now() + timedelta(days=expires_in_days),
    )
    audit_record(
        actor=actor,
        action="service_account_token.created",
        target=token,
        workspace_id=service_account.workspace_id,
        details={"service_account": service_account.name, "expires_at": token.expires_at.isoformat()},
    )
    register_value(f"sa-token:{prefix}", secret)
    return token, secret


@transaction.atomic
def service_account_token_revoke(
    *, actor: User | SystemActor, token: ServiceAccountToken
) -> ServiceAccountToken:
    locked = (
        ServiceAccountToken.objects.select_for_update().select_related("service_account").get(pk=token.pk)
    )
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="service_account_token.revoked",
            target=locked,
            workspace_id=locked.service_account.workspace_id,
            details={"service_account": locked.service_account.name},
        )
    return locked


def service_account_token_authenticate(secret: str) -> ServiceAccountToken | None:
    """The usable token whose secret this is, of an enabled service account; None for anything else."""
    if not secret.startswith(f"{TOKEN_PREFIX}_") or len(secret) > 200:
        return None
    now = timezone.now()
    token = (
        ServiceAccountToken.objects.select_related("service_account", "service_account__workspace")
        .filter(digest=_digest(secret), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or not token.service_account.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ServiceAccountToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
