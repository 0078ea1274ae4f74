"""API operations on a workspace's OAuth profiles: members list and read them (never the client
secret), Admins create, change and remove them. The connect flow itself is a browser's (it needs the
person at the provider's sign-in page), so it has pages and no operation here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from causeway.access.perms import Perm
from causeway.access.routes import operation
from causeway.api.schemas import ObjectId, StrictIn, WorkspaceRef, answers
from causeway.connections import oauth, oauth_profiles
from causeway.connections.models import OAuthProfile

router = Router(tags=["connections"])


def _who(request: HttpRequest) -> tuple[Any, Any]:
    return getattr(request, "auth"), getattr(request, "workspace")  # noqa: B009


class OAuthProfileOut(Schema):
    id: uuid.UUID
    connector: str
    display_name: str
    logo: str = Field(description="an SVG document, or empty")
    client_id: str
    client_secret_set: bool = Field(description="whether a client secret is kept (it is never shown)")
    authorize_url: str
    token_url: str
    revoke_url: str
    default_scopes: list[str]
    redirect_uri: str = Field(description="the redirect URI to register at the provider, exactly")
    created_at: datetime

    @staticmethod
    def resolve_connector(profile: OAuthProfile) -> str:
        return profile.connector_key

    @staticmethod
    def resolve_client_secret_set(profile: OAuthProfile) -> bool:
        return OAuthProfile.objects.filter(pk=profile.pk, client_secret__isnull=False).exists()

    @staticmethod
    def resolve_redirect_uri(profile: OAuthProfile) -> str:
        return oauth.redirect_uri(profile.workspace)


class OAuthProfileIn(StrictIn):
    connector: str = Field(max_length=40)
    display_name: str = Field(max_length=100)
    client_id: str = Field(max_length=300)
    client_secret: str = Field(default="", max_length=2000, description="never shown again")
    authorize_url: str = Field(max_length=500)
    token_url: str = Field(max_length=500)
    revoke_url: str = Field(default="", max_length=500)
    default_scopes: list[str] = Field(default_factory=list)
    logo: str = Field(default="", max_length=20_000)


class OAuthProfilePatch(StrictIn):
    display_name: str | None = Field(default=None, max_length=100)
    client_id: str | None = Field(default=None, max_length=300)
    client_secret: str | None = Field(default=None, max_length=2000, description="replaces it")
    authorize_url: str | None = Field(default=None, max_length=500)
    token_url: str | None = Field(default=None, max_length=500)
    revoke_url: str | None = Field(default=None, max_length=500)
    default_scopes: list[str] | None = None
    logo: str | None = Field(default=None, max_length=20_000)


@router.get(
    "/workspaces/{workspace_id}/oauth-profiles",
    response=answers({200: list[OAuthProfileOut]}),
    summary="The workspace's OAuth profiles (members; never a client secret)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def oauth_profile_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[OAuthProfile]:
    actor, workspace = _who(request)
    return oauth_profiles.oauth_profiles(actor=actor, workspace=workspace)


@router.post(
    "/workspaces/{workspace_id}/oauth-profiles",
    response=answers({201: OAuthProfileOut}),
    summary="Add an OAuth profile: the workspace's own client for a connector (Admins; audited)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def oauth_profile_create(
    request: HttpRequest, workspace_id: WorkspaceRef, body: OAuthProfileIn
) -> Status[Any]:
    actor, workspace = _who(request)
    given = body.model_dump()
    created = oauth_profiles.oauth_profile_create(
        actor=actor, workspace=workspace, connector_key=given.pop("connector"), **given
    )
    return Status(201, created)


@router.get(
    "/workspaces/{workspace_id}/oauth-profiles/{profile_id}",
    response=answers({200: OAuthProfileOut}),
    summary="One OAuth profile (never its client secret)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def oauth_profile_get(request: HttpRequest, workspace_id: WorkspaceRef, profile_id: ObjectId) -> Any:
    actor, workspace = _who(request)
    return oauth_profiles.oauth_profile_get(actor=actor, workspace=workspace, profile_id=profile_id)


@router.patch(
    "/workspaces/{workspace_id}/oauth-profiles/{profile_id}",
    response=answers({200: OAuthProfileOut}),
    summary="Change an OAuth profile; a client secret given replaces the old one (Admins; audited)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def oauth_profile_update(
    request: HttpRequest, workspace_id: WorkspaceRef, profile_id: ObjectId, body: OAuthProfilePatch
) -> Any:
    actor, workspace = _who(request)
    return oauth_profiles.oauth_profile_update(
        actor=actor, workspace=workspace, profile_id=profile_id, **body.model_dump(exclude_unset=True)
    )


@router.delete(
    "/workspaces/{workspace_id}/oauth-profiles/{profile_id}",
    response=answers({204: None}),
    summary="Remove an OAuth profile no connection signed in through (Admins; audited)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def oauth_profile_delete(
    request: HttpRequest, workspace_id: WorkspaceRef, profile_id: ObjectId
) -> Status[None]:
    actor, workspace = _who(request)
    oauth_profiles.oauth_profile_delete(actor=actor, workspace=workspace, profile_id=profile_id)
    return Status(204, None)
