"""The identity providers people sign in through: added, changed and removed by staff (or the operator's
command line) for the whole platform. Every change is audited; the client secret is sealed and never
shown again, and never written to the audit log."""

from __future__ import annotations

import re
import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from causeway.access import policy
from causeway.access.errors import NotFound
from causeway.access.policy import Actor
from causeway.accounts.models import IdentityProvider
from causeway.accounts.saml import metadata_check
from causeway.accounts.sso import issuer_url_check
from causeway.audit.services import audit_record
from causeway.db import conflict, conflict_named

# The API's schema states these same patterns.
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
DOMAIN_PATTERN = r"^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
SCOPE_PATTERN = r"^[\x21\x23-\x5b\x5d-\x7e]{1,100}$"
CLAIM_PATTERN = r"^[A-Za-z0-9_.:/-]{1,100}$"
SLUG = re.compile(SLUG_PATTERN)
DOMAIN = re.compile(DOMAIN_PATTERN)
SCOPE = re.compile(SCOPE_PATTERN)
CLAIM = re.compile(CLAIM_PATTERN)
_SLUG_TAKEN = "Slug is already used by another identity provider."


def _text(errors: dict[str, list[str]], field: str, value: str, label: str, limit: int) -> str:
    cleaned = value.strip()
    if not cleaned or len(cleaned) > limit or any(ord(ch) < 32 or ord(ch) == 127 for ch in cleaned):
        errors[field] = [f"{label} must be 1 to {limit} characters with no control characters."]
    return cleaned


def _domains(errors: dict[str, list[str]], domains: list[str]) -> list[str]:
    cleaned = sorted({d.strip().lower() for d in domains if d.strip()})
    wrong = [d for d in cleaned if len(d) > 253 or not DOMAIN.fullmatch(d)]
    if wrong:
        errors["trusted_domains"] = [f"Trusted domains: {wrong[0]!r} is not a domain name."]
    elif not cleaned or len(cleaned) > 50:
        errors["trusted_domains"] = ["Trusted domains: give 1 to 50 email domains the provider vouches for."]
    return cleaned


