"""API operations on roles, groups, recipe grants, environment policies, service accounts and the
access review. Input schemas forbid unknown fields, so nothing else (`workspace_id`, `is_system`,
`created_by`, ...) can be set through them (mass assignment)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status

from causeway.access import group_mappings, policy, services
from causeway.access.identity_providers import CLAIM_PATTERN, SLUG_PATTERN
from causeway.access.models import Group, GroupClaimMapping, GroupMember
from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.access.routes import operation, request_actor
from causeway.api.schemas import (
    Email,
    ObjectId,
    Ref,
    Shown,
    StrictIn,
    WorkspaceRef,
    answers,
    name_field,
    stated,
)
from causeway.recipes import grants, review, roles
from causeway.recipes import policy as recipes_policy
from causeway.recipes.models import RecipeGrant
from causeway.workspaces.models import Role, ServiceAccount
from causeway.workspaces.tokens import TOKEN_MAX_DAYS as SERVICE_ACCOUNT_TOKEN_MAX_DAYS

router = Router(tags=["access"])


Strict = StrictIn
# What a custom role may hold: the catalogue, never an Admin-only power (rule 3); checked by the service.
RolePermission = Annotated[
    str,
    Field(
        json_schema_extra={"enum": sorted({p.value for p in roles.CATALOGUE} | {Perm.WORKSPACE_VIEW.value})}
    ),
]
RoleKey = Annotated[str, Field(max_length=60, pattern=r"^[-a-z0-9_]+$", description="a role's key")]
Capabilities = Annotated[list[Literal["read", "write", "execute", "debug"]], Field(max_length=4)]


class RoleOut(Schema):
    id: uuid.UUID
    key: str
    name: str
    is_system: bool
    permissions: list[str]
    all_projects: bool
    projects: list[uuid.UUID]

    @staticmethod
    def resolve_permissions(role: Role) -> list[str]:
        return sorted(role.permissions)

    @staticmethod
    def resolve_projects(role: Role) -> list[uuid.UUID]:
        return [p.id for p in role.projects.all()]


class RoleIn(Strict):
    name: str = name_field("the role's name, unique in the workspace")
    permissions: list[RolePermission] = Field(max_length=100)
    all_projects: bool = True
    projects: list[ObjectId] = Field([], max_length=100, description="the projects, when not all")


class RolePatch(Strict):
    name: str | None = name_field("the role's name, unique in the workspace", default=None)
    permissions: list[RolePermission] | None = Field(None, max_length=100)
    all_projects: bool | None = None
    projects: list[ObjectId] | None = Field(None, max_length=100)


class GroupMemberOut(Schema):
    id: uuid.UUID
    user_id: uuid.UUID | None
    email: str | None
    service_account_id: uuid.UUID | None
    service_account: str | None

    @staticmethod
    def resolve_email(member: GroupMember) -> str | None:
        return member.user.email if member.user is not None else None

    @staticmethod
    def resolve_service_account(member: GroupMember) -> str | None:
        return member.service_account.name if member.service_account is not None else None


class GroupOut(Schema):
    id: uuid.UUID
    name: str
    roles: list[str]
    members: list[GroupMemberOut]

    @staticmethod
    def resolve_roles(group: Group) -> list[str]:
        return sorted(r.key for r in group.roles.all())


class GroupIn(Strict):
    name: str = name_field("the group's name, unique in the workspace")


class GroupPatch(Strict):
    name: str | None = name_field("the group's name, unique in the workspace", default=None)
    roles: list[RoleKey] | None = Field(None, max_length=100)


class GroupMemberIn(Strict):
    user: Email | None = Field(None, description="a member's email")
    service_account: Ref | None = Field(None, description="a service account's id or name")


class GroupMappingOut(Schema):
    id: uuid.UUID
    provider: str
    claim: str
    value: str
    group_id: uuid.UUID
    group: str

    @staticmethod
    def resolve_provider(mapping: GroupClaimMapping) -> str:
        return mapping.provider.slug

    @staticmethod
    def resolve_group(mapping: GroupClaimMapping) -> str:
        return mapping.group.name


class GroupMappingIn(Strict):
    provider: str = Field(
        pattern=SLUG_PATTERN, max_length=40, description="the identity provider's slug (its sign-in address)"
    )
    claim: str = Field(
        group_mappings.DEFAULT_CLAIM,
        pattern=CLAIM_PATTERN,
        description="the ID token claim or SAML attribute that lists the person's groups",
    )
    value: str = name_field("one value of the claim", max_length=group_mappings.VALUE_MAX)
    group: Ref = Field(description="the group's id or name; never one that carries the Admin role")


class GrantOut(Schema):
    id: uuid.UUID
    grantee_type: str
    grantee_id: uuid.UUID
    grantee: str
    capabilities: list[str]

    @staticmethod
    def _grantee(grant: RecipeGrant) -> tuple[str, uuid.UUID, str]:
        """Who holds the grant: its kind, id and how a person recognises it."""
        if grant.user is not None:
            return "user", grant.user.id, grant.user.email
        if grant.service_account is not None:
            return "service_account", grant.service_account.id, grant.service_account.name
        assert grant.group is not None  # nosec B101
        return "group", grant.group.id, grant.group.name

    @staticmethod
    def resolve_grantee_type(grant: RecipeGrant) -> str:
        return GrantOut._grantee(grant)[0]

    @staticmethod
    def resolve_grantee_id(grant: RecipeGrant) -> uuid.UUID:
        return GrantOut._grantee(grant)[1]

    @staticmethod
    def resolve_grantee(grant: RecipeGrant) -> str:
        return GrantOut._grantee(grant)[2]

    @staticmethod
    def resolve_capabilities(grant: RecipeGrant) -> list[str]:
        return sorted(grant.capabilities)


class GrantIn(Strict):
    user: Email | None = Field(None, description="a member's email")
    service_account: Ref | None = Field(None, description="a service account's id or name")
    group: Ref | None = Field(None, description="a group's id or name")
    capabilities: Capabilities


class EnvironmentOut(Schema):
    environment: str
    capabilities: list[str]


class EnvironmentIn(Strict):
    capabilities: Capabilities


class ServiceAccountTokenOut(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ServiceAccountTokenCreatedOut(ServiceAccountTokenOut):
    token: str


class ServiceAccountOut(Schema):
    id: uuid.UUID
    name: str
    active: bool
    created_at: datetime
    tokens: list[ServiceAccountTokenOut]

    @staticmethod
    def resolve_active(account: ServiceAccount) -> bool:
        return account.is_active


class ServiceAccountIn(Strict):
    name: str = name_field("the service account's name, unique in the workspace")


class ServiceAccountPatch(Strict):
    active: bool


class ServiceAccountTokenIn(Strict):
    name: str = name_field("the token's name")
    expires_in_days: int = Field(json_schema_extra=stated(minimum=1, maximum=SERVICE_ACCOUNT_TOKEN_MAX_DAYS))


class ExplainOut(Schema):
    permission: str
    allowed: bool
    reasons: list[str]
    withheld_by: str
    summary: str

    @staticmethod
    def resolve_permission(found: policy.Explanation) -> str:
        return str(found.perm)

    @staticmethod
    def resolve_reasons(found: policy.Explanation) -> list[str]:
        return [str(r) for r in found.reasons]

    @staticmethod
    def resolve_summary(found: policy.Explanation) -> str:
        return str(found)


def _actor(request: HttpRequest) -> Actor:
    return request_actor(request)


def _ws(request: HttpRequest) -> Any:
    return request.workspace  # type: ignore[attr-defined]


# Roles.


@router.get(
    "/workspaces/{workspace_id}/roles",
    response=answers({200: list[RoleOut]}),
    summary="System and custom roles",
)
@operation(need=Perm.MEMBER_VIEW)
def role_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[Role]:
    return list(roles.roles_visible(_actor(request), _ws(request)))


@router.post(
    "/workspaces/{workspace_id}/roles",
    response=answers({201: RoleOut}, conflict=True),
    summary="Create a custom role",
)
@operation(need=Perm.ROLE_MANAGE)
def role_create(request: HttpRequest, workspace_id: WorkspaceRef, body: RoleIn) -> Status[Role]:
    role = roles.role_create(
        actor=_actor(request),
        workspace=_ws(request),
        name=body.name,
        permissions=body.permissions,
        all_projects=body.all_projects,
        project_ids=body.projects,
    )
    return Status(201, role)


@router.patch(
    "/workspaces/{workspace_id}/roles/{role_id}",
    response=answers({200: RoleOut}, conflict=True),
    summary="Change a custom role",
)
@operation(need=Perm.ROLE_MANAGE)
def role_update(request: HttpRequest, workspace_id: WorkspaceRef, role_id: Ref, body: RolePatch) -> Role:
    role = roles.role_get(_actor(request), _ws(request), role_id)
    role = roles.role_update(
        actor=_actor(request),
        role=role,
        name=body.name,
        permissions=body.permissions,
        all_projects=body.all_projects,
        project_ids=body.projects,
    )
    return role


@router.delete(
    "/workspaces/{workspace_id}/roles/{role_id}",
    response=answers({204: None}),
    summary="Delete a custom role",
)
@operation(need=Perm.ROLE_MANAGE)
def role_delete(request: HttpRequest, workspace_id: WorkspaceRef, role_id: Ref) -> Status[None]:
    role = roles.role_get(_actor(request), _ws(request), role_id)
    roles.role_delete(actor=_actor(request), role=role)
    return Status(204, None)


# Groups.


@router.get(
    "/workspaces/{workspace_id}/groups",
    response=answers({200: list[GroupOut]}),
    summary="The workspace's groups",
)
@operation(need=Perm.MEMBER_VIEW)
def group_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[Group]:
    return list(services.groups_visible(_actor(request), _ws(request)))


@router.post(
    "/workspaces/{workspace_id}/groups",
    response=answers({201: GroupOut}, conflict=True),
    summary="Create a group",
)
@operation(need=Perm.MEMBER_MANAGE)
def group_create(request: HttpRequest, workspace_id: WorkspaceRef, body: GroupIn) -> Status[Group]:
    return Status(201, services.group_create(actor=_actor(request), workspace=_ws(request), name=body.name))


@router.get(
    "/workspaces/{workspace_id}/groups/{group_id}", response=answers({200: GroupOut}), summary="One group"
)
@operation(need=Perm.MEMBER_VIEW)
def group_get(request: HttpRequest, workspace_id: WorkspaceRef, group_id: Ref) -> Group:
    return services.group_get(_actor(request), _ws(request), group_id)


@router.patch(
    "/workspaces/{workspace_id}/groups/{group_id}",
    response=answers({200: GroupOut}, conflict=True),
    summary="Rename a group or set its roles",
)
@operation(need=Perm.MEMBER_MANAGE)
def group_update(request: HttpRequest, workspace_id: WorkspaceRef, group_id: Ref, body: GroupPatch) -> Group:
    actor = _actor(request)
    group = services.group_get(actor, _ws(request), group_id, need=Perm.MEMBER_MANAGE)
    return services.group_update(actor=actor, group=group, name=body.name, roles=body.roles)


@router.delete(
    "/workspaces/{workspace_id}/groups/{group_id}", response=answers({204: None}), summary="Delete a group"
)
@operation(need=Perm.MEMBER_MANAGE)
def group_delete(request: HttpRequest, workspace_id: WorkspaceRef, group_id: Ref) -> Status[None]:
    group = services.group_get(_actor(request), _ws(request), group_id, need=Perm.MEMBER_MANAGE)
    services.group_delete(actor=_actor(request), group=group)
    return Status(204, None)


@router.post(
    "/workspaces/{workspace_id}/groups/{group_id}/members",
    response=answers({201: GroupOut}, conflict=True),
    summary="Add a member to a group",
)
@operation(need=Perm.MEMBER_MANAGE)
def group_member_add(
    request: HttpRequest, workspace_id: WorkspaceRef, group_id: Ref, body: GroupMemberIn
) -> Status[Group]:
    group = services.group_get(_actor(request), _ws(request), group_id, need=Perm.MEMBER_MANAGE)
    services.group_member_add(
        actor=_actor(request), group=group, user=body.user, service_account=body.service_account
    )
    return Status(201, group)


@router.delete(
    "/workspaces/{workspace_id}/groups/{group_id}/members/{member_id}",
    response=answers({204: None}),
    summary="Take a member out of a group",
)
@operation(need=Perm.MEMBER_MANAGE)
def group_member_remove(
    request: HttpRequest, workspace_id: WorkspaceRef, group_id: Ref, member_id: ObjectId
) -> Status[None]:
    group = services.group_get(_actor(request), _ws(request), group_id, need=Perm.MEMBER_MANAGE)
    services.group_member_remove(actor=_actor(request), group=group, member_id=member_id)
    return Status(204, None)


# Group mappings from identity providers.


@router.get(
    "/workspaces/{workspace_id}/group-mappings",
    response=answers({200: list[GroupMappingOut]}),
    summary="Which values of a provider's group claim put members into which groups",
)
@operation(need=Perm.MEMBER_VIEW)
def group_mapping_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[GroupClaimMapping]:
    return list(group_mappings.group_mappings_visible(_actor(request), _ws(request)))


@router.post(
    "/workspaces/{workspace_id}/group-mappings",
    response=answers({201: GroupMappingOut}, conflict=True),
    summary="Map a value of a provider's group claim to a group",
)
@operation(need=Perm.MEMBER_MANAGE)
def group_mapping_create(
    request: HttpRequest, workspace_id: WorkspaceRef, body: GroupMappingIn
) -> Status[GroupClaimMapping]:
    mapping = group_mappings.group_mapping_create(
        actor=_actor(request), workspace=_ws(request), **body.model_dump()
    )
    return Status(201, mapping)


@router.delete(
    "/workspaces/{workspace_id}/group-mappings/{mapping_id}",
    response=answers({204: None}),
    summary="Stop mapping a value of a provider's group claim",
)
@operation(need=Perm.MEMBER_MANAGE)
def group_mapping_delete(
    request: HttpRequest, workspace_id: WorkspaceRef, mapping_id: ObjectId
) -> Status[None]:
    mapping = group_mappings.group_mapping_get(_actor(request), _ws(request), mapping_id)
    group_mappings.group_mapping_delete(actor=_actor(request), mapping=mapping)
    return Status(204, None)


# Recipe grants.


@router.get(
    "/workspaces/{workspace_id}/recipes/{recipe_id}/grants",
    response=answers({200: list[GrantOut]}),
    summary="Who holds what on a recipe",
)
@operation(need=Perm.WORKSPACE_VIEW)
def grant_list(request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId) -> list[RecipeGrant]:
    recipe = recipes_policy.recipe_get(_actor(request), _ws(request), recipe_id, need=Perm.RECIPE_VIEW)
    return list(grants.grants_visible(_actor(request), _ws(request), recipe))


@router.put(
    "/workspaces/{workspace_id}/recipes/{recipe_id}/grants",
    response=answers({200: GrantOut, 204: None}),
    summary="Give a user, service account or group exactly these capabilities (none: take the grant away)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def grant_set(request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId, body: GrantIn) -> Any:
    recipe = recipes_policy.recipe_get(_actor(request), _ws(request), recipe_id, need=Perm.RECIPE_EDIT)
    grant = grants.grant_set(
        actor=_actor(request),
        workspace=_ws(request),
        recipe=recipe,
        user=body.user,
        service_account=body.service_account,
        group=body.group,
        capabilities=body.capabilities,
    )
    if grant is None:
        return Status(204, None)
    return Status(
        200,
        RecipeGrant.objects.select_related("user", "service_account", "group").get(pk=grant.pk),
    )


@router.delete(
    "/workspaces/{workspace_id}/recipes/{recipe_id}/grants/{grant_id}",
    response=answers({204: None}),
    summary="Take a grant away",
)
@operation(need=Perm.WORKSPACE_VIEW)
def grant_delete(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId, grant_id: ObjectId
) -> Status[None]:
    recipe = recipes_policy.recipe_get(_actor(request), _ws(request), recipe_id, need=Perm.RECIPE_EDIT)
    grant = grants.grant_get(_actor(request), _ws(request), recipe, grant_id)
    grants.grant_remove(actor=_actor(request), workspace=_ws(request), grant=grant)
    return Status(204, None)


@router.get(
    "/workspaces/{workspace_id}/recipes/{recipe_id}/explain",
    response=answers({200: ExplainOut}),
    summary="Why you hold, or do not hold, a permission on a recipe",
)
@operation(need=Perm.WORKSPACE_VIEW)
def recipe_explain(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId, permission: Perm
) -> policy.Explanation:
    recipe = recipes_policy.recipe_get(_actor(request), _ws(request), recipe_id, need=Perm.RECIPE_VIEW)
    perm = Perm(permission)
    return policy.explain(_actor(request), perm, recipe)


# Environments.


@router.get(
    "/workspaces/{workspace_id}/environments",
    response=answers({200: list[EnvironmentOut]}),
    summary="Each environment's ceiling",
)
@operation(need=Perm.WORKSPACE_VIEW)
def environment_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[dict[str, Any]]:
    ceilings = services.environment_policies(_actor(request), _ws(request))
    return [{"environment": env, "capabilities": sorted(caps)} for env, caps in ceilings.items()]


@router.put(
    "/workspaces/{workspace_id}/environments/{environment}",
    response=answers({200: EnvironmentOut}),
    summary="Widen or narrow an environment's ceiling",
)
@operation(need=Perm.WORKSPACE_SETTINGS)
def environment_set(
    request: HttpRequest,
    workspace_id: WorkspaceRef,
    environment: Literal["dev", "test", "prod"],
    body: EnvironmentIn,
) -> dict[str, Any]:
    found = services.environment_policy_set(
        actor=_actor(request), workspace=_ws(request), environment=environment, capabilities=body.capabilities
    )
    return {"environment": found.environment, "capabilities": sorted(found.capabilities)}


# Service accounts.


@router.get(
    "/workspaces/{workspace_id}/service-accounts",
    response=answers({200: list[ServiceAccountOut]}),
    summary="The workspace's service accounts",
)
@operation(need=Perm.MEMBER_VIEW)
def service_account_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[ServiceAccount]:
    return list(services.service_accounts_visible(_actor(request), _ws(request)))


@router.post(
    "/workspaces/{workspace_id}/service-accounts",
    response=answers({201: ServiceAccountOut}, conflict=True),
    summary="Create a service account",
)
@operation(need=Perm.MEMBER_MANAGE)
def service_account_create(
    request: HttpRequest, workspace_id: WorkspaceRef, body: ServiceAccountIn
) -> Status[ServiceAccount]:
    account = services.service_account_create(actor=_actor(request), workspace=_ws(request), name=body.name)
    return Status(201, account)


@router.patch(
    "/workspaces/{workspace_id}/service-accounts/{account_id}",
    response=answers({200: ServiceAccountOut}),
    summary="Disable or enable a service account",
)
@operation(need=Perm.MEMBER_MANAGE)
def service_account_update(
    request: HttpRequest, workspace_id: WorkspaceRef, account_id: Ref, body: ServiceAccountPatch
) -> ServiceAccount:
    account = services.service_account_get(_actor(request), _ws(request), account_id)
    account = services.service_account_set_enabled(
        actor=_actor(request), workspace=_ws(request), account=account, enabled=body.active
    )
    return account


@router.post(
    "/workspaces/{workspace_id}/service-accounts/{account_id}/tokens",
    response=answers({201: ServiceAccountTokenCreatedOut}),
    summary="Make a token for a service account; the token is in this answer only",
)
@operation(need=Perm.MEMBER_MANAGE)
def service_account_token_create(
    request: HttpRequest, workspace_id: WorkspaceRef, account_id: Ref, body: ServiceAccountTokenIn
) -> Status[Shown]:
    account = services.service_account_get(_actor(request), _ws(request), account_id)
    token, secret = services.service_account_token_create(
        actor=_actor(request),
        workspace=_ws(request),
        account=account,
        name=body.name,
        expires_in_days=body.expires_in_days,
    )
    return Status(201, Shown(token, token=secret))


@router.delete(
    "/workspaces/{workspace_id}/service-accounts/{account_id}/tokens/{token_id}",
    response=answers({204: None}),
    summary="Revoke a service account's token",
)
@operation(need=Perm.MEMBER_MANAGE)
def service_account_token_revoke(
    request: HttpRequest, workspace_id: WorkspaceRef, account_id: Ref, token_id: Ref
) -> Status[None]:
    account = services.service_account_get(_actor(request), _ws(request), account_id)
    token = services.service_account_token_get(_actor(request), _ws(request), account, token_id)
    services.service_account_token_revoke(actor=_actor(request), workspace=_ws(request), token=token)
    return Status(204, None)


# The access review.


@router.get(
    "/workspaces/{workspace_id}/access-review",
    response=answers({200: Any}),
    summary="Every actor and what it may do on each project and recipe, and why (format=json or csv)",
    openapi_extra={
        "responses": {
            "200": {
                "description": "The review: a JSON list (format=json) or a CSV file (format=csv)",
                "content": {
                    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                    "text/csv": {"schema": {"type": "string"}},
                },
            }
        }
    },
)
@operation(need=Perm.MEMBER_VIEW)
def access_review(
    request: HttpRequest, workspace_id: WorkspaceRef, format: Literal["json", "csv"] = "json"
) -> HttpResponse:
    rows = review.access_review(_actor(request), _ws(request))
    if format == "csv":
        response = HttpResponse(review.review_csv(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="access-review.csv"'
        return response
    return HttpResponse(review.review_json(rows), content_type="application/json")
