"""Changes to custom roles, groups, group members, recipe grants and environment policies, and the
selectors the interfaces read them through. Each change asks the policy, runs in one transaction and
records its audit event inside it (rule 16)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from causeway.access import giving, policy
from causeway.access.errors import NotFound
from causeway.access.models import EnvironmentPolicy, Group, GroupMember
from causeway.access.perms import CAPABILITY_NAMES, Environment, Perm
from causeway.access.policy import Actor, uuid_or_none
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.db import save_or_conflict
from causeway.workspaces import tokens
from causeway.workspaces.models import ApiToken, Membership, ServiceAccount, TokenKind, Workspace

NAME_MAX = 100


def _audit_actor(actor: Actor) -> Any:
    return actor if hasattr(actor, "audit_actor") or policy.is_system(actor) else None


def require(actor: Actor | None, workspace: Workspace, perm: Perm) -> None:
    """The system actor may; anyone else needs `perm` in the workspace (NotFound if not a member)."""
    policy.require_in(actor, workspace, perm)


def clean_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({"name": "a name is required"})
    clean: str = value.strip()
    if len(clean) > NAME_MAX:
        raise ValidationError({"name": f"a name is at most {NAME_MAX} characters"})
    if any(ord(ch) < 32 for ch in clean):
        raise ValidationError({"name": "may not contain control characters"})
    return clean


def hidden(actor: Actor | None, model: Any, pk: uuid.UUID | None, need: Perm, what: str) -> NotFound:
    """NotFound for an id this workspace does not hold; if another workspace holds it, the attempt goes
    on that workspace's record (rule 9 answers 404 all the same)."""
    found = model._default_manager.filter(pk=pk).first() if pk else None
    workspace_id = getattr(found, "workspace_id", None)
    if found is not None and workspace_id is not None:
        policy.deny_hidden(actor, Workspace.objects.get(pk=workspace_id), found, need)
    return NotFound(what)


# Groups.


def groups_visible(actor: Actor, workspace: Workspace) -> QuerySet[Group]:
    if not policy.may(actor, Perm.MEMBER_VIEW, workspace):
        return Group.objects.none()
    return Group.objects.filter(workspace=workspace).prefetch_related(
        "roles", "members__user", "members__service_account"
    )


def group_get(actor: Actor, workspace: Workspace, ref: Any, *, need: Perm = Perm.MEMBER_VIEW) -> Group:
    require(actor, workspace, need)
    pk = uuid_or_none(ref)
    found = Group.objects.filter(workspace=workspace).filter(Q(pk=pk) if pk else Q(name=str(ref))).first()
    if found is None:
        raise hidden(actor, Group, pk, need, "group")
    return found


@transaction.atomic
def group_create(*, actor: Actor, workspace: Workspace, name: str) -> Group:
    require(actor, workspace, Perm.MEMBER_MANAGE)
    group = Group(workspace=workspace, name=clean_name(name))
    save_or_conflict(group, field="name", message="a group with this name already exists", force_insert=True)
    audit_record(actor=_audit_actor(actor), action="group.created", target=group, workspace_id=workspace.id)
    return group


@transaction.atomic
def group_rename(*, actor: Actor, group: Group, name: str) -> Group:
    require(actor, group.workspace, Perm.MEMBER_MANAGE)
    before = group.name
    group.name = clean_name(name)
    save_or_conflict(
        group, field="name", message="a group with this name already exists", update_fields=["name"]
    )
    audit_record(
        actor=_audit_actor(actor),
        action="group.renamed",
        target=group,
        workspace_id=group.workspace_id,
        details={"from": before, "to": group.name},
    )
    return group


@transaction.atomic
def group_update(
    *, actor: Actor, group: Group, name: str | None = None, roles: Iterable[str] | None = None
) -> Group:
    """Rename a group and set its roles in one transaction: both change, or neither does."""
    if name is not None:
        group = group_rename(actor=actor, group=group, name=name)
    if roles is not None:
        group = group_roles_set(actor=actor, group=group, roles=roles)
    return group


@transaction.atomic
def group_delete(*, actor: Actor, group: Group) -> None:
    require(actor, group.workspace, Perm.MEMBER_MANAGE)
    target, workspace_id = group.audit_target, group.workspace_id
    group.delete()
    audit_record(actor=_audit_actor(actor), action="group.deleted", target=target, workspace_id=workspace_id)


