"""Changes to custom roles, groups, group members, recipe grants and environment policies, and the
selectors the interfaces read them through. Each change asks the policy, runs in one transaction and
records its audit event inside it (rule 16)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils.text import slugify

from causeway.access import giving, policy
from causeway.access.errors import NotFound
from causeway.access.models import EnvironmentPolicy, Group, GroupMember, Role
from causeway.access.perms import ADMIN_ONLY, CAPABILITY_NAMES, SYSTEM_ROLES, Environment, Perm
from causeway.access.policy import Actor, uuid_or_none
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.workspaces import service_accounts as accounts
from causeway.workspaces import services as workspace_services
from causeway.workspaces.models import Membership, ServiceAccount, ServiceAccountToken, Workspace

# What an Admin composes a custom role from (rule 4's vocabulary, without the Admin-only powers).
CATALOGUE: tuple[Perm, ...] = tuple(
    p for p in Perm if p in SYSTEM_ROLES["analyst"] and p is not Perm.WORKSPACE_VIEW
)
NAME_MAX = 100


def _audit_actor(actor: Actor) -> Any:
    return actor if hasattr(actor, "audit_actor") or policy.is_system(actor) else None


def require(actor: Actor | None, workspace: Workspace, perm: Perm) -> None:
    """The system actor may; anyone else needs `perm` in the workspace (NotFound if not a member)."""
    policy.require_in(actor, workspace, perm)


def _name(value: Any) -> str:
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


# Roles.


def clean_role_permissions(raw: Iterable[Any]) -> list[str]:
    """The permissions of a custom role: known, from the catalogue, never an Admin-only power (rule 3)."""
    known = {p.value: p for p in Perm}
    chosen: set[Perm] = set()
    for value in raw:
        perm = known.get(str(value))
        if perm is None:
            raise ValidationError({"permissions": f"{value} is not a permission"})
        if perm in ADMIN_ONLY:
            raise ValidationError(
                {"permissions": f"{perm} is an Admin-only power (rule 3): no custom role can hold it"}
            )
        if perm is Perm.WORKSPACE_VIEW:
            continue
        if perm not in CATALOGUE:
            raise ValidationError({"permissions": f"{perm} cannot be part of a custom role"})
        chosen.add(perm)
    return sorted(p.value for p in chosen)


def _scope(workspace: Workspace, all_projects: bool, project_ids: Iterable[Any]) -> list[Any]:
    if all_projects:
        return []
    from django.apps import apps

    project_model = apps.get_model("recipes", "Project")
    parsed = [uuid_or_none(ref) for ref in project_ids]
    ids = {pk for pk in parsed if pk is not None}
    if len(ids) != len(set(parsed)):
        raise ValidationError({"projects": "a project is named by its id"})
    found = list(project_model._default_manager.filter(workspace=workspace, pk__in=ids))
    # Named by the ids the caller sent, and nothing more: whether another workspace holds one stays unsaid.
    missing = sorted(str(pk) for pk in ids - {p.pk for p in found})
    if len(missing) == 1:
        raise ValidationError({"projects": f"project {missing[0]} is not in this workspace"})
    if missing:
        raise ValidationError({"projects": f"projects {', '.join(missing)} are not in this workspace"})
    if not found:
        raise ValidationError({"projects": "choose all projects, or at least one project"})
    return found


def roles_visible(actor: Actor, workspace: Workspace) -> QuerySet[Role]:
    if not policy.may(actor, Perm.MEMBER_VIEW, workspace):
        return Role.objects.none()
    return policy.roles_assignable(workspace).prefetch_related("projects")


def role_get(actor: Actor, workspace: Workspace, ref: Any, *, need: Perm = Perm.ROLE_MANAGE) -> Role:
    """One of the workspace's custom roles, by id or key. System roles are not editable."""
    require(actor, workspace, need)
    pk = uuid_or_none(ref)
    found = Role.objects.filter(workspace=workspace).filter(Q(pk=pk) if pk else Q(key=str(ref))).first()
    if found is None:
        if Role.objects.filter(workspace__isnull=True, is_system=True, key=str(ref)).exists() or (
            pk and Role.objects.filter(workspace__isnull=True, pk=pk).exists()
        ):
            raise ValidationError({"role": "system roles are fixed and cannot be changed"})
        raise hidden(actor, Role, pk, need, "role")
    return found


