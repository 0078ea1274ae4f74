"""API operations of the API platform: collections and their endpoints, and the clients that call them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from causeway.access.perms import Perm
from causeway.access.routes import operation, request_actor
from causeway.api.schemas import ObjectId, Shown, StrictIn, WorkspaceRef, answers, name_field
from causeway.apiplat import openapi, selectors, services
from causeway.apiplat.limits import MAX_QUOTA, MAX_RATE
from causeway.apiplat.models import ApiClient, ApiCollection, ApiEndpoint
from causeway.recipes.schema import MAX_RESPOND_SECONDS
from causeway.workspaces.models import ApiToken

router = Router(tags=["api platform"])

PATH_PATTERN = r"^/$|^(/([A-Za-z0-9.~-][A-Za-z0-9._~-]*|\{[a-z][a-z0-9_]{0,39}\}))+$"
DeclaredName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
Rate = Annotated[
    int | None,
    Field(ge=1, le=MAX_RATE, description="calls per second (a fixed one-second window); none: no limit"),
]
Quota = Annotated[int | None, Field(ge=1, le=MAX_QUOTA, description="calls per UTC day; none: no limit")]


def _ws(request: HttpRequest) -> Any:
    return request.workspace  # type: ignore[attr-defined]


class EndpointOut(Schema):
    id: uuid.UUID
    method: str
    path: str
    recipe_id: uuid.UUID = Field(description="the recipe's DEV copy; TEST and PROD run their own copy")
    summary: str
    request_schema: dict[str, Any] | None
    response_schema: dict[str, Any] | None
    query_parameters: list[str]
    headers: list[str]
    timeout_seconds: int
    rate_per_second: int | None
    quota_per_day: int | None


class CollectionOut(Schema):
    id: uuid.UUID
    name: str
    slug: str
    description: str
    project_id: uuid.UUID = Field(description="the project's DEV copy")
    created_at: datetime
    base_urls: dict[str, str] = Field(description="where each environment answers: dev, test and prod")
    endpoints: list[EndpointOut]

    @staticmethod
    def resolve_base_urls(collection: ApiCollection) -> dict[str, str]:
        return services.base_urls(collection)

    @staticmethod
    def resolve_endpoints(collection: ApiCollection) -> list[ApiEndpoint]:
        return list(collection.endpoints.all())


class CollectionIn(StrictIn):
    project_id: ObjectId = Field(description="a project (any of its copies); built in its DEV copy")
    name: str = name_field("the collection's name")
    slug: str = Field(
        min_length=1,
        max_length=60,
        pattern=r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$",
        description="its base path segment: /apis/<workspace>/<environment>/<slug>",
    )
    description: str = Field(default="", max_length=500, pattern=r"^[^\x00]*$")


class CollectionPatch(StrictIn):
    name: str | None = name_field("a new name (left out: unchanged)", default=None)
    description: str | None = Field(
        default=None, max_length=500, pattern=r"^[^\x00]*$", description="left out: unchanged"
    )


class EndpointIn(StrictIn):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str = Field(
        min_length=1,
        max_length=200,
        pattern=PATH_PATTERN,
        description="segments of letters, digits and ._~- or {name} parameters (each named once), not "
        "starting with /_",
    )
    recipe_id: ObjectId = Field(
        description="a recipe of the collection's project whose trigger is api_endpoint"
    )
    summary: str = Field(default="", max_length=200, pattern=r"^[^\x00]*$")
    request_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema (2020-12) of the JSON body; none: the endpoint takes no body"
    )
    response_schema: dict[str, Any] | None = Field(default=None, description="JSON Schema of the answer")
    query_parameters: list[DeclaredName] = Field(default_factory=list, max_length=20)
    headers: list[DeclaredName] = Field(default_factory=list, max_length=20)
    timeout_seconds: int = Field(default=30, ge=1, le=MAX_RESPOND_SECONDS)
    rate_per_second: Rate = None
    quota_per_day: Quota = None


class ClientOut(Schema):
    id: uuid.UUID
    name: str
    service_account_id: uuid.UUID
    active: bool
    collection_ids: list[uuid.UUID]
    allowed_sources: list[str]
    rate_per_second: int | None
    quota_per_day: int | None
    created_at: datetime

    @staticmethod
    def resolve_name(client: ApiClient) -> str:
        return str(client.service_account.name)

    @staticmethod
    def resolve_active(client: ApiClient) -> bool:
        return bool(client.service_account.is_active)

    @staticmethod
    def resolve_collection_ids(client: ApiClient) -> list[uuid.UUID]:
        return [c.id for c in client.collections.all()]


CollectionIds = list[ObjectId]
Sources = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)]


class ClientIn(StrictIn):
    name: str = name_field("the client's name (its service account's)")
    collection_ids: CollectionIds = Field(default_factory=list, max_length=100)
    allowed_sources: Sources = Field(
        default_factory=list, description="addresses or networks (10.0.0.0/8) it may call from; none: any"
    )
    rate_per_second: Rate = None
    quota_per_day: Quota = None


class ClientPatch(StrictIn):
    collection_ids: CollectionIds | None = Field(default=None, max_length=100)
    allowed_sources: Sources | None = None
    rate_per_second: Rate = Field(default=None, description="calls per second; null lifts the limit")
    quota_per_day: Quota = Field(default=None, description="calls per UTC day; null lifts the quota")


class KeyIn(StrictIn):
    name: str = name_field("the key's name")
    expires_in_days: int = Field(ge=1, le=365)


class KeyOut(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreatedOut(KeyOut):
    key: str = Field(description="the key: in this answer only, never again")


# Collections.


@router.get(
    "/workspaces/{workspace_id}/api-collections",
    response=answers({200: list[CollectionOut]}),
    summary="The API collections of the projects you may read",
)
@operation(need=Perm.WORKSPACE_VIEW)
def collection_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[ApiCollection]:
    return list(services.collection_list(actor=request_actor(request), workspace=_ws(request)))


@router.post(
    "/workspaces/{workspace_id}/api-collections",
    response=answers({201: CollectionOut}, conflict=True),
    summary="Create an API collection in a project (project:edit in its DEV copy)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def collection_create(request: HttpRequest, workspace_id: WorkspaceRef, body: CollectionIn) -> Status[Any]:
    found = services.collection_create(
        actor=request_actor(request),
        workspace=_ws(request),
        project=body.project_id,
        name=body.name,
        slug=body.slug,
        description=body.description,
    )
    return Status(201, found)


@router.get(
    "/workspaces/{workspace_id}/api-collections/{collection_id}",
    response=answers({200: CollectionOut}),
    summary="An API collection, its endpoints and its base URLs",
)
@operation(need=Perm.WORKSPACE_VIEW)
def collection_get(
    request: HttpRequest, workspace_id: WorkspaceRef, collection_id: ObjectId
) -> ApiCollection:
    return services.collection_get(actor=request_actor(request), workspace=_ws(request), ref=collection_id)


@router.get(
    "/workspaces/{workspace_id}/api-collections/{collection_id}/openapi.json",
    response=answers({200: dict[str, Any]}),
    summary="The collection's OpenAPI 3.1 document, as it answers in one environment",
)
@operation(need=Perm.WORKSPACE_VIEW)
def collection_openapi(
    request: HttpRequest,
    workspace_id: WorkspaceRef,
    collection_id: ObjectId,
    environment: Literal["dev", "test", "prod"] = "dev",
) -> dict[str, Any]:
    found = services.collection_get(actor=request_actor(request), workspace=_ws(request), ref=collection_id)
    return openapi.collection_document(found, environment)


class UsagePeriod(StrictIn):
    days: int = Field(7, ge=1, le=selectors.MAX_DAYS, description="the last this many days")


class UsageOut(Schema):
    endpoint_id: uuid.UUID
    method: str
    path: str
    client_id: uuid.UUID
    client: str
    environment: str
    calls: int
    errors: int = Field(description="answers of 400 or more")
    p50_ms: float
    p95_ms: float
    p99_ms: float


@router.get(
    "/workspaces/{workspace_id}/api-collections/{collection_id}/usage",
    response=answers({200: list[UsageOut]}),
    summary="Calls, errors and latency percentiles per endpoint, client and environment",
)
@operation(need=Perm.WORKSPACE_VIEW)
def collection_usage(
    request: HttpRequest,
    workspace_id: WorkspaceRef,
    collection_id: ObjectId,
    period: Query[UsagePeriod],
) -> list[selectors.Usage]:
    found = services.collection_get(actor=request_actor(request), workspace=_ws(request), ref=collection_id)
    return selectors.collection_usage(collection=found, days=period.days)


@router.patch(
    "/workspaces/{workspace_id}/api-collections/{collection_id}",
    response=answers({200: CollectionOut}, conflict=True),
    summary="Rename an API collection or change its description (its base path stays: callers use it)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def collection_update(
    request: HttpRequest, workspace_id: WorkspaceRef, collection_id: ObjectId, body: CollectionPatch
) -> ApiCollection:
    found = services.collection_get(actor=request_actor(request), workspace=_ws(request), ref=collection_id)
    return services.collection_update(
        actor=request_actor(request),
        collection=found,
        name=found.name if body.name is None else body.name,
        description=found.description if body.description is None else body.description,
    )


@router.delete(
    "/workspaces/{workspace_id}/api-collections/{collection_id}",
    response=answers({204: None}),
    summary="Delete an API collection and its endpoints",
)
@operation(need=Perm.WORKSPACE_VIEW)
def collection_delete(
    request: HttpRequest, workspace_id: WorkspaceRef, collection_id: ObjectId
) -> Status[None]:
    found = services.collection_get(actor=request_actor(request), workspace=_ws(request), ref=collection_id)
    services.collection_delete(actor=request_actor(request), collection=found)
    return Status(204, None)


def _endpoint_given(body: EndpointIn) -> dict[str, Any]:
    """An endpoint's fields as the service takes them, for a new endpoint and a changed one alike."""
    given = body.model_dump(exclude={"recipe_id"})
    return {**given, "recipe": body.recipe_id}


