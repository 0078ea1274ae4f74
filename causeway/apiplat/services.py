"""Building the API platform: collections, their endpoints, and the clients that may call them.

A collection is its project's: reading it needs `project:view` on the project, changing it (and its
endpoints) `project:edit` on the project's DEV copy, where recipes are built. Clients are service
accounts, so making them, giving them collections and issuing or revoking their keys is the Admin's
(`member:manage`, like every service account).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import jsonschema_rs
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, QuerySet

from causeway.access import services as access_services
from causeway.access.errors import NotFound
from causeway.access.perms import Environment, Perm
from causeway.access.policy import Actor, uuid_or_none
from causeway.accounts.models import User
from causeway.apiplat.limits import MAX_QUOTA, MAX_RATE
from causeway.apiplat.models import ApiClient, ApiCollection, ApiEndpoint, HttpMethod
from causeway.audit.services import audit_record
from causeway.db import save_or_conflict
from causeway.recipes import policy as recipes_access
from causeway.recipes.models import Project, Recipe
from causeway.recipes.schema import MAX_RESPOND_SECONDS, RESPOND_SECONDS_DEFAULT
from causeway.runs.models import TriggerType
from causeway.workspaces.models import ApiToken, TokenKind, Workspace

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")
# Literal segments, or `{name}` parameters; a path never starts with `/_` (the platform's own, such as
# `/_jobs/<id>`).
_SEGMENT = re.compile(r"^(?:[A-Za-z0-9.~-][A-Za-z0-9._~-]*|\{[a-z][a-z0-9_]{0,39}\})$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
MAX_DECLARED = 20
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
MAX_SOURCES = 50
MAX_SCHEMA_CHARS = 20_000


def base_path(workspace_slug: str, environment: str, collection_slug: str) -> str:
    """Where a collection answers in an environment, from the site's root."""
    return f"/apis/{workspace_slug}/{environment}/{collection_slug}"


def base_url(collection: ApiCollection, environment: str) -> str:
    """The collection's full base URL in `environment`."""
    root = settings.BASE_URL.rstrip("/")
    return root + base_path(collection.project.workspace.slug, environment, collection.slug)


def base_urls(collection: ApiCollection) -> dict[str, str]:
    """The collection's base URL in each environment: dev, test and prod."""
    return {env.value: base_url(collection, env.value) for env in Environment}


def path_parameters(path: str) -> list[str]:
    return re.findall(r"\{([a-z][a-z0-9_]*)\}", path)


def clean_path(value: Any) -> str:
    """An endpoint's path: `/`, or `/`-separated segments, each literal or a `{name}` parameter."""
    message = (
        "a path such as /orders/{order_id}: segments of letters, digits and ._~- or {name} "
        "parameters, not starting with /_"
    )
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 200:
        raise ValidationError({"path": message})
    if value == "/":
        return value
    segments = value.strip("/").split("/")
    if value.startswith("/_") or not all(_SEGMENT.match(s) for s in segments):
        raise ValidationError({"path": message})
    names = path_parameters(value)
    if len(names) != len(set(names)):
        raise ValidationError({"path": "each path parameter is named once"})
    return "/" + "/".join(segments)