@transaction.atomic
def role_create(
    *,
    actor: Actor,
    workspace: Workspace,
    name: str,
    permissions: Iterable[Any],
    all_projects: bool = True,
    project_ids: Iterable[Any] = (),
) -> Role:
    require(actor, workspace, Perm.ROLE_MANAGE)
    name = _name(name)
    perms = clean_role_permissions(permissions)
    projects = _scope(workspace, all_projects, project_ids)
    giving.require_may_give_permissions(
        actor,
        workspace,
        [Perm(p) for p in perms],
        all_projects=all_projects,
        project_ids=[p.id for p in projects],
    )
    key = slugify(name)[:60] or "role"
    if key in SYSTEM_ROLES:
        raise ValidationError({"name": "is the name of a system role"})
    role = Role(
        workspace=workspace, key=key, name=name, is_system=False, permissions=perms, all_projects=all_projects
    )
    try:
        with transaction.atomic():
            role.save(force_insert=True)
    except IntegrityError:
        raise ValidationError({"name": "a role with this name already exists"}) from None
    role.projects.set(projects)
    audit_record(
        actor=_audit_actor(actor),
        action="role.created",
        target=role,
        workspace_id=workspace.id,
        details=_role_details(role, projects),
    )
    return role


def _role_details(role: Role, projects: list[Any]) -> dict[str, Any]:
    return {
        "key": role.key,
        "permissions": list(role.permissions),
        "all_projects": role.all_projects,
        "projects": sorted(str(p.id) for p in projects),
    }


@transaction.atomic
def role_update(
    *,
    actor: Actor,
    role: Role,
    name: str | None = None,
    permissions: Iterable[Any] | None = None,
    all_projects: bool | None = None,
    project_ids: Iterable[Any] | None = None,
) -> Role:
    if role.is_system or role.workspace is None:
        raise ValidationError({"role": "system roles are fixed and cannot be changed"})
    workspace = role.workspace
    require(actor, workspace, Perm.ROLE_MANAGE)
    locked = Role.objects.select_for_update().get(pk=role.pk)
    before = _role_details(locked, list(locked.projects.all()))
    if name is not None:
        locked.name = _name(name)
    if permissions is not None:
        locked.permissions = clean_role_permissions(permissions)
    if all_projects is not None:
        locked.all_projects = all_projects
    if all_projects is not None or project_ids is not None:
        projects = _scope(
            workspace, locked.all_projects, project_ids or [p.id for p in locked.projects.all()]
        )
    else:
        projects = list(locked.projects.all())
    if permissions is not None or all_projects is not None or project_ids is not None:
        # A role whose permissions or scope change is given anew to everyone holding it.
        giving.require_may_give_permissions(
            actor,
            workspace,
            locked.perms,
            all_projects=locked.all_projects,
            project_ids=[p.id for p in projects],
        )
    locked.save()
    locked.projects.set(projects)
    audit_record(
        actor=_audit_actor(actor),
        action="role.updated",
        target=locked,
        workspace_id=workspace.id,
        details={"before": before, "after": _role_details(locked, projects)},
    )
    return locked


@transaction.atomic
def role_delete(*, actor: Actor, role: Role) -> None:
    if role.is_system or role.workspace is None:
        raise ValidationError({"role": "system roles are fixed and cannot be deleted"})
    require(actor, role.workspace, Perm.ROLE_MANAGE)
    if Membership.objects.filter(role=role).exists():
        raise ValidationError({"role": "members still hold this role; give them another role first"})
    target = role.audit_target
    workspace_id = role.workspace_id
    role.delete()
    audit_record(actor=_audit_actor(actor), action="role.deleted", target=target, workspace_id=workspace_id)


# Members' roles and invitations: the workspace's services make the change; what may be given is
# asked here first.


