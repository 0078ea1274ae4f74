"""Write-only workspace secrets: set, replace, delete, list (never values), resolve for one destination.

Every change and every use is reported to the caller's `on_change` / `on_use` callback inside the
transaction (see `causeway.vault.events`): the vault cannot import the audit app, so the caller,
which knows the actor, records the audit event, and a failure to record it undoes the change.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from causeway.db import save_or_conflict
from causeway.vault.events import OnChange, VaultEvent
from causeway.vault.hosts import clean_patterns, host_allowed, normalize_host
from causeway.vault.masking import register_value
from causeway.vault.models import Secret

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,99}")
MAX_VALUE_LENGTH = 64 * 1024
MAX_ALLOWED_HOSTS = 50


class SecretNotFoundError(LookupError):
    """No secret of that name in that workspace."""


class SecretRefusedError(Exception):
    """The secret may not be sent to that destination; the message says why (never the value)."""


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown about a secret: everything but its value."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    allowed_hosts: tuple[str, ...]
    created_by: uuid.UUID | None
    updated_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("secret", str(self.id), self.name)


_INFO_FIELDS = (
    "id",
    "workspace_id",
    "name",
    "allowed_hosts",
    "created_by",
    "updated_by",
    "created_at",
    "updated_at",
)


def _info(secret: Secret) -> SecretInfo:
    return SecretInfo(
        id=secret.id,
        workspace_id=secret.workspace_id,
        name=secret.name,
        allowed_hosts=tuple(secret.allowed_hosts),
        created_by=secret.created_by,
        updated_by=secret.updated_by,
        created_at=secret.created_at,
        updated_at=secret.updated_at,
    )


def _clean_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValidationError(
            {"name": "a secret name starts with a letter and has up to 100 letters, digits, _ . or -"}
        )
    return name


def _check_value(value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValidationError({"value": "a secret needs a value"})
    if len(value) > MAX_VALUE_LENGTH:
        raise ValidationError({"value": f"a secret value is at most {MAX_VALUE_LENGTH} characters"})


@transaction.atomic
def secret_set(
    *,
    actor_id: uuid.UUID | None,
    workspace_id: uuid.UUID,
    name: str,
    value: str,
    allowed_hosts: Iterable[str] = (),
    on_change: OnChange,
) -> SecretInfo:
    """Create the secret, or replace its value and allowed hosts if the name exists."""
    name = _clean_name(name)
    _check_value(value)
    hosts = clean_patterns(list(allowed_hosts), field="allowed_hosts", limit=MAX_ALLOWED_HOSTS)
    now = timezone.now()
    secret = Secret.objects.select_for_update().filter(workspace_id=workspace_id, name=name).first()
    if secret is None:
        secret = Secret(
            workspace_id=workspace_id,
            name=name,
            value=value,
            allowed_hosts=hosts,
            created_by=actor_id,
            updated_by=actor_id,
            created_at=now,
            updated_at=now,
        )
        save_or_conflict(
            secret,
            field="name",
            message=f"a secret named {name} was created at the same moment",
            force_insert=True,
        )
        action = "secret.created"
    else:
        secret.value = value
        secret.allowed_hosts = hosts
        secret.updated_by = actor_id
        secret.updated_at = now
        secret.save(update_fields=["value", "allowed_hosts", "updated_by", "updated_at"])
        action = "secret.replaced"
    register_value(name, value)
    on_change(VaultEvent(action, secret.audit_target, workspace_id, {"allowed_hosts": hosts}))
    return _info(secret)


@transaction.atomic
def secret_delete(
    *, actor_id: uuid.UUID | None, workspace_id: uuid.UUID, name: str, on_change: OnChange
) -> None:
    secret = (
        Secret.objects.select_for_update()
        .only("id", "workspace_id", "name")
        .filter(workspace_id=workspace_id, name=name)
        .first()
    )
    if secret is None:
        raise SecretNotFoundError(f"there is no secret named {name!r} in this workspace")
    target = secret.audit_target
    secret.delete()
    on_change(VaultEvent("secret.deleted", target, workspace_id, {"deleted_by": str(actor_id or "")}))


def secret_list(*, workspace_id: uuid.UUID) -> list[SecretInfo]:
    """Names and metadata of the workspace's secrets, by name. The values are not even read."""
    rows = Secret.objects.filter(workspace_id=workspace_id).only(*_INFO_FIELDS).order_by("name")
    return [_info(secret) for secret in rows]


def secret_info(*, workspace_id: uuid.UUID, name: str) -> SecretInfo:
    secret = Secret.objects.filter(workspace_id=workspace_id, name=name).only(*_INFO_FIELDS).first()
    if secret is None:
        raise SecretNotFoundError(f"there is no secret named {name!r} in this workspace")
    return _info(secret)


def secret_resolve_for_destination(
    *,
    workspace_id: uuid.UUID,
    name: str,
    host: str,
    on_use: OnChange,
    context: Mapping[str, str] | None = None,
) -> str:
    """The value, for the worker to send to host, and only if host is one the secret may go to.

    Each attempt is reported to on_use (with host and context such as the job and step, never the
    value); a refused attempt is reported and committed before SecretRefusedError is raised, so the
    refusal stays on record even though the step fails.
    """
    details: dict[str, str] = dict(context or {})
    with transaction.atomic():
        secret = Secret.objects.filter(workspace_id=workspace_id, name=name).first()
        if secret is None:
            raise SecretNotFoundError(f"there is no secret named {name!r} in this workspace")
        try:
            destination = normalize_host(host)
        except ValueError:
            destination = ""
        # A secret without allowed hosts is not restricted by destination (the outbound rules still apply).
        unrestricted = not secret.allowed_hosts
        allowed = bool(destination) and (unrestricted or host_allowed(destination, secret.allowed_hosts))
        details["host"] = destination or host.strip()[:253]
        if allowed:
            value: str = secret.value
            on_use(VaultEvent("secret.used", secret.audit_target, workspace_id, details))
        else:
            on_use(VaultEvent("secret.use_refused", secret.audit_target, workspace_id, details, "denied"))
    if not allowed:
        if not destination:
            raise SecretRefusedError(f"secret {name!r} was not sent: {host!r} is not a host name")
        raise SecretRefusedError(
            f"secret {name!r} may not be sent to {destination}: it may go only to "
            + ", ".join(secret.allowed_hosts)
        )
    register_value(name, value)
    return value