def _declared(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_DECLARED:
        raise ValidationError({field: f"a list of at most {MAX_DECLARED} names"})
    names = []
    for item in value:
        if not isinstance(item, str) or not _NAME.match(item):
            raise ValidationError({field: "each name is a letter, then letters, digits, _ or -"})
        if field == "headers" and item.lower() in _CREDENTIAL_HEADERS:
            # The caller's key (or a cookie) would land in the job's history.
            raise ValidationError({field: f"{item} carries credentials: a recipe never sees it"})
        names.append(item.lower() if field == "headers" else item)
    if len(set(names)) != len(names):
        raise ValidationError({field: "each name once"})
    return names


def _refuse_remote(uri: str) -> Any:
    # A schema's `$ref` never makes the server fetch anything (it would be an outbound call nobody allowed).
    raise ValueError(f"{uri}: only references inside the schema are followed")


def validator(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft202012Validator(schema, retriever=_refuse_remote)


def clean_schema(value: Any, field: str) -> dict[str, Any] | None:
    """A JSON Schema (draft 2020-12) as an object, or None."""
    if value is None:
        return None
    if not isinstance(value, dict) or len(repr(value)) > MAX_SCHEMA_CHARS:
        raise ValidationError({field: f"a JSON Schema object of at most {MAX_SCHEMA_CHARS} characters"})
    try:
        jsonschema_rs.meta.validate(value)
        validator(value)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as bad:
        message = getattr(bad, "message", str(bad))
        raise ValidationError({field: f"not a valid JSON Schema: {message}"[:300]}) from None
    return value


def _timeout(value: Any) -> int:
    if value is None:
        return RESPOND_SECONDS_DEFAULT
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RESPOND_SECONDS:
        raise ValidationError({"timeout_seconds": f"from 1 to {MAX_RESPOND_SECONDS} seconds"})
    return value


def _limit(value: Any, field: str, most: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ValidationError({field: f"from 1 to {most}, or none for no limit"})
    return value


def _sources(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_SOURCES:
        raise ValidationError({"allowed_sources": f"a list of at most {MAX_SOURCES} addresses or networks"})
    found = []
    for item in value:
        try:
            found.append(str(ipaddress.ip_network(str(item), strict=False)))
        except ValueError:
            raise ValidationError(
                {"allowed_sources": f"{str(item)[:60]!r} is not an address or network (such as 10.0.0.0/8)"}
            ) from None
    return found


# Collections.


def collection_list(*, actor: Actor, workspace: Workspace) -> QuerySet[ApiCollection]:
    """The collections of the projects the actor may read."""
    visible = Project.objects.visible_to(actor, Perm.PROJECT_VIEW, workspace)
    return (
        ApiCollection.objects.filter(workspace=workspace, project__family__in=visible.values("family"))
        .select_related("project__workspace")
        .prefetch_related(Prefetch("endpoints", queryset=ApiEndpoint.objects.select_related("recipe")))
        .order_by("name")
    )


def projects_for_collections(*, actor: Actor, workspace: Workspace) -> QuerySet[Project]:
    """The projects (DEV copies) where the actor may make a collection."""
    return (
        Project.objects.visible_to(actor, Perm.PROJECT_EDIT, workspace)
        .filter(workspace=workspace, environment=Environment.DEV.value)
        .order_by("name")
    )


def recipes_for_endpoints(*, actor: Actor, collection: ApiCollection) -> QuerySet[Recipe]:
    """The recipes the actor may bind to an endpoint of the collection: its project's, triggered by API
    calls, that the actor may change."""
    return (
        Recipe.objects.visible_to(actor, Perm.RECIPE_EDIT, collection.workspace)
        .filter(project=collection.project, trigger_type=TriggerType.API_ENDPOINT)
        .order_by("name")
    )


def collection_get(
    *, actor: Actor, workspace: Workspace, ref: Any, need: Perm = Perm.PROJECT_VIEW
) -> ApiCollection:
    """The collection if the actor may `need` its project; NotFound when it may not even read it."""
    pk = uuid_or_none(ref)
    found = (
        ApiCollection.objects.select_related("project").filter(pk=pk, workspace=workspace).first()
        if pk
        else None
    )
    if found is None:
        raise access_services.hidden(actor, ApiCollection, pk, need, "API collection")
    try:
        recipes_access.project_get(actor, workspace, found.project_id, need=need)
    except NotFound:
        raise NotFound("API collection") from None
    return found


def _dev_copy(project: Project) -> Project:
    if project.environment == Environment.DEV.value:
        return project
    return Project.objects.get(family=project.family, environment=Environment.DEV.value)


@transaction.atomic
def collection_create(
    *, actor: Actor, workspace: Workspace, project: Any, name: Any, slug: Any, description: Any = ""
) -> ApiCollection:
    found = recipes_access.project_get(actor, workspace, project, need=Perm.PROJECT_VIEW)
    dev = recipes_access.project_get(actor, workspace, _dev_copy(found).id, need=Perm.PROJECT_EDIT)
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise ValidationError({"slug": "1 to 60 lower-case letters, digits and -, as in its base path"})
    if not isinstance(description, str) or len(description) > 500:
        raise ValidationError({"description": "at most 500 characters"})
    collection = ApiCollection(
        workspace=workspace,
        project=dev,
        name=access_services.clean_name(name),
        slug=slug,
        description=description.strip(),
        created_by=actor if isinstance(actor, User) else None,
    )
    save_or_conflict(
        collection,
        field="slug",
        message="a collection with this name or base path exists already",
        on=("name",),
        force_insert=True,
    )
    audit_record(
        actor=actor,
        action="api_collection.created",
        target=collection,
        workspace_id=workspace.id,
        details={"project": dev.name, "slug": slug},
    )
    return collection


@transaction.atomic
def collection_update(
    *, actor: Actor, collection: ApiCollection, name: Any, description: Any = ""
) -> ApiCollection:
    """Rename a collection or change its description (its base path, `slug`, stays: callers use it)."""
    workspace = collection.project.workspace
    collection_get(actor=actor, workspace=workspace, ref=collection.id, need=Perm.PROJECT_EDIT)
    if not isinstance(description, str) or len(description) > 500:
        raise ValidationError({"description": "at most 500 characters"})
    locked = ApiCollection.objects.select_for_update().get(pk=collection.pk, workspace=workspace)
    before = {"name": locked.name, "description": locked.description}
    locked.name, locked.description = access_services.clean_name(name), description.strip()
    save_or_conflict(locked, field="name", message="a collection with this name exists already")
    changed = sorted(field for field, value in before.items() if getattr(locked, field) != value)
    if changed:
        audit_record(
            actor=actor,
            action="api_collection.changed",
            target=locked,
            workspace_id=workspace.id,
            details={"changed": changed},
        )
    return locked


@transaction.atomic
def collection_delete(*, actor: Actor, collection: ApiCollection) -> None:
    workspace = collection.project.workspace
    collection_get(actor=actor, workspace=workspace, ref=collection.id, need=Perm.PROJECT_EDIT)
    audit_record(actor=actor, action="api_collection.deleted", target=collection, workspace_id=workspace.id)
    collection.delete()


# Endpoints.


def _endpoint_fields(
    actor: Actor,
    collection: ApiCollection,
    *,
    method: Any,
    path: Any,
    recipe: Any,
    summary: Any = "",
    request_schema: Any = None,
    response_schema: Any = None,
    query_parameters: Any = None,
    headers: Any = None,
    timeout_seconds: Any = None,
    rate_per_second: Any = None,
    quota_per_day: Any = None,
) -> dict[str, Any]:
    """An endpoint's fields as given, checked: for a new endpoint and a changed one alike."""
    workspace = collection.project.workspace
    if method not in HttpMethod.values:
        raise ValidationError({"method": f"one of {', '.join(HttpMethod.values)}"})
    if not isinstance(summary, str) or len(summary) > 200:
        raise ValidationError({"summary": "at most 200 characters"})
    # Binding a recipe to an endpoint lets every client of the collection run it: as giving it any other
    # trigger, that is for whoever may change the recipe (Forbidden to whoever may only read it).
    try:
        found = recipes_access.recipe_get(actor, workspace, recipe, need=Perm.RECIPE_EDIT)
    except NotFound:
        raise ValidationError({"recipe_id": "no such recipe in this workspace"}) from None
    if found.project_id != collection.project_id:
        raise ValidationError({"recipe_id": "a recipe of the collection's project (its DEV copy)"})
    if found.trigger_type != TriggerType.API_ENDPOINT:
        raise ValidationError({"recipe_id": "the recipe's trigger must be an API endpoint (api_endpoint)"})
    if method in ("GET", "DELETE") and request_schema is not None:
        raise ValidationError({"request_schema": f"a {method} endpoint takes no body"})
    return {
        "method": method,
        "path": clean_path(path),
        "recipe": found,
        "summary": summary.strip(),
        "request_schema": clean_schema(request_schema, "request_schema"),
        "response_schema": clean_schema(response_schema, "response_schema"),
        "query_parameters": _declared(query_parameters, "query_parameters"),
        "headers": _declared(headers, "headers"),
        "timeout_seconds": _timeout(timeout_seconds),
        "rate_per_second": _limit(rate_per_second, "rate_per_second", MAX_RATE),
        "quota_per_day": _limit(quota_per_day, "quota_per_day", MAX_QUOTA),
    }


_TAKEN = "the collection has an endpoint with this method and path already"


@transaction.atomic
def endpoint_create(*, actor: Actor, collection: ApiCollection, **given: Any) -> ApiEndpoint:
    """A new endpoint of the collection, running `recipe` (a recipe of the collection's project whose
    trigger is `api_endpoint`); `given` are the fields `_endpoint_fields` takes."""
    workspace = collection.project.workspace
    collection_get(actor=actor, workspace=workspace, ref=collection.id, need=Perm.PROJECT_EDIT)
    fields = _endpoint_fields(actor, collection, **given)
    endpoint = ApiEndpoint(workspace=workspace, collection=collection, **fields)
    save_or_conflict(endpoint, field="path", message=_TAKEN, on=("method",), force_insert=True)
    audit_record(
        actor=actor,
        action="api_endpoint.created",
        target=endpoint,
        workspace_id=workspace.id,
        details={"collection": collection.name, "recipe": fields["recipe"].name},
    )
    return endpoint


@transaction.atomic
def endpoint_update(*, actor: Actor, endpoint: ApiEndpoint, **given: Any) -> ApiEndpoint:
    """Change every field of an endpoint at once, given as for a new one (a field left out takes its
    default); the audit record names those that changed."""
    collection = endpoint.collection
    workspace = collection.project.workspace
    collection_get(actor=actor, workspace=workspace, ref=collection.id, need=Perm.PROJECT_EDIT)
    fields = _endpoint_fields(actor, collection, **given)
    locked = ApiEndpoint.objects.select_for_update().get(pk=endpoint.pk, collection=collection)
    changed = sorted(name for name, value in fields.items() if getattr(locked, name) != value)
    for name, value in fields.items():
        setattr(locked, name, value)
    save_or_conflict(locked, field="path", message=_TAKEN, on=("method",))
    if changed:
        audit_record(
            actor=actor,
            action="api_endpoint.changed",
            target=locked,
            workspace_id=workspace.id,
            details={"collection": collection.name, "changed": changed},
        )
    return locked


def endpoint_get(*, actor: Actor, collection: ApiCollection, ref: Any) -> ApiEndpoint:
    pk = uuid_or_none(ref)
    found = collection.endpoints.select_related("recipe").filter(pk=pk).first() if pk else None
    if found is None:
        raise NotFound("endpoint")
    return found


@transaction.atomic
def endpoint_delete(*, actor: Actor, endpoint: ApiEndpoint) -> None:
    collection = endpoint.collection
    collection_get(
        actor=actor, workspace=collection.project.workspace, ref=collection.id, need=Perm.PROJECT_EDIT
    )
    audit_record(
        actor=actor,
        action="api_endpoint.deleted",
        target=endpoint,
        workspace_id=endpoint.workspace_id,
        details={"collection": collection.name},
    )
    endpoint.delete()


# Clients and their keys.


def client_list(*, actor: Actor, workspace: Workspace) -> QuerySet[ApiClient]:
    accounts = access_services.service_accounts_visible(actor, workspace)
    return (
        ApiClient.objects.filter(workspace=workspace, service_account__in=accounts)
        .select_related("service_account")
        .prefetch_related("collections")
        .order_by("created_at")
    )


def client_get(*, actor: Actor, workspace: Workspace, ref: Any) -> ApiClient:
    access_services.require(actor, workspace, Perm.MEMBER_MANAGE)
    pk = uuid_or_none(ref)
    found = (
        ApiClient.objects.select_related("service_account").filter(pk=pk, workspace=workspace).first()
        if pk
        else None
    )
    if found is None:
        raise access_services.hidden(actor, ApiClient, pk, Perm.MEMBER_MANAGE, "API client")
    return found


def _collections(actor: Actor, workspace: Workspace, refs: Any) -> list[ApiCollection]:
    """The collections named, read at once: each must be one the actor may read."""
    if refs is None:
        return []
    if not isinstance(refs, list) or len(refs) > 100:
        raise ValidationError({"collection_ids": "a list of at most 100 collection ids"})
    wanted = [(ref, uuid_or_none(ref)) for ref in refs]
    ids = {pk for _, pk in wanted if pk is not None}
    visible = {c.id: c for c in collection_list(actor=actor, workspace=workspace).filter(pk__in=ids)}
    found: dict[Any, ApiCollection] = {}
    for ref, pk in wanted:
        if pk not in visible:
            raise ValidationError({"collection_ids": f"no such collection: {str(ref)[:40]}"})
        found[pk] = visible[pk]
    return list(found.values())


@transaction.atomic
def client_create(
    *,
    actor: Actor,
    workspace: Workspace,
    name: Any,
    collection_ids: Any = None,
    allowed_sources: Any = None,
    rate_per_second: Any = None,
    quota_per_day: Any = None,
) -> ApiClient:
    """A new client: a service account of its own, which may call the chosen collections."""
    access_services.require(actor, workspace, Perm.MEMBER_MANAGE)
    collections = _collections(actor, workspace, collection_ids)
    sources = _sources(allowed_sources)
    rate = _limit(rate_per_second, "rate_per_second", MAX_RATE)
    quota = _limit(quota_per_day, "quota_per_day", MAX_QUOTA)
    account = access_services.service_account_create(actor=actor, workspace=workspace, name=name)
    client = ApiClient.objects.create(
        workspace=workspace,
        service_account=account,
        allowed_sources=sources,
        rate_per_second=rate,
        quota_per_day=quota,
    )
    client.collections.set(collections)
    audit_record(
        actor=actor,
        action="api_client.created",
        target=client,
        workspace_id=workspace.id,
        details={
            "collections": [c.name for c in collections],
            "allowed_sources": sources,
            "rate_per_second": rate,
            "quota_per_day": quota,
        },
    )
    return client


_UNCHANGED: Any = object()


def client_update(
    *,
    actor: Actor,
    client: ApiClient,
    collection_ids: Any = None,
    allowed_sources: Any = None,
    rate_per_second: Any = _UNCHANGED,
    quota_per_day: Any = _UNCHANGED,
) -> ApiClient:
    """Change which collections the client calls, from where, or how often (None: leave the collections
    and sources as they are; a limit left out stays, a limit of None is lifted)."""
    return _client_update(
        actor=actor,
        client=client,
        collection_ids=collection_ids,
        allowed_sources=allowed_sources,
        rate_per_second=rate_per_second,
        quota_per_day=quota_per_day,
    )


@transaction.atomic
def _client_update(
    *,
    actor: Actor,
    client: ApiClient,
    collection_ids: Any,
    allowed_sources: Any,
    rate_per_second: Any,
    quota_per_day: Any,
) -> ApiClient:
    workspace = client.service_account.workspace
    access_services.require(actor, workspace, Perm.MEMBER_MANAGE)
    locked = ApiClient.objects.select_for_update().get(pk=client.pk, workspace=workspace)
    details: dict[str, Any] = {}
    if collection_ids is not None:
        collections = _collections(actor, workspace, collection_ids)
        locked.collections.set(collections)
        details["collections"] = [c.name for c in collections]
    if allowed_sources is not None:
        locked.allowed_sources = _sources(allowed_sources)
        locked.save(update_fields=["allowed_sources"])
        details["allowed_sources"] = locked.allowed_sources
    for field, most, value in (
        ("rate_per_second", MAX_RATE, rate_per_second),
        ("quota_per_day", MAX_QUOTA, quota_per_day),
    ):
        if value is not _UNCHANGED:
            setattr(locked, field, _limit(value, field, most))
            locked.save(update_fields=[field])
            details[field] = getattr(locked, field)
    audit_record(
        actor=actor, action="api_client.changed", target=locked, workspace_id=workspace.id, details=details
    )
    return locked


def keys_of_clients() -> QuerySet[ApiToken]:
    """Clients' keys, newest first (to prefetch beside clients the actor has already read)."""
    return ApiToken.objects.filter(kind=TokenKind.API_KEY).order_by("-created_at")


def client_keys(*, actor: Actor, client: ApiClient) -> QuerySet[ApiToken]:
    access_services.require(actor, client.service_account.workspace, Perm.MEMBER_MANAGE)
    return keys_of_clients().filter(service_account=client.service_account)


def client_key_issue(
    *, actor: Actor, client: ApiClient, name: Any, expires_in_days: Any
) -> tuple[ApiToken, str]:
    """A new key of the client's and its secret, which is never shown again."""
    account = client.service_account
    return access_services.service_account_token_create(
        actor=actor,
        workspace=account.workspace,
        account=account,
        name=name,
        expires_in_days=expires_in_days,
        kind=TokenKind.API_KEY,
    )


def client_key_get(*, actor: Actor, client: ApiClient, ref: Any) -> ApiToken:
    """One of the client's keys, by id or prefix."""
    account = client.service_account
    try:
        return access_services.service_account_token_get(
            actor, account.workspace, account, ref, kind=TokenKind.API_KEY
        )
    except NotFound:
        raise NotFound("key") from None


def client_key_revoke(*, actor: Actor, client: ApiClient, key: ApiToken) -> ApiToken:
    if key.service_account_id != client.service_account_id:
        raise NotFound("key")
    return access_services.service_account_token_revoke(
        actor=actor, workspace=client.service_account.workspace, token=key, kind=TokenKind.API_KEY
    )


def endpoint_recipe_copy(endpoint: ApiEndpoint, environment: str) -> Recipe | None:
    """The copy of the endpoint's recipe in `environment`'s copy of the project, with what a job needs."""
    return (
        Recipe.objects.select_related("project", "active_version", "workspace")
        .filter(
            workspace_id=endpoint.workspace_id,
            family=endpoint.recipe.family,
            project__family=endpoint.collection.project.family,
            project__environment=environment,
        )
        .first()
    )
