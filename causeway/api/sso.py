"""The identity providers people sign in through (single sign-on), configured by staff. A client secret
goes in and never comes out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from causeway.access import identity_providers as providers
from causeway.access.routes import operation
from causeway.accounts.models import IdentityProvider
from causeway.accounts.sso import ISSUER_PATTERN
from causeway.api.schemas import ObjectId, StrictIn, answers, name_field

router = Router(tags=["platform"])

Slug = Annotated[
    str, Field(pattern=providers.SLUG_PATTERN, max_length=40, description="the provider's name in addresses")
]
Issuer = Annotated[
    str,
    Field(
        pattern=ISSUER_PATTERN,
        max_length=500,
        description="the issuer URL: https (http only on localhost), no query or fragment",
    ),
]
ClientId = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[\x21-\x7e]+$")]
ClientSecret = Annotated[str, Field(min_length=1, max_length=1000, description="sealed; never shown again")]
Domain = Annotated[str, Field(pattern=providers.DOMAIN_PATTERN, max_length=253)]
Domains = Annotated[
    list[Domain],
    Field(min_length=1, max_length=50, description="email domains the provider is trusted to vouch for"),
]
Scope = Annotated[str, Field(pattern=providers.SCOPE_PATTERN)]
Scopes = Annotated[list[Scope], Field(max_length=20, description="scopes asked besides openid")]
Claim = Annotated[
    str, Field(pattern=providers.CLAIM_PATTERN, description="the ID token claim holding the email")
]


Metadata = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200_000,
        description="a SAML 2.0 identity provider's metadata: one IdP, its signing certificate and an "
        "HTTP-Redirect single sign-on endpoint",
    ),
]


class ProviderOut(Schema):
    id: uuid.UUID
    protocol: str
    slug: str
    name: str
    issuer: str
    client_id: str
    scopes: list[str]
    email_claim: str
    trusted_domains: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class ProviderIn(StrictIn):
    slug: Slug
    name: str = name_field("the name shown on the login page")
    issuer: Issuer
    client_id: ClientId
    client_secret: ClientSecret
    trusted_domains: Domains
    scopes: Scopes = Field(default_factory=lambda: ["email", "profile"])
    email_claim: Claim = "email"


class SamlProviderIn(StrictIn):
    slug: Slug
    name: str = name_field("the name shown on the login page")
    metadata: Metadata
    trusted_domains: Domains
    email_claim: Claim = "email"


class ProviderPatchIn(StrictIn):
    name: str | None = name_field("the name shown on the login page", default=None)
    issuer: Issuer | None = None
    client_id: ClientId | None = None
    client_secret: ClientSecret | None = None
    trusted_domains: Domains | None = None
    scopes: Scopes | None = None
    email_claim: Claim | None = None
    enabled: bool | None = None
    metadata: Metadata | None = None


@router.get(
    "/platform/identity-providers",
    response=answers({200: list[ProviderOut]}),
    summary="Identity providers for single sign-on (staff)",
)
@operation(staff=True)
def provider_list(request: HttpRequest) -> list[IdentityProvider]:
    return list(providers.identity_providers_visible(request.auth))  # type: ignore[attr-defined]


@router.post(
    "/platform/identity-providers",
    response=answers({201: ProviderOut}, conflict=True),
    summary="Add an OpenID Connect identity provider (staff)",
)
@operation(staff=True, step_up=True)
def provider_create(request: HttpRequest, body: ProviderIn) -> Status[IdentityProvider]:
    created = providers.identity_provider_create(actor=request.auth, **body.dict())  # type: ignore[attr-defined]
    return Status(201, created)


@router.post(
    "/platform/identity-providers/saml",
    response=answers({201: ProviderOut}, conflict=True),
    summary="Add a SAML 2.0 identity provider from its metadata (staff)",
)
@operation(staff=True, step_up=True)
def provider_create_saml(request: HttpRequest, body: SamlProviderIn) -> Status[IdentityProvider]:
    actor = request.auth  # type: ignore[attr-defined]
    return Status(201, providers.identity_provider_create_saml(actor=actor, **body.dict()))


@router.patch(
    "/platform/identity-providers/{provider_id}",
    response=answers({200: ProviderOut}, conflict=True),
    summary="Change an identity provider; a new client secret replaces the old (staff)",
)
@operation(staff=True, step_up=True)
def provider_update(request: HttpRequest, provider_id: ObjectId, body: ProviderPatchIn) -> IdentityProvider:
    actor = request.auth  # type: ignore[attr-defined]
    found = providers.identity_provider_get(actor, provider_id)
    return providers.identity_provider_update(actor=actor, provider=found, **body.dict())


@router.delete(
    "/platform/identity-providers/{provider_id}",
    response=answers({204: None}),
    summary="Remove an identity provider: nobody signs in through it any more (staff)",
)
@operation(staff=True, step_up=True)
def provider_delete(request: HttpRequest, provider_id: ObjectId) -> Status[None]:
    actor = request.auth  # type: ignore[attr-defined]
    providers.identity_provider_delete(
        actor=actor, provider=providers.identity_provider_get(actor, provider_id)
    )
    return Status(204, None)
