"""Workspace secrets for the interfaces: who may list, set, delete and use them, each act audited.

The vault keeps the values and reports every change and use through a callback; this module decides
who may ask, names the recipes (that the viewer may read) referring to each secret, and turns each
report into an audit event inside the vault's transaction, so a change or
a use whose event cannot be written does not happen (rule 16). Nothing here ever returns a value,
except `secret_use_for_destination`, which is the worker's and hands it to the one host it may go to.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from causeway.access import policy
from causeway.access.errors import NotFound
from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.recipes.selectors import secret_references
from causeway.vault import secrets as vault
from causeway.vault.events import OnChange, VaultEvent
from causeway.vault.masking import feed_from_secrets, mask
from causeway.workspaces.models import Workspace

# What a person who set a secret is shown as when the operator's command line set it.
OPERATOR_LABEL = "the operator (command line)"


@dataclass(frozen=True)
class SecretRow:
    """One secret as every member may see it: its name and metadata, never its value."""

    name: str
    allowed_hosts: tuple[str, ...]
    created_at: datetime
    created_by_id: uuid.UUID | None
    created_by: str
    updated_at: datetime
    updated_by_id: uuid.UUID | None
    updated_by: str
    referenced_by: tuple[str, ...]


@dataclass(frozen=True)
class SecretWritten:
    row: SecretRow
    created: bool


def _masked_tree(value: Any) -> Any:
    """Audit details with every known secret value masked: hosts and paths are typed by people."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: _masked_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked_tree(item) for item in value]
    return value


def _auditor(actor: Actor | None) -> OnChange:
    def record(event: VaultEvent) -> None:
        fields = event.audit_fields()
        fields["details"] = _masked_tree(fields["details"])
        audit_record(actor=actor, **fields)

    return record


def _actor_id(actor: Actor) -> uuid.UUID | None:
    """The id the vault stores as who set a secret; None for the operator's command line."""
    return actor.pk if isinstance(actor, User) else None


def _require_manage(actor: Actor, workspace: Workspace) -> None:
    # The operator's command line holds the machine's keys and database already; everyone else must be
    # an Admin of the workspace (rule 3: no custom role can hold vault:secret:manage).
    policy.require_in(actor, workspace, Perm.VAULT_SECRET_MANAGE)


def _require_view(actor: Actor, workspace: Workspace) -> None:
    policy.require_in(actor, workspace, Perm.WORKSPACE_VIEW)


def _labels(ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {pk for pk in ids if pk is not None}
    if not wanted:
        return {}
    return {user.pk: user.email for user in User.objects.filter(pk__in=wanted).only("id", "email")}


def _references(actor: Actor, workspace: Workspace, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The recipes the viewer may read that refer to each secret."""
    found = secret_references(actor, workspace, names)
    return {name: tuple(sorted(set(recipes))) for name, recipes in found.items()}


def _rows(actor: Actor, workspace: Workspace, infos: Sequence[vault.SecretInfo]) -> list[SecretRow]:
    labels = _labels([i.created_by for i in infos] + [i.updated_by for i in infos])
    references = _references(actor, workspace, [i.name for i in infos])

    def label(pk: uuid.UUID | None) -> str:
        if pk is None:
            return OPERATOR_LABEL
        return labels.get(pk, "a former user")

    return [
        SecretRow(
            name=info.name,
            allowed_hosts=info.allowed_hosts,
            created_at=info.created_at,
            created_by_id=info.created_by,
            created_by=label(info.created_by),
            updated_at=info.updated_at,
            updated_by_id=info.updated_by,
            updated_by=label(info.updated_by),
            referenced_by=references.get(info.name, ()),
        )
        for info in infos
    ]


def secrets_visible(actor: Actor, workspace: Workspace) -> list[SecretRow]:
    """The workspace's secrets by name, for any member (DESIGN section 5): names and metadata only."""
    _require_view(actor, workspace)
    return _rows(actor, workspace, vault.secret_list(workspace_id=workspace.id))


def can_manage_secrets(actor: Actor, workspace: Workspace) -> bool:
    return policy.may(actor, Perm.VAULT_SECRET_MANAGE, workspace)


def secret_write(
    *, actor: Actor, workspace: Workspace, name: str, value: str, allowed_hosts: Iterable[str] = ()
) -> SecretWritten:
    """Create the secret or replace its value and allowed hosts; audited as created or replaced."""
    _require_manage(actor, workspace)
    actions: list[str] = []
    record = _auditor(actor)

    def on_change(event: VaultEvent) -> None:
        actions.append(event.action)
        record(event)

    info = vault.secret_set(
        actor_id=_actor_id(actor),
        workspace_id=workspace.id,
        name=name,
        value=value,
        allowed_hosts=list(allowed_hosts),
        on_change=on_change,
    )
    return SecretWritten(row=_rows(actor, workspace, [info])[0], created=actions == ["secret.created"])


def secret_remove(*, actor: Actor, workspace: Workspace, name: str) -> None:
    """Delete the secret; NotFound if the workspace has none of that name."""
    _require_manage(actor, workspace)
    try:
        vault.secret_delete(
            actor_id=_actor_id(actor), workspace_id=workspace.id, name=name, on_change=_auditor(actor)
        )
    except vault.SecretNotFoundError:
        raise NotFound("secret") from None


def secret_use_for_destination(
    *,
    actor: Actor | None,
    workspace_id: uuid.UUID,
    name: str,
    host: str,
    context: Mapping[str, str] | None = None,
) -> str:
    """The value, for a worker step about to call host; refused (and audited) outside allowed hosts.

    `actor` is whom the job runs as (None: the system, for schedules and triggers); `context` names the
    job and step. Every attempt is an audit event with the destination host, never the value.
    """
    # A worker may meet this secret's value in a reply before any of its steps resolved it.
    feed_from_secrets()
    return vault.secret_resolve_for_destination(
        workspace_id=workspace_id, name=name, host=host, on_use=_auditor(actor), context=context
    )