@transaction.atomic
def group_roles_set(*, actor: Actor, group: Group, roles: Iterable[str]) -> Group:
    """The group's roles, by key: system roles but Admin, and the workspace's custom roles."""
    require(actor, group.workspace, Perm.ROLE_MANAGE)
    keys = sorted(set(roles))
    if "admin" in keys:
        raise ValidationError({"roles": "a group cannot carry the Admin role (rule 3)"})
    found = list(policy.roles_assignable(group.workspace).filter(key__in=keys))
    missing = set(keys) - {r.key for r in found}
    if missing:
        raise ValidationError({"roles": f"not a role of this workspace: {', '.join(sorted(missing))}"})
    before = sorted(group.roles.values_list("key", flat=True))
    giving.require_may_give_roles(actor, group.workspace, [r for r in found if r.key not in before])
    group.roles.set(found)
    audit_record(
        actor=_audit_actor(actor),
        action="group.roles_changed",
        target=group,
        workspace_id=group.workspace_id,
        details={"from": before, "to": keys},
    )
    return group


def identity_of(workspace: Workspace, *, user: Any = None, service_account: Any = None) -> tuple[Any, Any]:
    """A member user or a service account of this workspace, by object, id or email; exactly one."""
    if (user is None) == (service_account is None):
        raise ValidationError({"member": "name a user or a service account"})
    if user is not None:
        found_user = user if isinstance(user, User) else None
        if found_user is None:
            pk = uuid_or_none(user)
            users = User.objects.filter(pk=pk) if pk else User.objects.with_email(str(user))
            found_user = users.first()
        if found_user is None or not Membership.objects.filter(workspace=workspace, user=found_user).exists():
            raise ValidationError({"member": "is not a member of this workspace"})
        return found_user, None
    found_sa = service_account if isinstance(service_account, ServiceAccount) else None
    if found_sa is None:
        pk = uuid_or_none(service_account)
        accounts_here = ServiceAccount.objects.filter(workspace=workspace)
        found_sa = (
            accounts_here.filter(pk=pk) if pk else accounts_here.filter(name=str(service_account))
        ).first()
    if found_sa is None or found_sa.workspace_id != workspace.id:
        raise ValidationError({"member": "is not a service account of this workspace"})
    return None, found_sa


def _who(user: Any, service_account: Any) -> dict[str, str]:
    if user is not None:
        return {"user_id": str(user.id)}
    return {"service_account_id": str(service_account.id), "service_account": service_account.name}


@transaction.atomic
def group_member_add(
    *, actor: Actor, group: Group, user: Any = None, service_account: Any = None
) -> GroupMember:
    require(actor, group.workspace, Perm.MEMBER_MANAGE)
    found_user, found_sa = identity_of(group.workspace, user=user, service_account=service_account)
    giving.require_may_add_to_group(actor, group.workspace, group, service_account=found_sa is not None)
    member = GroupMember(group=group, user=found_user, service_account=found_sa)
    save_or_conflict(
        member,
        field="member",
        message="is already in this group",
        on=("user", "service_account"),
        force_insert=True,
    )
    audit_record(
        actor=_audit_actor(actor),
        action="group.member_added",
        target=group,
        workspace_id=group.workspace_id,
        details=_who(found_user, found_sa),
    )
    return member


@transaction.atomic
def group_member_remove(*, actor: Actor, group: Group, member_id: Any) -> None:
    """Take one user or service account out of the group; the next request already counts without it."""
    require(actor, group.workspace, Perm.MEMBER_MANAGE)
    pk = uuid_or_none(member_id)
    member = (
        GroupMember.objects.filter(group=group)
        .filter(Q(pk=pk) | Q(user_id=pk) | Q(service_account_id=pk))
        .select_related("user", "service_account")
        .first()
        if pk
        else None
    )
    if member is None:
        raise NotFound("group member")
    who = _who(member.user, member.service_account)
    member.delete()
    audit_record(
        actor=_audit_actor(actor),
        action="group.member_removed",
        target=group,
        workspace_id=group.workspace_id,
        details=who,
    )


# Environments.


def environment_policies(actor: Actor | None, workspace: Workspace) -> dict[str, frozenset[str]]:
    """Each environment's ceiling by the names of its capabilities."""
    require(actor, workspace, Perm.WORKSPACE_VIEW)
    return policy.ceiling_names_of(workspace)


