"""Signing in through a SAML 2.0 identity provider, with pysaml2 (its signatures checked by xmlsec1).

Causeway is the service provider: it sends an AuthnRequest by the HTTP-Redirect binding and takes the
answer at its assertion consumer service by HTTP-POST. The assertion must be signed by the key in the
provider's metadata (a signed response around an unsigned assertion is not enough), name Causeway's
entity as its audience and Causeway's consumer URL as its recipient and destination, answer the request
this browser made (its id is kept in a signed cookie that only this browser holds), and be within its
validity (60 seconds of clock difference allowed). An assertion's id is kept until it expires and a
second use is refused, so a captured answer cannot be replayed. Who signs in, and the accounts made,
follow the same rules as OpenID Connect (`accounts.sso`).
"""

from __future__ import annotations

import base64
import logging
import shutil
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

from defusedxml.ElementTree import fromstring
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from causeway.accounts.models import IdentityProvider, SamlAssertionSeen
from causeway.accounts.sso import SignedIn, SsoRefused, account_for, refusal_recorded, trusted_email

# xmlschema, which pysaml2 validates with, logs each schema it loads at INFO: noise in every process.
logging.getLogger("xmlschema").setLevel(logging.WARNING)

with warnings.catch_warnings():
    # pysaml2 names a cipher mode the cryptography package has moved; it is not used here.
    warnings.simplefilter("ignore")
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.client import Saml2Client
    from saml2.config import SPConfig
    from saml2.metadata import create_metadata_string
    from saml2.response import IncorrectlySigned, StatusError, UnsolicitedResponse, VerificationError
    from saml2.sigver import SignatureError, SigverError
    from saml2.validate import ResponseLifetimeExceed, ToEarly

CLOCK_SKEW_SECONDS = 60
PENDING_SECONDS = 600
# An assertion without an end of its own is remembered (against replay) for this long.
REMEMBER_AT_LEAST = timedelta(minutes=10)
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def _config(provider: IdentityProvider, base_url: str) -> SPConfig:
    if shutil.which("xmlsec1") is None:
        raise SsoRefused(
            "SAML sign-in needs the xmlsec1 program on the server; the operator installs it.",
            reason="no_xmlsec1",
        )
    urls = sp_urls(provider, base_url)
    config = SPConfig()
    try:
        config.load(
            {
                "entityid": urls["entity_id"],
                "service": {
                    "sp": {
                        "endpoints": {"assertion_consumer_service": [(urls["acs"], BINDING_HTTP_POST)]},
                        "want_assertions_signed": True,
                        "want_response_signed": False,
                        "allow_unsolicited": False,
                        "authn_requests_signed": False,
                        "only_use_keys_in_metadata": True,
                    }
                },
                "metadata": {"inline": [provider.saml_metadata]},
                "accepted_time_diff": CLOCK_SKEW_SECONDS,
                "allow_unknown_attributes": True,
            }
        )
    except Exception:  # pysaml2 and xmlsec1 raise many kinds on metadata they cannot use
        raise _unusable() from None
    return config


def _unusable() -> SsoRefused:
    return SsoRefused(
        "This identity provider's SAML settings cannot be used (its metadata or certificate is broken); "
        "ask staff to load its metadata again.",
        reason="metadata_unusable",
    )


def sp_urls(provider: IdentityProvider, base_url: str) -> dict[str, str]:
    """Causeway's entity id and consumer URL for this provider, as the provider registers them."""
    root = f"{base_url.rstrip('/')}/login/saml/{provider.slug}"
    return {"entity_id": f"{root}/metadata", "acs": f"{root}/acs"}


def sp_metadata(provider: IdentityProvider, base_url: str) -> str:
    """Causeway's own metadata for the provider's administrator to load."""
    config = _config(provider, base_url)
    try:
        found = create_metadata_string(None, config=config, valid=None)
    except Exception:  # as in `_config`: pysaml2's many kinds of refusal mean the same here
        raise _unusable() from None
    return found.decode() if isinstance(found, bytes) else str(found)


def metadata_check(metadata: str) -> str:
    """The identity provider's entity id, from its metadata: one IdP with a signing certificate and a
    single sign-on endpoint for the HTTP-Redirect binding. ValidationError naming `metadata` otherwise."""
    refused = ValidationError(
        {
            "metadata": "Metadata must be a SAML 2.0 identity provider's metadata: one IdP, its signing "
            "certificate and an HTTP-Redirect single sign-on endpoint."
        }
    )
    if not metadata.strip() or len(metadata) > 200_000:
        raise refused
    probe = IdentityProvider(slug="probe", saml_metadata=metadata)
    if shutil.which("xmlsec1") is None:
        raise ValidationError(
            {"metadata": "Metadata: SAML needs the xmlsec1 program on the server; install it first."}
        )
    try:
        config = _config(probe, "https://localhost")
        store = config.metadata
        idps = list(store.identity_providers())
        if len(idps) != 1:
            raise refused
        entity = idps[0]
        endpoints = store.single_sign_on_service(entity, BINDING_HTTP_REDIRECT)
        certificates = store.certs(entity, "idpsso", use="signing")
    except ValidationError:
        raise
    except Exception:  # pysaml2 raises many kinds on malformed XML; each means the same here
        raise refused from None
    if not endpoints or not certificates:
        raise refused
    return str(entity)


def sign_in_begin(*, provider: IdentityProvider, base_url: str, next_url: str) -> tuple[str, dict[str, Any]]:
    """Where to send the browser (the provider's sign-on URL with the request), and what to keep in this
    browser's signed cookie until it comes back."""
    config = _config(provider, base_url)
    try:
        request_id, info = Saml2Client(config).prepare_for_authenticate(
            entityid=provider.issuer, binding=BINDING_HTTP_REDIRECT
        )
        location = dict(info["headers"])["Location"]
    except Exception:  # as in `_config`: pysaml2's many kinds of refusal mean the same here
        raise _unusable() from None
    pending = {"provider": provider.slug, "request": request_id, "next": next_url}
    return str(location), pending


