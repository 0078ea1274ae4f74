"""The policy: what an actor may do in a workspace, and why (rules 1, 2, 3, 5, 8, 9).

Effective permission = (role permissions within the role's project scope, plus direct recipe grants,
plus the roles and grants of every group the actor is in), within the environment's ceiling (for
humans), without the Admin-only powers unless the actor is an Admin (rule 3). Role project scopes and
recipe grants name projects and recipes, so they live in `recipes` and are read there, by the answers
`recipes/policy.py` registers; this module reads the roles, groups and ceilings. A service account holds
only what rule 8 leaves it: the execute grants it has, directly or through a group. The system actor
(jobs, schedules, the operator's command line) holds everything.

`standing(actor, workspace)` reads those ingredients once; `may(actor, perm, obj)` and
`explain(actor, perm, obj)` answer for one object, dispatching on its type: this module answers for a
workspace, and each content app registers its own models with `holding.register` (see
`recipes/policy.py`, `runs/policy.py`). Lists are the content apps' restricted querysets,
`Model.objects.visible_to(actor, perm)`, built with `restrict` from the same standing.

Nothing is cached between calls: each request reads the actor's standing afresh, so a removal from a
group, a revoked grant or a disabled service account counts on the very next request.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from causeway.access.actors import SYSTEM, TRIGGER, Actor, SystemActor
from causeway.access.errors import Forbidden, MfaRequired, NotFound
from causeway.access.models import EnvironmentPolicy, Group
from causeway.access.perms import (
    ADMIN_ONLY,
    DEFAULT_CEILINGS,
    UNCEILED,
    Environment,
    Perm,
    perms_named,
    perms_of,
)
from causeway.accounts import mfa
from causeway.accounts.models import User
from causeway.audit.models import Outcome
from causeway.audit.services import HasAuditTarget, audit_record
from causeway.workspaces.models import Invitation, Membership, Role, ServiceAccount, Workspace
from causeway.workspaces.selectors import (
    invitation_open_by_token,
    invitations_pending,
    workspace_memberships,
)

__all__ = ["SYSTEM", "TRIGGER", "Actor", "SystemActor"]

# Rule 8: all a service account may hold on a recipe (its own jobs are read through the jobs' queryset).
SERVICE_ACCOUNT_PERMS: frozenset[Perm] = frozenset({Perm.RECIPE_RUN})

# Every row. Not `Q()`: an empty Q is dropped when OR-ed with another, which would turn "everything,
# or these" into "these".
EVERYTHING = Q(pk__isnull=False)
NOTHING = Q(pk__in=[])


# Who is acting.


def is_human(actor: object) -> TypeGuard[User]:
    return isinstance(actor, User) and actor.is_active


def is_system(actor: object) -> TypeGuard[SystemActor]:
    """The system actor: jobs, schedules and the operator's command line, which hold the database."""
    return isinstance(actor, SystemActor)


def is_service_account(actor: object, workspace: Workspace | None = None) -> TypeGuard[ServiceAccount]:
    return (
        isinstance(actor, ServiceAccount)
        and actor.is_active
        and (workspace is None or actor.workspace_id == workspace.id)
    )


def is_staff(actor: object) -> bool:
    return is_human(actor) and bool(actor.is_staff)


def require_staff(actor: object) -> None:
    if not is_staff(actor):
        raise NotFound("page")
    require_second_factor(actor)


def require_second_factor(actor: object) -> None:
    """Staff act (as staff, or in a workspace) only with a second factor once the platform requires it
    (`CAUSEWAY_STAFF_MFA_REQUIRED`): their standing reaches every workspace's people."""
    if (
        settings.STAFF_MFA_REQUIRED
        and isinstance(actor, User)
        and actor.is_staff
        and not mfa.mfa_enrolled(user=actor)
    ):
        raise MfaRequired(None, actor)


def require_platform(actor: Actor | None) -> None:
    """The platform's own acts (workspaces, platform invitations): staff's, or the operator's command
    line. Anyone else is answered as if the page did not exist, as the routes answer them."""
    if not is_system(actor):
        require_staff(actor)


