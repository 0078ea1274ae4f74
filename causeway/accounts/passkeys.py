"""Passkeys (WebAuthn) as a second factor: added on the two-factor page, used at sign-in and step-up.

The relying party is the configured base URL (`CAUSEWAY_BASE_URL`): its host is the relying party
id and its scheme and host the only origin accepted, whatever Host header a request carries. Each
ceremony's challenge is drawn here, kept in the server-side session under the act it is for and
the user it was drawn for, good for `CHALLENGE_LIFE` and taken out at the first answer, right or
wrong, so that no answer is accepted twice.

An assertion must come from one of the user's own passkeys, carry a valid signature over a fresh
challenge and, when the authenticator keeps a counter, raise it: a counter that does not go up means
a copy of the key is in use, and the assertion is refused and recorded as such. Failed assertions
count against the address's allowance of failed sign-ins, as wrong codes do.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from causeway.accounts import mfa
from causeway.accounts.actors import SystemActor
from causeway.accounts.models import Passkey, User
from causeway.accounts.services import sessions_end_all
from causeway.audit import refusals
from causeway.audit.models import Outcome
from causeway.audit.services import audit_record
from causeway.db import conflict, conflict_named

CHALLENGE_LIFE_SECONDS = 5 * 60
# What a challenge is for: adding a passkey, the second step of signing in, or a step-up.
REGISTER, SIGN_IN, STEP_UP = "register", "sign_in", "step_up"
PURPOSES = (REGISTER, SIGN_IN, STEP_UP)
MAX_PASSKEYS = 10
NAME_MAX = 100
# How long the browser may wait for the person to touch or unlock the authenticator, in ms.
CEREMONY_TIMEOUT_MS = 120_000
# Garbage in the browser's answer surfaces from the parser as any of these, not only as its own errors.
_MALFORMED = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError, IndexError)

REFUSED = "Passkey was not accepted: use one of the passkeys added to this account and try again."
NOT_ADDED = "Passkey was not accepted: the browser's answer was not for this site or has expired; try again."
EXPIRED = "Passkey: the time to use it ran out; try again."
CLONED = "Passkey refused: its counter went back, so a copy of it may be in use. Use another factor."


def relying_party() -> tuple[str, str]:
    """The relying party id (the base URL's host) and the one origin ceremonies may come from."""
    parts = urlsplit(str(settings.BASE_URL))
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def _session_key(purpose: str) -> str:
    return f"causeway_passkey_{purpose}"


def _challenge_issue(session: SessionBase, purpose: str, user: User, challenge: bytes) -> None:
    session[_session_key(purpose)] = {
        "user": str(user.pk),
        "challenge": bytes_to_base64url(challenge),
        "at": time.time(),
    }


def _challenge_take(session: SessionBase, purpose: str, user: User) -> bytes | None:
    """The challenge drawn for this act and user, if still fresh; gone from the session either way."""
    kept = session.pop(_session_key(purpose), None)
    if not isinstance(kept, dict) or kept.get("user") != str(user.pk):
        return None
    at = kept.get("at")
    if not isinstance(at, int | float) or not 0 <= time.time() - at <= CHALLENGE_LIFE_SECONDS:
        return None
    try:
        return base64url_to_bytes(str(kept.get("challenge", "")))
    except ValueError:
        return None


def passkeys_of(*, user: User) -> list[Passkey]:
    return list(Passkey.objects.filter(user=user))


def passkey_of(*, user: User, passkey_id: uuid.UUID) -> Passkey | None:
    """One of the user's passkeys; None for another user's, as for one that does not exist."""
    return Passkey.objects.filter(user=user, pk=passkey_id).first()


def _descriptors(keys: list[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    known = {transport.value for transport in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(key.credential_id),
            transports=[AuthenticatorTransport(t) for t in key.transports if t in known],
        )
        for key in keys
    ]


def registration_options(*, session: SessionBase, user: User) -> dict[str, Any]:
    """What the browser needs to make a passkey for the user (its challenge is kept in the session)."""
    rp_id, _ = relying_party()
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name="Causeway",
        user_id=user.pk.bytes,
        user_name=str(user.email),
        user_display_name=user.full_name or str(user.email),
        timeout=CEREMONY_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(passkeys_of(user=user)),
    )
    _challenge_issue(session, REGISTER, user, options.challenge)
    loaded: dict[str, Any] = json.loads(options_to_json(options))
    return loaded


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationError({"name": "Name: give the passkey a name, such as the device it is on."})
    if len(cleaned) > NAME_MAX or not cleaned.isprintable():
        raise ValidationError({"name": f"Name must be at most {NAME_MAX} printable characters."})
    return cleaned


def passkey_register(*, actor: User, session: SessionBase, credential: str, name: str) -> Passkey:
    """Add the passkey the browser made from `registration_options`; refused (and recorded) when the
    answer is not for this site, this challenge, or is malformed."""
    cleaned = _clean_name(name)
    challenge = _challenge_take(session, REGISTER, actor)
    if challenge is None:
        raise ValidationError({"credential": EXPIRED})
    if Passkey.objects.filter(user=actor).count() >= MAX_PASSKEYS:
        raise conflict("credential", f"Passkey: an account holds at most {MAX_PASSKEYS}; remove one first.")
    rp_id, origin = relying_party()
    try:
        parsed = parse_registration_credential_json(credential)
        verified = verify_registration_response(
            credential=parsed, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin
        )
    except _MALFORMED as error:
        with transaction.atomic():
            audit_record(
                actor=actor,
                action="mfa.passkey_enrolment_failed",
                target=actor,
                outcome=Outcome.FAILURE,
                details={"reason": str(error)[:200]},
            )
        raise ValidationError({"credential": NOT_ADDED}) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    taken = "Passkey is already added to an account."
    with transaction.atomic():
        if Passkey.objects.filter(credential_id=credential_id).exists():
            raise conflict("credential", taken)
        with conflict_named(Passkey, "credential", taken, on=("credential_id",)):
            key = Passkey.objects.create(
                user=actor,
                credential_id=credential_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                transports=[t.value for t in parsed.response.transports or []],
                name=cleaned,
            )
        audit_record(
            actor=actor,
            action="mfa.passkey_enrolled",
            target=actor,
            details={"passkey": str(key.pk), "name": cleaned},
        )
    return key


def authentication_options(*, session: SessionBase, user: User, purpose: str) -> dict[str, Any] | None:
    """What the browser needs to sign with one of the user's passkeys; None when they have none."""
    keys = passkeys_of(user=user)
    if not keys:
        return None
    rp_id, _ = relying_party()
    options = generate_authentication_options(
        rp_id=rp_id,
        timeout=CEREMONY_TIMEOUT_MS,
        allow_credentials=_descriptors(keys),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    _challenge_issue(session, purpose, user, options.challenge)
    loaded: dict[str, Any] = json.loads(options_to_json(options))
    return loaded


def _refused(
    user: User, purpose: str, reason: str, message: str, *, action: str = "mfa.failed"
) -> mfa.Verdict:
    refusals.refusal_count(refusals.SIGN_INS)
    audit_record(
        actor=user,
        action=action,
        target=user,
        outcome=Outcome.FAILURE,
        details={"purpose": purpose, "method": "passkey", "reason": reason},
    )
    return mfa.Verdict(None, message)


def passkey_check(*, user: User, session: SessionBase, credential: str, purpose: str) -> mfa.Verdict:
    """Check the browser's assertion against the challenge drawn for `purpose` and the user's passkeys.

    Commits either way, as `mfa.second_factor_check` does: a refusal counts towards throttling even
    when the caller then refuses. The caller records a success in its own event.
    """
    challenge = _challenge_take(session, purpose, user)
    with transaction.atomic():
        if challenge is None:
            return _refused(user, purpose, "no_challenge", EXPIRED)
        try:
            parsed = parse_authentication_credential_json(credential)
        except _MALFORMED:
            return _refused(user, purpose, "malformed", REFUSED)
        key = (
            Passkey.objects.select_for_update()
            .filter(user=user, credential_id=bytes_to_base64url(parsed.raw_id))
            .first()
        )
        if key is None:
            return _refused(user, purpose, "unknown_credential", REFUSED)
        rp_id, origin = relying_party()
        try:
            # The counter is compared below, once the signature shows the answer is the key's own.
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=rp_id,
                expected_origin=origin,
                credential_public_key=bytes(key.public_key),
                credential_current_sign_count=0,
            )
        except _MALFORMED as error:
            return _refused(user, purpose, str(error)[:200], REFUSED)
        counted = verified.new_sign_count > 0 or key.sign_count > 0
        if counted and verified.new_sign_count <= key.sign_count:
            return _refused(user, purpose, "sign_count", CLONED, action="mfa.passkey_cloned")
        key.sign_count, key.last_used_at = verified.new_sign_count, timezone.now()
        key.save(update_fields=["sign_count", "last_used_at"])
        audit_record(
            actor=user,
            action="mfa.passkey_used",
            target=user,
            details={"purpose": purpose, "passkey": str(key.pk), "name": key.name},
        )
    return mfa.Verdict("passkey")


@transaction.atomic
def passkey_rename(*, actor: User, passkey: Passkey, name: str) -> Passkey:
    """Give one of the actor's passkeys another name."""
    cleaned = _clean_name(name)
    if cleaned == passkey.name:
        return passkey
    before, passkey.name = passkey.name, cleaned
    passkey.save(update_fields=["name"])
    audit_record(
        actor=actor,
        action="mfa.passkey_renamed",
        target=actor,
        details={"passkey": str(passkey.pk), "from": before, "to": cleaned},
    )
    return passkey


@transaction.atomic
def passkey_remove(*, actor: User, passkey: Passkey) -> None:
    """Remove one of the actor's passkeys; refused when it is their last second factor and a
    workspace or the platform requires one."""
    locked = Passkey.objects.select_for_update().filter(pk=passkey.pk, user=actor).first()
    if locked is None:
        raise ValidationError({"passkey": "Passkey is not one of yours."})
    others = Passkey.objects.filter(user=actor).exclude(pk=locked.pk).exists()
    requirement = mfa.second_factor_requirement(actor)
    if requirement and not others and not mfa.totp_enrolled(user=actor):
        raise conflict("passkey", f"Passkey: {requirement}; add another second factor before removing it.")
    locked.delete()
    audit_record(
        actor=actor,
        action="mfa.passkey_removed",
        target=actor,
        details={"passkey": str(passkey.pk), "name": locked.name},
    )


@transaction.atomic
def passkey_reset(*, actor: SystemActor, user: User, passkey: Passkey) -> int:
    """An operator's removal of a user's passkey (a lost or stolen device): every session of the user
    ends too, as at any reset. Returns the sessions ended."""
    deleted, _ = Passkey.objects.filter(pk=passkey.pk, user=user).delete()
    if not deleted:
        raise ValidationError({"passkey": f"Passkey is not one of {user.email}'s."})
    ended = sessions_end_all(user=user)
    audit_record(
        actor=actor,
        action="mfa.passkey_removed",
        target=user,
        details={"passkey": str(passkey.pk), "name": passkey.name, "sessions_ended": ended},
    )
    return ended