def _refuse_for(error: Exception) -> SsoRefused:
    if isinstance(error, ResponseLifetimeExceed):
        return SsoRefused("The identity provider's sign-in has expired; sign in again.", reason="expired")
    if isinstance(error, ToEarly):
        return SsoRefused(
            "The identity provider's sign-in is not valid yet (check the clocks).", reason="too_early"
        )
    if isinstance(error, SignatureError | IncorrectlySigned | SigverError):
        return SsoRefused(
            "The identity provider's answer is not signed by its key (unsigned, or its signature is wrong).",
            reason="signature",
        )
    if isinstance(error, UnsolicitedResponse):
        return SsoRefused(
            "This sign-in was not started in this browser; sign in again.", reason="unsolicited"
        )
    if isinstance(error, VerificationError):
        return SsoRefused("The identity provider's answer is meant for another address.", reason="recipient")
    if isinstance(error, StatusError):
        return SsoRefused("The identity provider did not sign you in.", reason="provider_status")
    if "AudienceRestriction" in str(error):
        return SsoRefused(
            "The identity provider's answer is meant for another application.", reason="audience"
        )
    return SsoRefused("The identity provider's answer is not a valid SAML response.", reason="invalid")


def assertions_seen_purge() -> int:
    """Forget the assertions that have expired (the beat's housekeeping, every 5 minutes): one posted
    again now is refused as expired, so remembering it protects nothing. Returns how many."""
    ended = timezone.now() - timedelta(seconds=CLOCK_SKEW_SECONDS)
    deleted, _ = SamlAssertionSeen.objects.filter(expires_at__lt=ended).delete()
    return deleted


def _remember(provider: IdentityProvider, assertion_id: str, until: datetime) -> None:
    try:
        with transaction.atomic():
            SamlAssertionSeen.objects.create(
                provider=provider, assertion_id=assertion_id[:256], expires_at=until
            )
    except IntegrityError:
        raise SsoRefused("This sign-in was already used; sign in again.", reason="replay") from None


def _check(
    provider: IdentityProvider, base_url: str, pending: dict[str, Any] | None, saml_response: str
) -> SignedIn:
    if (
        not isinstance(pending, dict)
        or pending.get("provider") != provider.slug
        or not pending.get("request")
    ):
        raise SsoRefused("This sign-in was not started in this browser; sign in again.", reason="no_pending")
    config = _config(provider, base_url)
    client = Saml2Client(config)
    try:
        document = fromstring(base64.b64decode(saml_response, validate=True))
    except Exception:  # not base64, not XML, or XML that tries entity expansion: all the same here
        raise SsoRefused(
            "The identity provider's answer is not a valid SAML response.", reason="invalid"
        ) from None
    destination = document.get("Destination")
    if destination is not None and destination != sp_urls(provider, base_url)["acs"]:
        raise SsoRefused("The identity provider's answer is meant for another address.", reason="recipient")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            answer = client.parse_authn_request_response(
                saml_response,
                BINDING_HTTP_POST,
                outstanding={str(pending["request"]): str(pending.get("next"))},
            )
    except Exception as error:  # pysaml2 raises many kinds; each is sorted into a message
        raise _refuse_for(error) from None
    if answer is None or answer.assertion is None:
        raise SsoRefused("The identity provider's answer is not a valid SAML response.", reason="invalid")
    assertion = answer.assertion
    if not assertion.signature:
        raise SsoRefused("The identity provider's assertion is not signed.", reason="unsigned_assertion")
    audiences = [
        (audience.text or "").strip()
        for restriction in (assertion.conditions.audience_restriction if assertion.conditions else [])
        for audience in restriction.audience
    ]
    if sp_urls(provider, base_url)["entity_id"] not in audiences:
        raise SsoRefused(
            "The identity provider's answer is meant for another application.", reason="audience"
        )
    ends = answer.not_on_or_after
    until = datetime.fromtimestamp(ends, tz=UTC) if ends else timezone.now() + REMEMBER_AT_LEAST
    _remember(provider, str(assertion.id), max(until, timezone.now()) + timedelta(seconds=CLOCK_SKEW_SECONDS))
    attributes = answer.ava or {}

    def first(name: str) -> str:
        values = attributes.get(name) or []
        return str(values[0]) if values else ""

    email = first(provider.email_claim)
    name_id = answer.name_id
    if not email and name_id is not None and name_id.format == NAMEID_EMAIL:
        email = str(name_id.text or "")
    address = trusted_email(provider, email, verified=True)
    given = first("givenName") or first("given_name") or first("firstName")
    family = first("sn") or first("surname") or first("family_name") or first("lastName")
    with transaction.atomic():
        user = account_for(provider, address, given=given, family=family, protocol="saml")
    claims = {str(name): [str(v) for v in values] for name, values in attributes.items()}
    return SignedIn(user, str(pending.get("next") or "/"), claims)


def sign_in_complete(
    *, provider: IdentityProvider | None, base_url: str, pending: dict[str, Any] | None, saml_response: str
) -> SignedIn:
    """Check the provider's answer (the posted SAMLResponse); the user to sign in and where to go then.
    Raises SsoRefused, audited, otherwise."""
    try:
        if provider is None:
            raise SsoRefused(
                "This sign-in was not started in this browser; sign in again.", reason="no_pending"
            )
        return _check(provider, base_url, pending, saml_response)
    except SsoRefused as refused:
        refusal_recorded(provider, refused, protocol="saml")
        raise