@transaction.atomic
def member_role_change(
    *, actor: Actor, workspace: Workspace, membership: Membership, role: str
) -> Membership:
    """Give a member another role, never one carrying more than the giver holds: so nobody changes
    their own role upward either."""
    require(actor, workspace, Perm.MEMBER_MANAGE)
    if membership.workspace_id != workspace.id:
        raise NotFound("member")
    found = policy.roles_assignable(workspace).filter(key=role).first()
    if found is not None:
        giving.require_may_give_roles(actor, workspace, [found])
    return workspace_services.member_role_change(actor=actor, membership=membership, role=role)


@transaction.atomic
def workspace_invitation_create(
    *, actor: Actor, workspace: Workspace, email: str, role: str
) -> workspace_services.IssuedInvitation:
    """Invite someone with a role the inviter could give them as a member."""
    require(actor, workspace, Perm.MEMBER_MANAGE)
    found = Role.objects.filter(workspace__isnull=True, is_system=True, key=role).first()
    if found is not None:
        giving.require_may_give_roles(actor, workspace, [found])
    return workspace_services.workspace_invitation_create(
        actor=actor, workspace=workspace, email=email, role=role
    )


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
    group = Group(workspace=workspace, name=_name(name))
    try:
        with transaction.atomic():
            group.save(force_insert=True)
    except IntegrityError:
        raise ValidationError({"name": "a group with this name already exists"}) from None
    audit_record(actor=_audit_actor(actor), action="group.created", target=group, workspace_id=workspace.id)
    return group


@transaction.atomic
def group_rename(*, actor: Actor, group: Group, name: str) -> Group:
    require(actor, group.workspace, Perm.MEMBER_MANAGE)
    before = group.name
    group.name = _name(name)
    try:
        with transaction.atomic():
            group.save(update_fields=["name"])
    except IntegrityError:
        raise ValidationError({"name": "a group with this name already exists"}) from None
    audit_record(
        actor=_audit_actor(actor),
        action="group.renamed",
        target=group,
        workspace_id=group.workspace_id,
        details={"from": before, "to": group.name},
    )
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
    try:
        with transaction.atomic():
            member.save(force_insert=True)
    except IntegrityError:
        raise ValidationError({"member": "is already in this group"}) from None
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
    actor: Actor, workspace: Workspace, account: ServiceAccount, ref: Any
) -> ServiceAccountToken:
    require(actor, workspace, Perm.MEMBER_MANAGE)
    pk = uuid_or_none(ref)
    query = ServiceAccountToken.objects.filter(service_account=account, service_account__workspace=workspace)
    found = (query.filter(pk=pk) if pk else query.filter(prefix=str(ref))).first()
    if found is None:
        raise NotFound("token")
    return found


def service_account_create(*, actor: Actor, workspace: Workspace, name: str) -> ServiceAccount:
    require(actor, workspace, Perm.MEMBER_MANAGE)
    return accounts.service_account_create(actor=_audit_actor(actor), workspace=workspace, name=name)


def service_account_set_enabled(
    *, actor: Actor, workspace: Workspace, account: ServiceAccount, enabled: bool
) -> ServiceAccount:
    require(actor, workspace, Perm.MEMBER_MANAGE)
    return accounts.service_account_set_enabled(
        actor=_audit_actor(actor), service_account=account, enabled=enabled
    )


def service_account_token_create(
    *, actor: Actor, workspace: Workspace, account: ServiceAccount, name: str, expires_in_days: int
) -> tuple[ServiceAccountToken, str]:
    require(actor, workspace, Perm.MEMBER_MANAGE)
    return accounts.service_account_token_create(
        actor=_audit_actor(actor), service_account=account, name=name, expires_in_days=expires_in_days
    )


def service_account_token_revoke(
    *, actor: Actor, workspace: Workspace, token: ServiceAccountToken
) -> ServiceAccountToken:
    require(actor, workspace, Perm.MEMBER_MANAGE)
    return accounts.service_account_token_revoke(actor=_audit_actor(actor), token=token)