def actor_of(who: object) -> Actor | None:
    """The acting identity behind a request's user or token; None for an anonymous visitor."""
    return who if isinstance(who, User | ServiceAccount | SystemActor) else None


# What the actor holds in one workspace.


@dataclass(frozen=True)
class ScopedRole:
    """A role the actor holds, where from (membership or a group), and what it gives. Which projects a
    role scoped to chosen projects covers is read where the scopes live (`recipes`)."""

    role: Role
    via: str  # "membership" or the group's name
    perms: frozenset[Perm]

    @property
    def all_projects(self) -> bool:
        return self.role.all_projects


@dataclass(frozen=True)
class Standing:
    """Everything the policy needs to know about one actor in one workspace, read once per call."""

    workspace: Workspace
    actor: Actor | None
    human: bool
    member: bool
    is_admin: bool
    roles: tuple[ScopedRole, ...]
    group_ids: frozenset[uuid.UUID]
    ceilings: Mapping[str, frozenset[Perm]] = field(default_factory=dict)
    system: bool = False
    service_account: bool = False
    group_names: Mapping[uuid.UUID, str] = field(default_factory=dict)
    # The projects each role scoped to chosen projects covers, by role id, as `recipes` read them for
    # this standing (once, on first need). This module never reads or trusts it: a role whose scope is
    # not here covers no project.
    project_scopes: dict[uuid.UUID, frozenset[uuid.UUID]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def ceiling(self, environment: str) -> frozenset[Perm]:
        return self.ceilings.get(environment, frozenset())

    def cap(self, perms: Iterable[Perm], environment: str | None) -> frozenset[Perm]:
        """Apply rule 8 (service accounts), the environment ceiling (humans; none for the workspace
        itself, `environment=None`) and the Admin-only rule."""
        held = frozenset(perms)
        if self.system:
            return held
        if self.service_account:
            return held & SERVICE_ACCOUNT_PERMS
        if self.human and environment is not None:
            held = (held & self.ceiling(environment)) | (held & UNCEILED)
        if not self.is_admin:
            held -= ADMIN_ONLY
        return held

    def environments_allowing(self, perm: Perm) -> list[str]:
        if not self.human or perm in UNCEILED:
            return [e.value for e in Environment]
        return [e.value for e in Environment if perm in self.ceiling(e.value)]

    def role_perms(self, *, all_projects: bool = False) -> set[Perm]:
        """The permissions of every role (only of the roles covering every project with
        `all_projects`), before any ceiling. A project's: `recipes.models.roles_covering`."""
        held: set[Perm] = set()
        for scoped in self.roles:
            if all_projects and not scoped.all_projects:
                continue
            held |= scoped.perms
        return held


def ceiling_names_of(workspace: Workspace) -> dict[str, frozenset[str]]:
    """Each environment's ceiling by its capabilities' names: the stored policy, or rule 5's default."""
    found = {p.environment: p.ceiling for p in EnvironmentPolicy.objects.filter(workspace=workspace)}
    return {e.value: found.get(e.value, DEFAULT_CEILINGS[e]) for e in Environment}


def ceilings_of(workspace: Workspace) -> dict[str, frozenset[Perm]]:
    """Each environment's ceiling as permissions."""
    return {env: perms_named(names) for env, names in ceiling_names_of(workspace).items()}


def is_admin_role(role: Role) -> bool:
    return role.is_system and role.workspace_id is None and role.key == "admin"


def _scoped_roles(held: list[tuple[Role, str]]) -> tuple[ScopedRole, ...]:
    return tuple(ScopedRole(role=role, via=via, perms=perms_of(role.permissions)) for role, via in held)


_ROLE_FIELDS = ("id", "workspace_id", "key", "name", "is_system", "permissions", "all_projects")


def _groups_and_roles(
    workspace: Workspace, user: User
) -> tuple[dict[uuid.UUID, str], list[tuple[Role, str]]]:
    """The user's groups in the workspace and the roles they carry, in one query."""
    rows = Group.objects.filter(workspace=workspace, members__user=user).values_list(
        "id", "name", *(f"roles__{f}" for f in _ROLE_FIELDS)
    )
    groups: dict[uuid.UUID, str] = {}
    roles: list[tuple[Role, str]] = []
    for group_id, name, *role in rows:
        groups[group_id] = name
        if role[0] is not None:
            roles.append((Role(**dict(zip(_ROLE_FIELDS, role, strict=True))), name))
    return groups, roles


def standing(actor: Actor | None, workspace: Workspace) -> Standing:
    """The actor's standing, read afresh from the database (a handful of small indexed queries)."""
    ceilings = ceilings_of(workspace)
    if is_system(actor):
        return Standing(workspace, actor, False, True, True, (), frozenset(), ceilings, system=True)
    if is_human(actor):
        membership = Membership.objects.select_related("role").filter(workspace=workspace, user=actor).first()
        if membership is None:
            return Standing(workspace, actor, True, False, False, (), frozenset(), ceilings)
        groups, group_roles = _groups_and_roles(workspace, actor)
        # A group never carries the Admin role (rule 3 keeps Admin powers to Admin members).
        held = [(membership.role, "membership")] + [
            (r, via) for r, via in group_roles if not is_admin_role(r)
        ]
        return Standing(
            workspace,
            actor,
            True,
            True,
            is_admin_role(membership.role),
            _scoped_roles(held),
            frozenset(groups),
            ceilings,
            group_names=groups,
        )
    if is_service_account(actor, workspace):
        # Groups give a service account their grants, never their roles (rule 8).
        found = Group.objects.filter(workspace=workspace, members__service_account=actor)
        groups = dict(found.values_list("id", "name").distinct())
        return Standing(
            workspace,
            actor,
            False,
            True,
            False,
            (),
            frozenset(groups),
            ceilings,
            service_account=True,
            group_names=groups,
        )
    return Standing(workspace, actor, False, False, False, (), frozenset(), ceilings)


# Why: the sources of a permission.


@dataclass(frozen=True)
class Reason:
    """One source of a permission: a role (through membership or a group) or a grant (direct or a group's)."""

    kind: str  # "role", "grant", "system"
    name: str  # the role's name, or the granted capability
    via: str  # "membership", "direct", or "group <name>"

    def __str__(self) -> str:
        if self.kind == "system":
            return "the operator's command line holds every permission"
        if self.kind == "role":
            return f"role {self.name} via {self.via}"
        return f"{self.name} grant via {self.via}"


@dataclass(frozen=True)
class Holding:
    """What the actor holds on one object: the permissions after every rule, the environment whose
    ceiling applied (None for the workspace itself), and the project whose roles counted."""

    held: frozenset[Perm]
    environment: str | None = None
    project_id: uuid.UUID | None = None
    # The roles that count here (those covering the project); None: every role the actor holds.
    roles: tuple[ScopedRole, ...] | None = None
    # Sources beyond roles (a recipe's grants), as (permission, reason) pairs.
    extra_reasons: tuple[tuple[Perm, Reason], ...] = ()
    # Whether roles speak only of these permissions here (a recipe takes only recipe and job ones).
    role_kinds: frozenset[Perm] | None = None


@dataclass(frozen=True)
class Explanation:
    """Whether the actor holds `perm` on the object, what gave it, and what withheld it if anything."""

    perm: Perm
    allowed: bool
    reasons: tuple[Reason, ...]
    withheld_by: str = ""

    def __str__(self) -> str:
        given = "; ".join(str(r) for r in self.reasons) or "no role or grant gives it"
        if self.allowed:
            return f"{self.perm}: allowed ({given})"
        return f"{self.perm}: refused ({self.withheld_by or given})"


class InWorkspace(Protocol):
    """Content of one workspace, which can be named on the audit record."""

    @property
    def workspace_id(self) -> uuid.UUID: ...

    @property
    def audit_target(self) -> tuple[str, str, str]: ...


@functools.singledispatch
def holding(obj: object, st: Standing) -> Holding:
    """What `st`'s actor holds on `obj`. Each content model registers its own answer."""
    raise TypeError(f"the policy knows nothing of {type(obj).__name__}")


@holding.register
def _holding_workspace(obj: Workspace, st: Standing) -> Holding:
    """In the workspace itself: what the roles give somewhere in it. A content permission counts if
    some environment allows it (creating a project asks again, in its environment)."""
    if st.system:
        return Holding(frozenset(Perm))
    if not st.member:
        return Holding(frozenset())
    if st.service_account:
        return Holding(frozenset({Perm.WORKSPACE_VIEW}))
    held = {p for p in st.role_perms() if st.environments_allowing(p)}
    return Holding(st.cap(held | {Perm.WORKSPACE_VIEW}, None))


def workspace_of(obj: object) -> Workspace:
    if isinstance(obj, Workspace):
        return obj
    found = getattr(obj, "workspace", None)
    if not isinstance(found, Workspace):
        raise TypeError(f"{type(obj).__name__} belongs to no workspace")
    return found


def held(actor: Actor | None, obj: object) -> frozenset[Perm]:
    """Every permission the actor holds on `obj`."""
    return holding(obj, standing(actor, workspace_of(obj))).held


def may(actor: Actor | None, perm: Perm, obj: object) -> bool:
    """True if the actor holds `perm` on `obj` (a workspace, or content a content app registered)."""
    return perm in held(actor, obj)


def _via(group_id: uuid.UUID | None, st: Standing) -> str:
    if group_id is None:
        return "direct"
    return f"group {st.group_names.get(group_id, str(group_id))}"


def grant_reason(st: Standing, capability: str, group_id: uuid.UUID | None) -> Reason:
    return Reason("grant", capability, _via(group_id, st))


def explain(actor: Actor | None, perm: Perm, obj: object) -> Explanation:
    """Why the actor holds, or does not hold, `perm` on `obj`; a refusal names what withheld it."""
    workspace = workspace_of(obj)
    st = standing(actor, workspace)
    if st.system:
        return Explanation(perm, True, (Reason("system", "", ""),))
    if not st.member:
        return Explanation(perm, False, (), "not a member of the workspace")
    found = holding(obj, st)
    reasons = [
        Reason("role", scoped.role.name, scoped.via)
        for scoped in (st.roles if found.roles is None else found.roles)
        if perm in scoped.perms and (found.role_kinds is None or perm in found.role_kinds)
    ]
    reasons += [reason for given, reason in found.extra_reasons if given is perm]
    allowed = perm in found.held
    withheld = ""
    if not allowed and (reasons or perm is Perm.WORKSPACE_VIEW):
        withheld = _withheld(st, perm, found.environment)
    return Explanation(perm, allowed, tuple(reasons), withheld)


def _withheld(st: Standing, perm: Perm, environment: str | None) -> str:
    if st.service_account:
        return "a service account may only execute the recipes it is granted (rule 8)"
    if perm in ADMIN_ONLY and not st.is_admin:
        return "an Admin-only power (rule 3)"
    if environment is not None and st.human and perm not in st.ceiling(environment):
        return f"the {environment.upper()} environment's policy does not allow it"
    return ""


# Refusals.


def deny_hidden(actor: Actor | None, workspace: Workspace, target: HasAuditTarget, need: str) -> None:
    """A denied attempt on an object that exists goes on that workspace's record, though the answer is
    404 (rule 9 hides it; SECURITY-TESTS 13 still counts it)."""
    with transaction.atomic():
        audit_record(
            actor=actor if isinstance(actor, User | ServiceAccount) else None,
            action="access.denied",
            target=target,
            workspace_id=workspace.id,
            outcome=Outcome.DENIED,
            details={"permission": str(need), "answer": "not found"},
        )


def require(
    actor: Actor | None, perm: Perm, obj: HasAuditTarget, *, what: str, view: Perm | None = None
) -> None:
    """Refuse unless the actor holds `perm` on `obj`: NotFound if it may not even know the object
    exists (without `view`, rule 9), Forbidden naming `perm` if it may. Holding `perm` itself (a
    service account's execute) is knowing it exists."""
    workspace = workspace_of(obj)
    st = standing(actor, workspace)
    if not st.member:
        if not isinstance(obj, Workspace):
            deny_hidden(actor, workspace, obj, perm)
        raise NotFound(what)
    found = holding(obj, st).held
    if perm in found:
        return
    if view is not None and view not in found:
        deny_hidden(actor, workspace, obj, perm)
        raise NotFound(what)
    raise Forbidden(perm, workspace=workspace, actor=actor)


def require_in_environment(
    actor: Actor | None, workspace: Workspace, need: Perm, environment: str | None
) -> None:
    """For creating a project: NotFound for a non-member (rule 9), Forbidden without `need` from a role
    covering every project, within that environment's ceiling (rule 5: in TEST and PROD no human
    creates content under the default policies), or within any environment's if `environment` is None."""
    st = standing(actor, workspace)
    if not st.member:
        raise NotFound("workspace")
    wanted = [e.value for e in Environment] if environment is None else [environment]
    held = st.role_perms(all_projects=True)
    if not st.system and not any(need in st.cap(held, e) for e in wanted):
        raise Forbidden(need, workspace=workspace, actor=actor)


def in_workspace(
    actor: Actor | None, workspace: Workspace, found: InWorkspace | None, need: Perm, what: str
) -> None:
    """NotFound for a missing object, and for another workspace's, which goes on that workspace's record."""
    if found is None:
        raise NotFound(what)
    if found.workspace_id != workspace.id:
        deny_hidden(actor, Workspace.objects.get(pk=found.workspace_id), found, need)
        raise NotFound(what)


def uuid_or_none(ref: object) -> uuid.UUID | None:
    if isinstance(ref, uuid.UUID):
        return ref
    try:
        return uuid.UUID(str(ref))
    except ValueError:
        return None


# Lists: restricted querysets.

QS = TypeVar("QS", bound=QuerySet[Any])


def restrict(
    queryset: QS,
    actor: Actor | None,
    workspace: Workspace | None,
    condition: Callable[[Standing], Q],
) -> QS:
    """`queryset` narrowed to the rows `condition` allows, workspace by workspace: the one given, or
    every workspace the actor belongs to. The content apps' `visible_to` are built on this."""
    if is_system(actor) and workspace is None:
        return queryset
    if workspace is not None:
        places = [workspace]
    elif is_service_account(actor):
        places = [actor.workspace]
    elif is_human(actor):
        places = list(Workspace.objects.filter(memberships__user=actor).distinct())
    else:
        places = []
    allowed = NOTHING
    for place in places:
        st = standing(actor, place)
        if st.member:
            allowed |= Q(workspace=place) & (EVERYTHING if st.system else condition(st))
    return queryset.filter(allowed)


# Workspaces, members, invitations, users.


def workspace_perms(actor: Actor | None, workspace: Workspace) -> frozenset[Perm]:
    """What the actor holds in the workspace itself (for showing a page's links)."""
    return held(actor, workspace)


def workspaces_visible(actor: Actor | None) -> QuerySet[Workspace]:
    """Workspaces the actor is a member of; being staff adds none (staff is not membership).

    The system actor sees them all.
    """
    if is_system(actor):
        return Workspace.objects.all()
    if not is_human(actor):
        return Workspace.objects.none()
    return Workspace.objects.filter(memberships__user=actor).distinct()


def _find_workspace(ref: str | uuid.UUID) -> Workspace | None:
    pk = uuid_or_none(ref)
    if pk is not None:
        return Workspace.objects.filter(pk=pk).first()
    return Workspace.objects.filter(slug=str(ref)).first()


def workspace_get(actor: Actor | None, ref: str | uuid.UUID, *, need: Perm) -> Workspace:
    """The workspace by slug or id if the actor holds `need` there.

    Non-members get NotFound, as if it did not exist (rule 9); members lacking the
    permission get Forbidden naming it, since they already know the workspace exists.
    """
    workspace = _find_workspace(ref)
    if workspace is None:
        raise NotFound("workspace")
    st = standing(actor, workspace)
    if not st.member or st.system:
        if not st.system:
            deny_hidden(actor, workspace, workspace, need)
        raise NotFound("workspace")
    if need not in holding(workspace, st).held:
        raise Forbidden(need, workspace=workspace, actor=actor)
    if workspace.mfa_required and isinstance(actor, User) and not mfa.mfa_enrolled(user=actor):
        raise MfaRequired(workspace, actor)
    require_second_factor(actor)
    return workspace


def system_workspace_get(actor: Actor | None, ref: str | uuid.UUID) -> Workspace:
    """Any workspace, for the system actor alone; the CLI is run by whoever already holds the database."""
    if not is_system(actor):
        raise NotFound("workspace")
    workspace = _find_workspace(ref)
    if workspace is None:
        raise NotFound("workspace")
    return workspace


def require_in(actor: Actor | None, workspace: Workspace, perm: Perm) -> None:
    """The system may; anyone else needs `perm` in the workspace (NotFound if not a member)."""
    require(actor, perm, workspace, what="workspace")


def membership_of(actor: Actor | None, workspace: Workspace) -> Membership | None:
    if not is_human(actor):
        return None
    return Membership.objects.select_related("role").filter(workspace=workspace, user=actor).first()


def membership_get(
    actor: Actor | None, workspace: Workspace, member_id: str | uuid.UUID, *, need: Perm
) -> Membership:
    """A member of this workspace, by id; a member of another workspace is NotFound like a missing one.
    Asked by a member: the system changes members through its own commands, not by looking one up."""
    if is_system(actor):
        raise NotFound("workspace")
    require_in(actor, workspace, need)
    pk = uuid_or_none(member_id)
    found = (
        Membership.objects.select_related("user", "role", "workspace")
        .filter(workspace=workspace, pk=pk)
        .first()
        if pk is not None
        else None
    )
    if found is None:
        elsewhere = Membership.objects.select_related("workspace").filter(pk=pk).first() if pk else None
        if elsewhere is not None:
            deny_hidden(actor, elsewhere.workspace, elsewhere, need)
        raise NotFound("member")
    return found


def memberships_visible(actor: Actor | None, workspace: Workspace) -> QuerySet[Membership]:
    """The workspace's members, for an actor who may see them (member:view); nothing otherwise."""
    if not may(actor, Perm.MEMBER_VIEW, workspace):
        return Membership.objects.none()
    return workspace_memberships(workspace)


def invitations_visible(actor: Actor | None, workspace: Workspace | None) -> QuerySet[Invitation]:
    """Pending invitations: a workspace's for those who may see its members, the platform's for staff."""
    if workspace is None:
        return invitations_pending(workspace=None) if is_staff(actor) else Invitation.objects.none()
    if not may(actor, Perm.MEMBER_VIEW, workspace):
        return Invitation.objects.none()
    return invitations_pending(workspace=workspace)


def invitation_get(
    actor: Actor | None, invitation_id: str | uuid.UUID, *, workspace: Workspace | None
) -> Invitation:
    """One invitation to revoke: of this workspace (member:manage there), or of the platform (staff)."""
    if workspace is None:
        require_staff(actor)
    else:
        require_in(actor, workspace, Perm.MEMBER_MANAGE)
    pk = uuid_or_none(invitation_id)
    found = (
        Invitation.objects.select_related("workspace", "role").filter(workspace=workspace, pk=pk).first()
        if pk is not None
        else None
    )
    if found is None:
        raise NotFound("invitation")
    return found


def invitation_by_token(token: str) -> Invitation:
    """The open invitation this secret opens. The secret is the capability: whoever holds it may read it.

    Unknown, used, revoked and expired all raise the same NotFound, so nothing about the email leaks.
    """
    found = invitation_open_by_token(token)
    if found is None:
        raise NotFound("invitation")
    return found


def users_visible(actor: Actor | None) -> QuerySet[User]:
    """Every user of the platform for staff; otherwise only the actor."""
    if is_staff(actor):
        return User.objects.order_by("date_joined")
    if is_human(actor):
        return User.objects.filter(pk=actor.pk)
    return User.objects.none()


def roles_assignable(workspace: Workspace) -> QuerySet[Role]:
    """Roles a member of this workspace may hold: the system roles and the workspace's own."""
    return Role.objects.filter(Q(workspace__isnull=True, is_system=True) | Q(workspace=workspace)).order_by(
        "-is_system", "name"
    )
