"""Signing in through an OpenID Connect provider: the authorization code flow with PKCE, `state` and
`nonce`, and the ID token's signature (from the provider's JWKS), issuer, audience and lifetime checked.

The provider's endpoints come from its discovery document (`/.well-known/openid-configuration`); it and
the provider's signing keys (JWKS) are kept for at most DOCUMENT_SECONDS, and keys that do not verify a
token are read again once, so that a provider's key rotation needs nothing from an operator. The issuer
and every endpoint must be https (http on this machine's loopback address only where the operator's
CAUSEWAY_SSO_LOOPBACK_HTTP says so, for development and tests). What a sign-in
carries between leaving for the provider and coming back (`Pending`: state, nonce, PKCE verifier) is
kept in the browser's server-side session, never in a cookie or the address. A refusal says what went
wrong in words a person can act on and is audited (`auth.sso_failed`); no token ever reaches a log, a
page or the audit log. The person's email must be in one of the domains the provider is trusted for;
an address without an account gets one at its first sign-in (with no password), one with an account
signs in to it. The second factor and a workspace's "MFA required" apply as after a password.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.client import OAuth2Client
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from causeway.accounts.models import IdentityProvider, User, UserType
from causeway.accounts.validation import clean_profile
from causeway.audit import refusals
from causeway.audit.models import Outcome
from causeway.audit.services import ANONYMOUS, audit_record
from causeway.db import clashing_fields

HTTP_TIMEOUT = 10.0
# How far the provider's clock may be from ours when its token's times are checked.
CLOCK_SKEW_SECONDS = 60
# How long a person may take at the provider's sign-in page before coming back.
PENDING_SECONDS = 600
# Asymmetric signatures only: "none" and HMAC (keyed with the client secret) are refused.
# How long a provider's discovery document and signing keys are kept before they are read again.
DOCUMENT_SECONDS = 300
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class SsoRefused(Exception):
    """A sign-in through a provider that did not succeed; the message is safe to show to the person."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SignedIn:
    """A sign-in the provider vouched for: who, where they go next, and what the provider said of them
    (the ID token's claims, or the SAML assertion's attributes), which group mappings read."""

    user: User
    next_url: str
    claims: dict[str, Any]


@dataclass(frozen=True)
class Pending:
    """What a sign-in keeps while the person is at the provider: checked when they come back."""

    provider: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    next_url: str
    started: float

    def as_session(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_session(cls, raw: object) -> Pending | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(**{name: raw[name] for name in cls.__dataclass_fields__})
        except (KeyError, TypeError):
            return None


# An issuer: https, or http on this machine's own loopback address (where no one else can listen); a
# host, an optional port and path, no query or fragment. The API states this same pattern; http is
# taken only where CAUSEWAY_SSO_LOOPBACK_HTTP allows it (`loopback_http`).
ISSUER_PATTERN = (
    r"^(https://[A-Za-z0-9.-]+|http://(localhost|127\.0\.0\.1|\[::1\]))(:[0-9]{1,5})?"
    r"(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?$"
)
_LOOPBACK_HTTP = re.compile(r"^http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?(/|$)")
ISSUER_REFUSED = (
    "Issuer must be an https URL with no query or fragment (http only on localhost, and only where "
    "CAUSEWAY_SSO_LOOPBACK_HTTP is on)."
)


def loopback_http() -> bool:
    """Whether a provider on this machine's loopback address may be spoken to over plain http: for
    development and tests only (CAUSEWAY_SSO_LOOPBACK_HTTP), never in production."""
    return bool(getattr(settings, "SSO_LOOPBACK_HTTP", False))


def secure_url(url: str) -> bool:
    """An https URL, or an http one on the loopback address where `loopback_http` allows it."""
    return url.startswith("https://") or (loopback_http() and bool(_LOOPBACK_HTTP.match(url)))


def issuer_url_check(issuer: str) -> str:
    """An issuer as the service stores it (see ISSUER_PATTERN), without a trailing slash."""
    cleaned = issuer.strip()
    if not re.fullmatch(ISSUER_PATTERN, cleaned) or not secure_url(cleaned):
        raise ValidationError({"issuer": ISSUER_REFUSED})
    return cleaned.rstrip("/")


def enabled_providers() -> list[IdentityProvider]:
    """The providers offered on the login page."""
    return list(IdentityProvider.objects.filter(enabled=True).order_by("name"))


def provider_for_sign_in(slug: str, protocol: str = "oidc") -> IdentityProvider | None:
    return IdentityProvider.objects.filter(slug=slug, protocol=protocol, enabled=True).first()


def _get_json(url: str, what: str, *, fresh: bool = False) -> dict[str, Any]:
    """A provider's JSON document, kept for DOCUMENT_SECONDS (`fresh`: read again now)."""
    if not secure_url(url):
        raise SsoRefused(
            f"The identity provider's {what} is not at an https address.", reason="provider_not_https"
        )
    key = f"causeway.sso.document:{url}"
    kept = None if fresh else cache.get(key)
    if isinstance(kept, dict):
        return kept
    try:
        answer = httpx.get(url, timeout=HTTP_TIMEOUT, follow_redirects=False)
        answer.raise_for_status()
        found = answer.json()
    except (httpx.HTTPError, ValueError):
        raise SsoRefused(
            f"The identity provider's {what} could not be read; try again later.",
            reason="provider_unreachable",
        ) from None
    if not isinstance(found, dict):
        raise SsoRefused(f"The identity provider's {what} is not a JSON object.", reason="provider_invalid")
    cache.set(key, found, DOCUMENT_SECONDS)
    return found


def discover(provider: IdentityProvider) -> dict[str, Any]:
    """The provider's discovery document, whose issuer must be the one configured (OpenID Connect
    Discovery section 4.3: otherwise another party's document could stand in for it) and whose
    endpoints must be https."""
    document = _get_json(f"{provider.issuer}/.well-known/openid-configuration", "discovery document")
    if document.get("issuer") != provider.issuer:
        raise SsoRefused(
            "The identity provider's discovery document names another issuer.", reason="issuer_mismatch"
        )
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(key), str):
            raise SsoRefused(
                f"The identity provider's discovery document has no {key}.", reason="provider_invalid"
            )
        if not secure_url(document[key]):
            raise SsoRefused(
                f"The identity provider's {key} is not an https address.", reason="provider_not_https"
            )
    return document


