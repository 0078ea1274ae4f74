"""A sign-in provider's settings are checked before anything is stored: every wrong field is named at once."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError

from causeway.access import identity_providers as providers
from causeway.access.errors import NotFound
from causeway.accounts.actors import SystemActor
from causeway.accounts.models import IdentityProvider
from causeway.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_every_wrong_field_of_a_new_provider_is_named_and_nothing_is_stored() -> None:
    with pytest.raises(ValidationError) as refused:
        providers.identity_provider_create(
            actor=SystemActor(label="test"),
            slug="Not A Slug!",
            name=" ",
            issuer="ftp://login.example.com",
            client_id="x\x00y",
            client_secret="",
            trusted_domains=["not a domain"],
            scopes=["has space"],
            email_claim="bad claim!",
        )
    assert set(refused.value.message_dict) >= {
        "slug",
        "name",
        "client_id",
        "client_secret",
        "trusted_domains",
        "scopes",
        "email_claim",
    }
    assert not IdentityProvider.objects.exists()


def test_a_provider_with_no_trusted_domain_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        providers.identity_provider_create(
            actor=SystemActor(label="test"),
            slug="acme",
            name="Acme",
            issuer="https://login.example.com",
            client_id="client",
            client_secret="secret",
            trusted_domains=[" "],
        )
    assert "1 to 50 email domains" in refused.value.message_dict["trusted_domains"][0]
    assert not IdentityProvider.objects.exists()


def _provider() -> IdentityProvider:
    return providers.identity_provider_create(
        actor=SystemActor(label="test"),
        slug="acme",
        name="Acme",
        issuer="https://login.example.com",
        client_id="client",
        client_secret="secret",
        trusted_domains=["example.com"],
    )


def test_every_wrong_field_of_a_change_is_named_and_nothing_changes() -> None:
    provider = _provider()
    with pytest.raises(ValidationError) as refused:
        providers.identity_provider_update(
            actor=SystemActor(label="test"),
            provider=provider,
            name="",
            issuer="ftp://login.example.com",
            client_id="x\x00y",
            client_secret="",
            trusted_domains=["not a domain"],
            scopes=["has space"],
            email_claim="bad claim!",
        )
    assert set(refused.value.message_dict) >= {
        "name",
        "client_id",
        "client_secret",
        "trusted_domains",
        "scopes",
        "email_claim",
    }
    provider.refresh_from_db()
    assert (provider.name, provider.client_id, provider.trusted_domains) == (
        "Acme",
        "client",
        ["example.com"],
    )


def test_a_change_records_only_the_fields_that_changed_and_a_new_secret() -> None:
    provider = _provider()
    changed = providers.identity_provider_update(
        actor=SystemActor(label="test"),
        provider=provider,
        name="Acme",
        scopes=["email"],
        email_claim="mail",
        enabled=False,
        client_secret="another",
    )
    assert (changed.scopes, changed.email_claim, changed.enabled) == (["email"], "mail", False)
    event = AuditEvent.objects.filter(action="identity_provider.changed").get()
    assert event.details["fields"] == ["client_secret", "email_claim", "enabled", "scopes"]


def test_saml_metadata_is_refused_for_an_openid_connect_provider() -> None:
    provider = _provider()
    with pytest.raises(ValidationError) as refused:
        providers.identity_provider_update(
            actor=SystemActor(label="test"), provider=provider, metadata="<x/>"
        )
    assert "metadata" in refused.value.message_dict


def test_a_provider_is_found_by_id_or_slug_and_an_unknown_one_is_not_found() -> None:
    provider = _provider()
    system = SystemActor(label="test")
    assert providers.identity_provider_get(system, provider.id) == provider
    assert providers.identity_provider_get(system, "acme") == provider
    for unknown in ("no-such", "Not A Slug!", str(uuid.uuid4())):
        with pytest.raises(NotFound):
            providers.identity_provider_get(system, unknown)
    assert list(providers.identity_providers_visible(None)) == []
    with pytest.raises(ValidationError):
        _provider()  # the slug is taken