@transaction.atomic
def environment_policy_set(
    *, actor: Actor, workspace: Workspace, environment: str, capabilities: Iterable[str]
) -> EnvironmentPolicy:
    """Widen or narrow an environment's ceiling (rule 5): an Admin's audited act."""
    require(actor, workspace, Perm.WORKSPACE_SETTINGS)
    if environment not in {e.value for e in Environment}:
        raise ValidationError({"environment": "must be dev, test or prod"})
    caps: set[str] = set()
    for value in capabilities:
        if value not in CAPABILITY_NAMES:
            raise ValidationError({"capabilities": f"{value} is not one of read, write, execute, debug"})
        caps.add(value)
    before = sorted(policy.ceiling_names_of(workspace)[environment])
    found, _ = EnvironmentPolicy.objects.select_for_update().get_or_create(
        workspace=workspace, environment=environment, defaults={"capabilities": before}
    )
    found.capabilities = sorted(caps)
    found.save()
    audit_record(
        actor=_audit_actor(actor),
        action="environment_policy.changed",
        target=found,
        workspace_id=workspace.id,
        details={"environment": environment, "from": before, "to": sorted(caps)},
    )
    return found


# Service accounts (Admins make and manage them; rule 8 limits what they do).


def service_accounts_visible(actor: Actor, workspace: Workspace) -> QuerySet[ServiceAccount]:
    if not policy.may(actor, Perm.MEMBER_VIEW, workspace):
        return ServiceAccount.objects.none()
    return ServiceAccount.objects.filter(workspace=workspace).prefetch_related("tokens")


def service_account_get(
    actor: Actor, workspace: Workspace, ref: Any, *, need: Perm = Perm.MEMBER_MANAGE
) -> ServiceAccount:
    require(actor, workspace, need)
    pk = uuid_or_none(ref)
    query = ServiceAccount.objects.filter(workspace=workspace)
    found = (query.filter(pk=pk) if pk else query.filter(name=str(ref))).first()
    if found is None:
        raise hidden(actor, ServiceAccount, pk, need, "service account")
    return found


def service_account_token_get(
    actor: Actor,
    workspace: Workspace,
    account: ServiceAccount,
    ref: Any,
    *,
    kind: TokenKind = TokenKind.SERVICE_ACCOUNT,
) -> ApiToken:
    """One of the account's tokens of `kind` (its API tokens, or an API client's keys), by id or prefix."""
    require(actor, workspace, Perm.MEMBER_MANAGE)
    pk = uuid_or_none(ref)
    query = ApiToken.objects.filter(kind=kind, service_account=account, service_account__workspace=workspace)
    # A NUL is in no prefix, and PostgreSQL refuses it in a query: not found, without asking.
    text = str(ref)
    found = (query.filter(pk=pk) if pk else query.filter(prefix=text)).first() if "\x00" not in text else None
    if found is None:
        raise NotFound("token")
    return found


def _account_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({"name": "a name is required"})
    clean: str = value.strip()
    if len(clean) > NAME_MAX or any(ord(ch) < 32 for ch in clean):
        raise ValidationError({"name": f"at most {NAME_MAX} characters, no control characters"})
    return clean


@transaction.atomic
def service_account_create(*, actor: Actor, workspace: Workspace, name: str) -> ServiceAccount:
    require(actor, workspace, Perm.MEMBER_MANAGE)
    account = ServiceAccount(
        workspace=workspace,
        name=_account_name(name),
        created_by=actor if isinstance(actor, User) else None,
    )
    save_or_conflict(
        account, field="name", message="a service account with this name already exists", force_insert=True
    )
    audit_record(actor=actor, action="service_account.created", target=account, workspace_id=workspace.id)
    return account


@transaction.atomic
def service_account_set_enabled(
    *, actor: Actor, workspace: Workspace, account: ServiceAccount, enabled: bool
) -> ServiceAccount:
    """Disable (its tokens stop working on the next request) or enable a service account again."""
    require(actor, workspace, Perm.MEMBER_MANAGE)
    locked = ServiceAccount.objects.select_for_update().get(pk=account.pk, workspace=workspace)
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


def service_account_token_create(
    *,
    actor: Actor,
    workspace: Workspace,
    account: ServiceAccount,
    name: str,
    expires_in_days: int,
    kind: TokenKind = TokenKind.SERVICE_ACCOUNT,
) -> tuple[ApiToken, str]:
    """A new token (of `kind`: an API client's key with API_KEY) and its secret, never shown again."""
    require(actor, workspace, Perm.MEMBER_MANAGE)
    if account.workspace_id != workspace.id:
        raise NotFound("service account")
    return tokens.token_issue(
        actor=actor, owner=account, name=name, expires_in_days=expires_in_days, kind=kind
    )


def service_account_token_revoke(
    *, actor: Actor, workspace: Workspace, token: ApiToken, kind: TokenKind = TokenKind.SERVICE_ACCOUNT
) -> ApiToken:
    require(actor, workspace, Perm.MEMBER_MANAGE)
    if token.kind != kind or token.service_account.workspace_id != workspace.id:  # type: ignore[union-attr]
        raise NotFound("token")
    return tokens.token_revoke(actor=actor, token=token)