@router.post(
    "/workspaces/{workspace_id}/api-collections/{collection_id}/endpoints",
    response=answers({201: EndpointOut}, conflict=True),
    summary="Add an endpoint: a method and path running a recipe whose trigger is api_endpoint",
)
@operation(need=Perm.WORKSPACE_VIEW)
def endpoint_create(
    request: HttpRequest, workspace_id: WorkspaceRef, collection_id: ObjectId, body: EndpointIn
) -> Status[Any]:
    found = services.collection_get(actor=request_actor(request), workspace=_ws(request), ref=collection_id)
    made = services.endpoint_create(actor=request_actor(request), collection=found, **_endpoint_given(body))
    return Status(201, made)


@router.put(
    "/workspaces/{workspace_id}/api-collections/{collection_id}/endpoints/{endpoint_id}",
    response=answers({200: EndpointOut}, conflict=True),
    summary="Change an endpoint: every field at once, as for a new one (a field left out takes its default)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def endpoint_update(
    request: HttpRequest,
    workspace_id: WorkspaceRef,
    collection_id: ObjectId,
    endpoint_id: ObjectId,
    body: EndpointIn,
) -> ApiEndpoint:
    found = services.collection_get(actor=request_actor(request), workspace=_ws(request), ref=collection_id)
    endpoint = services.endpoint_get(actor=request_actor(request), collection=found, ref=endpoint_id)
    return services.endpoint_update(actor=request_actor(request), endpoint=endpoint, **_endpoint_given(body))