class _Session:
    """What Authlib's client sends the code exchange with: httpx, with a time-out, no redirects."""

    def post(self, url: str, data: Any = None, headers: Any = None, auth: Any = None, **_: Any) -> Any:
        body = urlencode(list((data or {}).items()))
        sent = dict(headers or {})
        if auth is not None:
            url, sent, body = auth.prepare("POST", url, sent, body)
        return httpx.post(url, headers=sent, content=body, timeout=HTTP_TIMEOUT, follow_redirects=False)


def _client(provider: IdentityProvider, redirect_uri: str) -> OAuth2Client:
    scopes = ["openid", *(s for s in provider.scopes if s != "openid")]
    return OAuth2Client(
        _Session(),
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scope=" ".join(scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106  # a method's name, not a password
    )


def sign_in_begin(*, provider: IdentityProvider, redirect_uri: str, next_url: str) -> tuple[str, Pending]:
    """Where to send the browser to sign in at the provider, and what to keep until it comes back."""
    document = discover(provider)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    url, _ = _client(provider, redirect_uri).create_authorization_url(
        document["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
    )
    pending = Pending(provider.slug, state, nonce, verifier, redirect_uri, next_url, time.time())
    return str(url), pending


def _verified(document: dict[str, Any], id_token: str, *, fresh: bool) -> Any:
    """The ID token, its signature checked against the provider's published keys."""
    keys = _get_json(str(document["jwks_uri"]), "signing keys (JWKS)", fresh=fresh)
    try:
        key_set = KeySet.import_key_set(keys)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError):
        raise SsoRefused(
            "The identity provider's signing keys could not be read.", reason="jwks_invalid"
        ) from None
    try:
        return jwt.decode(id_token, key_set, algorithms=list(ALGORITHMS))
    except JoseError as error:
        raise SsoRefused(
            "The identity provider's answer is not signed by its keys (unsigned, or its signature is wrong).",
            reason=f"signature:{error.error}",
        ) from None
    except (ValueError, TypeError):
        raise SsoRefused("The identity provider's ID token is malformed.", reason="token_malformed") from None


def _id_token_claims(
    provider: IdentityProvider, document: dict[str, Any], id_token: str, nonce: str
) -> dict[str, Any]:
    try:
        token = _verified(document, id_token, fresh=False)
    except SsoRefused as refused:
        if not refused.reason.startswith("signature:"):
            raise
        # Keys kept from an earlier sign-in may predate the provider's rotation: read them again, once.
        token = _verified(document, id_token, fresh=True)
    claims = dict(token.claims)
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if provider.client_id not in audiences:
        raise SsoRefused(
            "The identity provider's ID token is meant for another application.", reason="audience"
        )
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise SsoRefused("The identity provider's ID token is meant for another application.", reason="azp")
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_SKEW_SECONDS,
        iss={"essential": True, "value": provider.issuer},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as error:
        reasons = {
            "expired_token": ("expired", "The identity provider's sign-in has expired; sign in again.")
        }
        reason, message = reasons.get(
            error.error,
            (f"claims:{error.error}", "The identity provider's ID token was refused: it is not valid."),
        )
        if "iss" in str(error.description or ""):
            reason, message = "issuer", "The identity provider's ID token names another issuer."
        raise SsoRefused(message, reason=reason) from None
    if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(claims["nonce"], nonce):
        raise SsoRefused(
            "The sign-in does not match the one this browser started; sign in again.", reason="nonce"
        )
    return claims


def trusted_email(provider: IdentityProvider, email: object, *, verified: bool) -> str:
    """The address the provider vouches for, normalised; refused unless it is at a trusted domain."""
    if not isinstance(email, str) or "@" not in email:
        raise SsoRefused(
            f"The identity provider gave no email address (claim {provider.email_claim!r}).",
            reason="no_email",
        )
    if not verified:
        raise SsoRefused(
            "The identity provider has not verified this email address.", reason="email_unverified"
        )
    domain = email.rsplit("@", 1)[1].strip().lower()
    if domain not in provider.trusted_domains:
        raise SsoRefused(
            f"{provider.name} is not trusted for addresses at {domain}: sign in another way.",
            reason="domain_not_trusted",
        )
    return email.strip().lower()


def _letters(value: object) -> str:
    return "".join(ch for ch in value if ch.isalpha()) if isinstance(value, str) else ""


def account_for(
    provider: IdentityProvider, email: str, *, given: object, family: object, protocol: str
) -> User:
    """The account of a trusted address: the existing one, or one made now, with no password. Two
    first sign-ins of the same person at once both reach the one account the first of them made."""
    found = User.objects.with_email(email).first()
    if found is None:
        try:
            profile = clean_profile(first_name=_letters(given), last_name=_letters(family), email=email)
        except ValidationError:
            raise SsoRefused(
                "The identity provider gave no usable first and last name for a new account.",
                reason="no_name",
            ) from None
        try:
            with transaction.atomic():
                made = User.objects.create_user(password=None, user_type=UserType.STANDARD, **profile)
                audit_record(
                    actor=ANONYMOUS,
                    action="user.created",
                    target=made,
                    details={"user_type": UserType.STANDARD, "via": protocol, "provider": provider.slug},
                )
            return made
        except IntegrityError as error:
            if not (clashing_fields(User, error) or set()) & {"email", "email_index"}:
                raise
            found = User.objects.with_email(email).get()
    if not found.is_active:
        raise SsoRefused("This account is disabled.", reason="disabled")
    return found


def refusal_recorded(provider: IdentityProvider | None, refused: SsoRefused, *, protocol: str) -> None:
    """Audit a refused sign-in and count it against the address's allowance of failed sign-ins."""
    with transaction.atomic():
        refusals.refusal_count(refusals.SIGN_INS)
        audit_record(
            actor=ANONYMOUS,
            action="auth.sso_failed",
            target=provider,
            outcome=Outcome.FAILURE,
            details={"protocol": protocol, "reason": refused.reason[:100]},
        )


def sign_in_complete(
    *, pending: Pending | None, provider: IdentityProvider | None, query: dict[str, str]
) -> SignedIn:
    """Check what the provider sent back (the callback's query) against what this browser started; on
    success, the user to sign in (made now if new) and where to go then. Raises SsoRefused, audited,
    otherwise."""
    try:
        return _complete(pending, provider, query)
    except SsoRefused as refused:
        refusal_recorded(provider, refused, protocol="oidc")
        raise


def _complete(pending: Pending | None, provider: IdentityProvider | None, query: dict[str, str]) -> SignedIn:
    if (
        pending is None
        or provider is None
        or pending.provider != provider.slug
        or provider.protocol != "oidc"
    ):
        raise SsoRefused("This sign-in was not started in this browser; sign in again.", reason="no_pending")
    if not secrets.compare_digest(query.get("state", ""), pending.state):
        raise SsoRefused(
            "The sign-in does not match the one this browser started; sign in again.", reason="state"
        )
    if time.time() - pending.started > PENDING_SECONDS:
        raise SsoRefused("The sign-in took too long; sign in again.", reason="pending_expired")
    if query.get("error"):
        raise SsoRefused(
            "The identity provider did not sign you in.", reason=f"provider:{query['error'][:40]}"
        )
    document = discover(provider)
    try:
        token = _client(provider, pending.redirect_uri).fetch_token(
            document["token_endpoint"],
            grant_type="authorization_code",
            code=query.get("code", ""),
            code_verifier=pending.code_verifier,
        )
    except (OAuth2Error, httpx.HTTPError, ValueError):
        raise SsoRefused("The identity provider refused the sign-in code.", reason="token_refused") from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SsoRefused("The identity provider sent no ID token.", reason="no_id_token")
    claims = _id_token_claims(provider, document, id_token, pending.nonce)
    email = trusted_email(
        provider, claims.get(provider.email_claim), verified=claims.get("email_verified") is True
    )
    with transaction.atomic():
        user = account_for(
            provider, email, given=claims.get("given_name"), family=claims.get("family_name"), protocol="oidc"
        )
    return SignedIn(user, pending.next_url, claims)
