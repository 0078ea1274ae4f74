"""A sign-in provider's settings are checked before anything is stored: every wrong field is named at once."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from causeway.access import identity_providers as providers
from causeway.accounts.actors import SystemActor
from causeway.accounts.models import IdentityProvider

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