@router.delete(
    "/workspaces/{workspace_id}/api-collections/{collection_id}/endpoints/{endpoint_id}",
    response=answers({204: None}),
    summary="Remove an endpoint",
)
@operation(need=Perm.WORKSPACE_VIEW)
def endpoint_delete(
    request: HttpRequest, workspace_id: WorkspaceRef, collection_id: ObjectId, endpoint_id: ObjectId
) -> Status[None]:
    found = services.collection_get(actor=request_actor(request), workspace=_ws(request), ref=collection_id)
    endpoint = services.endpoint_get(actor=request_actor(request), collection=found, ref=endpoint_id)
    services.endpoint_delete(actor=request_actor(request), endpoint=endpoint)
    return Status(204, None)


# Clients.


@router.get(
    "/workspaces/{workspace_id}/api-clients",
    response=answers({200: list[ClientOut]}),
    summary="The workspace's API clients",
)
@operation(need=Perm.MEMBER_VIEW)
def client_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[ApiClient]:
    return list(services.client_list(actor=request_actor(request), workspace=_ws(request)))


@router.post(
    "/workspaces/{workspace_id}/api-clients",
    response=answers({201: ClientOut}, conflict=True),
    summary="Create an API client (a service account of its own) and choose the collections it calls",
)
@operation(need=Perm.MEMBER_MANAGE)
def client_create(request: HttpRequest, workspace_id: WorkspaceRef, body: ClientIn) -> Status[Any]:
    made = services.client_create(
        actor=request_actor(request),
        workspace=_ws(request),
        name=body.name,
        collection_ids=body.collection_ids,
        allowed_sources=body.allowed_sources,
        rate_per_second=body.rate_per_second,
        quota_per_day=body.quota_per_day,
    )
    return Status(201, made)


