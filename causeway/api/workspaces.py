"""API operations on workspaces, members, invitations and workspace settings.

Input schemas list the fields a caller may set; anything else in the body (`id`, `workspace_id`,
`created_by`, `is_staff`, ...) is refused (422) and never reaches a service.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from causeway.access import members as services
from causeway.access import policy
from causeway.access.perms import Perm
from causeway.access.routes import operation
from causeway.api.schemas import (
    Email,
    Host,
    ObjectId,
    Shown,
    StrictIn,
    WorkspaceRef,
    answers,
    name_field,
    stated,
)
from causeway.connections import outbound
from causeway.workspaces import selectors
from causeway.workspaces.models import (
    SESSION_TIMEOUT_MAX,
    SESSION_TIMEOUT_MIN,
    Invitation,
    Membership,
    Workspace,
)

TIMEOUT_MIN = int(SESSION_TIMEOUT_MIN.total_seconds() // 60)
TIMEOUT_MAX = int(SESSION_TIMEOUT_MAX.total_seconds() // 60)
# Host names the service's check accepts (a part of them, stated exactly), or `*.` and a domain.

router = Router(tags=["workspaces"])


class WorkspaceOut(Schema):
    id: uuid.UUID
    name: str
    slug: str
    created_at: datetime
    session_timeout_minutes: int
    mfa_required: bool
    role: str | None

    @staticmethod
    def resolve_session_timeout_minutes(workspace: Workspace) -> int:
        return selectors.session_timeout_minutes(workspace)

    @staticmethod
    def resolve_role(workspace: Workspace, context: dict[str, Any]) -> str | None:
        membership = policy.membership_of(context["request"].auth, workspace)
        return membership.role.key if membership is not None else None


class WorkspaceCreateIn(StrictIn):
    name: str = name_field("the workspace's name (its slug is made from it when none is given)")
    slug: str = Field(
        "",
        description="lower-case letters, digits and single hyphens; empty: made from the name",
        json_schema_extra=stated(maxLength=services.SLUG_MAX, pattern=r"^([a-z0-9]+(-[a-z0-9]+)*)?$"),
    )
    admin_email: str = Field(
        "", description="the first Admin; empty: you", json_schema_extra=stated(maxLength=254)
    )


class WorkspaceSettingsIn(StrictIn):
    name: str | None = name_field("the workspace's name", default=None)
    session_timeout_minutes: int | None = Field(
        None,
        description="sign out after this long without activity",
        json_schema_extra=stated(minimum=TIMEOUT_MIN, maximum=TIMEOUT_MAX),
    )
    mfa_required: bool | None = Field(
        None, description="members need a second factor to act in the workspace (turn yours on first)"
    )


class OutboundHostsIn(StrictIn):
    hosts: list[Host] = Field(
        description='host names, IP addresses, or "*." and a domain',
        json_schema_extra=stated(maxItems=outbound.MAX_ALLOWED_HOSTS),
    )


class OutboundHostsOut(Schema):
    hosts: list[str]


class MemberOut(Schema):
    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    role: str
    created_at: datetime

    @staticmethod
    def resolve_email(membership: Membership) -> str:
        return str(membership.user.email)

    @staticmethod
    def resolve_first_name(membership: Membership) -> str:
        return str(membership.user.first_name)

    @staticmethod
    def resolve_last_name(membership: Membership) -> str:
        return str(membership.user.last_name)

    @staticmethod
    def resolve_role(membership: Membership) -> str:
        return membership.role.key


class MemberRoleIn(StrictIn):
    role: str = Field(
        max_length=60,
        description="a system role's key or a custom role's key",
        json_schema_extra=stated(pattern=r"^[-a-z0-9_]+$"),
    )


class InvitationOut(Schema):
    id: uuid.UUID
    email: str
    role: str | None
    user_type: str
    invited_by: str | None
    created_at: datetime
    expires_at: datetime

    @staticmethod
    def resolve_role(invitation: Invitation) -> str | None:
        return invitation.role.key if invitation.role is not None else None

    @staticmethod
    def resolve_invited_by(invitation: Invitation) -> str | None:
        return invitation.invited_by.email if invitation.invited_by is not None else None


class InvitationCreatedOut(InvitationOut):
    link: str


class WorkspaceInvitationIn(StrictIn):
    email: Email
    role: str = Field(
        description="a system role", json_schema_extra=stated(enum=["admin", "analyst", "operator"])
    )


class PlatformInvitationIn(StrictIn):
    email: Email
    user_type: str = Field("standard", json_schema_extra=stated(enum=["standard", "staff"]))


@router.get(
    "/workspaces", response=answers({200: list[WorkspaceOut]}), summary="The workspaces you are a member of"
)
@operation(authenticated=True)
def workspace_list(request: HttpRequest) -> list[Workspace]:
    return list(policy.workspaces_visible(request.auth))  # type: ignore[attr-defined]


@router.post(
    "/workspaces", response=answers({201: WorkspaceOut}, conflict=True), summary="Create a workspace (staff)"
)
@operation(staff=True)
def workspace_create(request: HttpRequest, body: WorkspaceCreateIn) -> Status[Workspace]:
    workspace = services.workspace_create(
        actor=request.auth,  # type: ignore[attr-defined]
        name=body.name,
        slug=body.slug,
        admin_email=body.admin_email,
    )
    return Status(201, workspace)


@router.get(
    "/workspaces/{workspace_id}",
    response=answers({200: WorkspaceOut}),
    summary="One workspace and its settings",
)
@operation(need=Perm.WORKSPACE_VIEW)
def workspace_get(request: HttpRequest, workspace_id: WorkspaceRef) -> Workspace:
    found: Workspace = request.workspace  # type: ignore[attr-defined]
    return found


@router.patch(
    "/workspaces/{workspace_id}",
    response=answers({200: WorkspaceOut}),
    summary="Change the workspace's settings",
)
@operation(need=Perm.WORKSPACE_SETTINGS)
def workspace_update(
    request: HttpRequest, workspace_id: WorkspaceRef, body: WorkspaceSettingsIn
) -> Workspace:
    workspace = services.workspace_settings_update(
        actor=request.auth,  # type: ignore[attr-defined]
        workspace=request.workspace,  # type: ignore[attr-defined]
        name=body.name,
        session_timeout_minutes=body.session_timeout_minutes,
        mfa_required=body.mfa_required,
    )
    return workspace


@router.get(
    "/workspaces/{workspace_id}/outbound-hosts",
    response=answers({200: OutboundHostsOut}),
    summary="Hosts recipes may call even at loopback, private or link-local addresses (Admin)",
)
@operation(need=Perm.WORKSPACE_SETTINGS)
def outbound_hosts_get(request: HttpRequest, workspace_id: WorkspaceRef) -> dict[str, Any]:
    return {"hosts": list(request.workspace.outbound_allowed_hosts or [])}  # type: ignore[attr-defined]


@router.put(
    "/workspaces/{workspace_id}/outbound-hosts",
    response=answers({200: OutboundHostsOut}),
    summary="Replace the hosts recipes may call even at non-public addresses (Admin; audited)",
)
@operation(need=Perm.WORKSPACE_SETTINGS)
def outbound_hosts_put(
    request: HttpRequest, workspace_id: WorkspaceRef, body: OutboundHostsIn
) -> dict[str, Any]:
    hosts = outbound.outbound_hosts_set(
        actor=request.auth,  # type: ignore[attr-defined]
        workspace=request.workspace,  # type: ignore[attr-defined]
        hosts=body.hosts,
    )
    return {"hosts": hosts}


@router.get(
    "/workspaces/{workspace_id}/members",
    response=answers({200: list[MemberOut]}),
    summary="The workspace's members",
)
@operation(need=Perm.MEMBER_VIEW)
def member_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[Membership]:
    found = policy.memberships_visible(request.auth, request.workspace)  # type: ignore[attr-defined]
    return list(found)


@router.patch(
    "/workspaces/{workspace_id}/members/{member_id}",
    response=answers({200: MemberOut}),
    summary="Change a member's role",
)
@operation(need=Perm.MEMBER_MANAGE)
def member_update(
    request: HttpRequest, workspace_id: WorkspaceRef, member_id: ObjectId, body: MemberRoleIn
) -> Membership:
    actor = request.auth  # type: ignore[attr-defined]
    membership = policy.membership_get(actor, request.workspace, member_id, need=Perm.MEMBER_MANAGE)  # type: ignore[attr-defined]
    changed = services.member_role_change(
        actor=actor,
        workspace=request.workspace,  # type: ignore[attr-defined]
        membership=membership,
        role=body.role,
    )
    return changed


@router.delete(
    "/workspaces/{workspace_id}/members/{member_id}", response=answers({204: None}), summary="Remove a member"
)
@operation(need=Perm.MEMBER_MANAGE)
def member_delete(request: HttpRequest, workspace_id: WorkspaceRef, member_id: ObjectId) -> Status[None]:
    actor = request.auth  # type: ignore[attr-defined]
    membership = policy.membership_get(actor, request.workspace, member_id, need=Perm.MEMBER_MANAGE)  # type: ignore[attr-defined]
    services.member_remove(actor=actor, membership=membership)
    return Status(204, None)


class SessionsEndedOut(Schema):
    sessions_ended: int


@router.delete(
    "/workspaces/{workspace_id}/members/{member_id}/sessions",
    response=answers({200: SessionsEndedOut}),
    summary="End every session of a member",
)
@operation(need=Perm.MEMBER_MANAGE)
def member_sessions_end(
    request: HttpRequest, workspace_id: WorkspaceRef, member_id: ObjectId
) -> dict[str, int]:
    actor = request.auth  # type: ignore[attr-defined]
    membership = policy.membership_get(actor, request.workspace, member_id, need=Perm.MEMBER_MANAGE)  # type: ignore[attr-defined]
    return {"sessions_ended": services.member_sessions_end(actor=actor, membership=membership)}


@router.post(
    "/workspaces/{workspace_id}/invitations",
    response=answers({201: InvitationCreatedOut}, conflict=True),
    summary="Invite someone into the workspace; the link is in this answer only",
)
@operation(need=Perm.MEMBER_MANAGE)
def workspace_invitation_create(
    request: HttpRequest, workspace_id: WorkspaceRef, body: WorkspaceInvitationIn
) -> Status[Shown]:
    issued = services.workspace_invitation_create(
        actor=request.auth,  # type: ignore[attr-defined]
        workspace=request.workspace,  # type: ignore[attr-defined]
        email=body.email,
        role=body.role,
    )
    return Status(201, Shown(issued.invitation, link=issued.link))


@router.get(
    "/workspaces/{workspace_id}/invitations",
    response=answers({200: list[InvitationOut]}),
    summary="The workspace's pending invitations",
)
@operation(need=Perm.MEMBER_VIEW)
def workspace_invitation_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[Invitation]:
    found = policy.invitations_visible(request.auth, request.workspace)  # type: ignore[attr-defined]
    return list(found)


@router.delete(
    "/workspaces/{workspace_id}/invitations/{invitation_id}",
    response=answers({204: None}),
    summary="Revoke a pending invitation",
)
@operation(need=Perm.MEMBER_MANAGE)
def workspace_invitation_revoke(
    request: HttpRequest, workspace_id: WorkspaceRef, invitation_id: ObjectId
) -> Status[None]:
    actor = request.auth  # type: ignore[attr-defined]
    found = policy.invitation_get(actor, invitation_id, workspace=request.workspace)  # type: ignore[attr-defined]
    services.invitation_revoke(actor=actor, invitation=found)
    return Status(204, None)


@router.post(
    "/platform/invitations",
    response=answers({201: InvitationCreatedOut}, conflict=True),
    summary="Invite someone to the platform (staff); the link is in this answer only",
)
@operation(staff=True)
def platform_invitation_create(request: HttpRequest, body: PlatformInvitationIn) -> Status[Shown]:
    issued = services.platform_invitation_create(
        actor=request.auth,  # type: ignore[attr-defined]
        email=body.email,
        user_type=body.user_type,
    )
    return Status(201, Shown(issued.invitation, link=issued.link))


@router.get(
    "/platform/invitations",
    response=answers({200: list[InvitationOut]}),
    summary="Pending platform invitations (staff)",
)
@operation(staff=True)
def platform_invitation_list(request: HttpRequest) -> list[Invitation]:
    found = policy.invitations_visible(request.auth, None)  # type: ignore[attr-defined]
    return list(found)


@router.delete(
    "/platform/invitations/{invitation_id}",
    response=answers({204: None}),
    summary="Revoke a platform invitation (staff)",
)
@operation(staff=True)
def platform_invitation_revoke(request: HttpRequest, invitation_id: ObjectId) -> Status[None]:
    actor = request.auth  # type: ignore[attr-defined]
    found = policy.invitation_get(actor, invitation_id, workspace=None)
    services.invitation_revoke(actor=actor, invitation=found)
    return Status(204, None)