def _scopes(errors: dict[str, list[str]], scopes: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    if len(cleaned) > 20 or any(not SCOPE.fullmatch(s) for s in cleaned):
        errors["scopes"] = ["Scopes: up to 20 scope names, each without spaces, quotes or backslashes."]
    return cleaned


def _claim(errors: dict[str, list[str]], claim: str) -> str:
    cleaned = claim.strip()
    if not CLAIM.fullmatch(cleaned):
        errors["email_claim"] = ["Email claim must be a claim name (letters, digits, _ . : / -)."]
    return cleaned


def _issuer(errors: dict[str, list[str]], issuer: str) -> str:
    try:
        return issuer_url_check(issuer)
    except ValidationError as error:
        errors.update(error.message_dict)
        return issuer


def identity_providers_visible(actor: Actor | None) -> QuerySet[IdentityProvider]:
    """Every provider for staff and the operator; nothing for anyone else."""
    if policy.is_system(actor) or policy.is_staff(actor):
        return IdentityProvider.objects.order_by("name")
    return IdentityProvider.objects.none()


def identity_provider_get(actor: Actor | None, provider_id: uuid.UUID | str) -> IdentityProvider:
    """A provider by id, or by slug (the command line's name for it)."""
    policy.require_platform(actor)
    try:
        key = uuid.UUID(str(provider_id))
    except ValueError:
        ref = str(provider_id)
        found = IdentityProvider.objects.filter(slug=ref).first() if SLUG.fullmatch(ref) else None
    else:
        found = IdentityProvider.objects.filter(pk=key).first()
    if found is None:
        raise NotFound("identity provider")
    return found


def _slug(errors: dict[str, list[str]], slug: str) -> str:
    cleaned = slug.strip().lower()
    if not SLUG.fullmatch(cleaned):
        errors["slug"] = ["Slug must be 1 to 40 lower-case letters, digits and hyphens."]
    return cleaned


def _added(
    actor: Actor, provider: IdentityProvider, errors: dict[str, list[str]], details: dict[str, object]
) -> IdentityProvider:
    """Save a new provider whose every field was checked (`errors` names the wrong ones), audited; a
    slug already used is a conflict, found by the database's unique constraint."""
    if errors:
        raise ValidationError(errors)
    with conflict_named(IdentityProvider, "slug", _SLUG_TAKEN, on=("slug",)):
        provider.save()
    audit_record(actor=actor, action="identity_provider.created", target=provider, details=details)
    return provider


@transaction.atomic
def identity_provider_create(
    *,
    actor: Actor,
    slug: str,
    name: str,
    issuer: str,
    client_id: str,
    client_secret: str,
    trusted_domains: list[str],
    scopes: list[str] | None = None,
    email_claim: str = "email",
) -> IdentityProvider:
    policy.require_platform(actor)
    errors: dict[str, list[str]] = {}
    provider = IdentityProvider(
        slug=_slug(errors, slug),
        name=_text(errors, "name", name, "Name", 100),
        issuer=_issuer(errors, issuer),
        client_id=_text(errors, "client_id", client_id, "Client id", 300),
        client_secret=client_secret,
        trusted_domains=_domains(errors, trusted_domains),
        scopes=_scopes(errors, scopes if scopes is not None else ["email", "profile"]),
        email_claim=_claim(errors, email_claim),
    )
    if not client_secret or len(client_secret) > 1000:
        errors["client_secret"] = ["Client secret must be 1 to 1000 characters."]
    details = {"issuer": provider.issuer, "trusted_domains": provider.trusted_domains}
    return _added(actor, provider, errors, details)


@transaction.atomic
def identity_provider_create_saml(
    *,
    actor: Actor,
    slug: str,
    name: str,
    metadata: str,
    trusted_domains: list[str],
    email_claim: str = "email",
) -> IdentityProvider:
    """A SAML 2.0 identity provider, from its metadata (entity id, sign-on URL, signing certificate)."""
    policy.require_platform(actor)
    errors: dict[str, list[str]] = {}
    provider = IdentityProvider(
        protocol="saml",
        slug=_slug(errors, slug),
        name=_text(errors, "name", name, "Name", 100),
        issuer=_entity(errors, metadata),
        client_secret="",
        saml_metadata=metadata,
        trusted_domains=_domains(errors, trusted_domains),
        scopes=[],
        email_claim=_claim(errors, email_claim),
    )
    details = {"protocol": "saml", "entity_id": provider.issuer, "trusted_domains": provider.trusted_domains}
    return _added(actor, provider, errors, details)


def _entity(errors: dict[str, list[str]], metadata: str) -> str:
    try:
        return metadata_check(metadata)[:500]
    except ValidationError as error:
        errors.update(error.message_dict)
        return ""


OIDC_ONLY = ("issuer", "client_id", "client_secret", "scopes")


@transaction.atomic
def identity_provider_update(
    *,
    actor: Actor,
    provider: IdentityProvider,
    name: str | None = None,
    issuer: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    trusted_domains: list[str] | None = None,
    scopes: list[str] | None = None,
    email_claim: str | None = None,
    enabled: bool | None = None,
    metadata: str | None = None,
) -> IdentityProvider:
    """Change the given fields (None leaves one as it is); a new secret replaces the old unseen. A
    SAML provider's issuer comes from its metadata; an OpenID Connect provider has no metadata."""
    policy.require_platform(actor)
    locked = IdentityProvider.objects.select_for_update().get(pk=provider.pk)
    given = {"issuer": issuer, "client_id": client_id, "client_secret": client_secret, "scopes": scopes}
    if locked.protocol == "saml" and any(given[name] is not None for name in OIDC_ONLY):
        wrong = next(name for name in OIDC_ONLY if given[name] is not None)
        raise conflict(wrong, f"{wrong} belongs to OpenID Connect providers; this one signs in with SAML.")
    if locked.protocol != "saml" and metadata is not None:
        raise conflict(
            "metadata", "Metadata belongs to SAML providers; this one signs in with OpenID Connect."
        )
    errors: dict[str, list[str]] = {}
    wanted: dict[str, object] = {}
    if metadata is not None:
        wanted["issuer"] = _entity(errors, metadata)
        wanted["saml_metadata"] = metadata
    if name is not None:
        wanted["name"] = _text(errors, "name", name, "Name", 100)
    if issuer is not None:
        wanted["issuer"] = _issuer(errors, issuer)
    if client_id is not None:
        wanted["client_id"] = _text(errors, "client_id", client_id, "Client id", 300)
    if trusted_domains is not None:
        wanted["trusted_domains"] = _domains(errors, trusted_domains)
    if scopes is not None:
        wanted["scopes"] = _scopes(errors, scopes)
    if email_claim is not None:
        wanted["email_claim"] = _claim(errors, email_claim)
    if enabled is not None:
        wanted["enabled"] = enabled
    if client_secret is not None:
        if not client_secret or len(client_secret) > 1000:
            errors["client_secret"] = ["Client secret must be 1 to 1000 characters."]
    if errors:
        raise ValidationError(errors)
    changed = sorted(field for field, value in wanted.items() if getattr(locked, field) != value)
    for field in changed:
        setattr(locked, field, wanted[field])
    if client_secret is not None:
        locked.client_secret = client_secret
        changed.append("client_secret")
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
        audit_record(
            actor=actor,
            action="identity_provider.changed",
            target=locked,
            details={"fields": sorted(changed)},
        )
    return locked


@transaction.atomic
def identity_provider_delete(*, actor: Actor, provider: IdentityProvider) -> None:
    """Remove a provider: nobody signs in through it any more (accounts made through it stay)."""
    policy.require_platform(actor)
    audit_record(actor=actor, action="identity_provider.deleted", target=provider)
    provider.delete()