@router.patch(
    "/workspaces/{workspace_id}/api-clients/{client_id}",
    response=answers({200: ClientOut}),
    summary="Change the collections a client calls, or the addresses it may call from",
)
@operation(need=Perm.MEMBER_MANAGE)
def client_update(
    request: HttpRequest, workspace_id: WorkspaceRef, client_id: ObjectId, body: ClientPatch
) -> ApiClient:
    found = services.client_get(actor=request_actor(request), workspace=_ws(request), ref=client_id)
    # A limit left out stays as it is; one sent as null is lifted.
    limits = {
        name: getattr(body, name)
        for name in ("rate_per_second", "quota_per_day")
        if name in body.model_fields_set
    }
    return services.client_update(
        actor=request_actor(request),
        client=found,
        collection_ids=body.collection_ids,
        allowed_sources=body.allowed_sources,
        **limits,
    )


@router.get(
    "/workspaces/{workspace_id}/api-clients/{client_id}/keys",
    response=answers({200: list[KeyOut]}),
    summary="A client's keys (never their secrets)",
)
@operation(need=Perm.MEMBER_MANAGE)
def client_key_list(request: HttpRequest, workspace_id: WorkspaceRef, client_id: ObjectId) -> list[ApiToken]:
    found = services.client_get(actor=request_actor(request), workspace=_ws(request), ref=client_id)
    return list(services.client_keys(actor=request_actor(request), client=found))


@router.post(
    "/workspaces/{workspace_id}/api-clients/{client_id}/keys",
    response=answers({201: KeyCreatedOut}),
    summary="Issue a key for a client; the key is in this answer only",
)
@operation(need=Perm.MEMBER_MANAGE)
def client_key_create(
    request: HttpRequest, workspace_id: WorkspaceRef, client_id: ObjectId, body: KeyIn
) -> Status[Shown]:
    found = services.client_get(actor=request_actor(request), workspace=_ws(request), ref=client_id)
    key, secret = services.client_key_issue(
        actor=request_actor(request), client=found, name=body.name, expires_in_days=body.expires_in_days
    )
    return Status(201, Shown(key, key=secret))


@router.delete(
    "/workspaces/{workspace_id}/api-clients/{client_id}/keys/{key_id}",
    response=answers({204: None}),
    summary="Revoke a client's key: the next call with it is refused",
)
@operation(need=Perm.MEMBER_MANAGE)
def client_key_revoke(
    request: HttpRequest, workspace_id: WorkspaceRef, client_id: ObjectId, key_id: ObjectId
) -> Status[None]:
    found = services.client_get(actor=request_actor(request), workspace=_ws(request), ref=client_id)
    key = services.client_key_get(actor=request_actor(request), client=found, ref=key_id)
    services.client_key_revoke(actor=request_actor(request), client=found, key=key)
    return Status(204, None)
