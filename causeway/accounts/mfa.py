"""The second factor: an authenticator app (TOTP, RFC 6238) and single-use recovery codes.

The app's secret is sealed like every other credential (rule 10) and shown once, while it is being
set up. Recovery codes are shown once and kept as keyed digests. A code is accepted for its own
30-second step and the steps on either side (clocks drift), and never twice: a step at or before the
last one accepted is refused, so a code read over a shoulder is worthless once used. Wrong codes are
counted on the device: after `LOCK_AFTER` in a row, app codes are refused for `LOCK_FOR` whatever
they are, from any address; recovery codes still work, so someone guessing cannot lock the owner out.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from causeway.accounts.actors import SystemActor
from causeway.accounts.models import Passkey, RecoveryCode, TotpDevice, User
from causeway.accounts.services import sessions_end_all
from causeway.audit import refusals
from causeway.audit.models import Outcome
from causeway.audit.services import audit_record
from causeway.vault.fields import blind_index

ISSUER = "Causeway"
# Steps on either side of now that a code may belong to: a phone's clock may be up to 30 s off.
DRIFT_STEPS = 1
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
# How long after the right password the code may be entered: then sign in again.
SIGN_IN_PENDING = timedelta(minutes=5)
RECOVERY_CODE_COUNT = 10
# 31 letters and digits with nothing a person confuses (no 0/o, 1/l/i): 10 of them are 49 bits.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_PURPOSE = "accounts.recovery_code"

WRONG_CODE = "Code is wrong, expired or already used."
LOCKED = "Code refused: too many wrong codes; wait 15 minutes or use a recovery code."


@dataclass(frozen=True)
class Enrolment:
    """What the user copies into their app, once: the secret and the otpauth:// URI a QR code carries."""

    secret: str
    uri: str


def _device(user: User, *, confirmed: bool, lock: bool = False) -> TotpDevice | None:
    found = TotpDevice.objects.filter(user=user, confirmed_at__isnull=not confirmed)
    if lock:
        found = found.select_for_update()
    return found.first()


def totp_enrolled(*, user: User) -> bool:
    """Whether the user has a confirmed authenticator app."""
    return TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def mfa_enrolled(*, user: User) -> bool:
    """Whether the user has a second factor, an authenticator app or a passkey (and is asked for it at
    sign-in); either one satisfies a workspace's or the platform's requirement."""
    return totp_enrolled(user=user) or Passkey.objects.filter(user=user).exists()


def recovery_codes_left(*, user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def _normalise_recovery(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _recovery_digest(user: User, code: str) -> str:
    # Bound to the user: the same code drawn twice for two users gives two digests.
    return blind_index(RECOVERY_PURPOSE, f"{user.pk}:{_normalise_recovery(code)}")


def _recovery_codes_issue(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    RecoveryCode.objects.bulk_create(RecoveryCode(user=user, digest=_recovery_digest(user, c)) for c in codes)
    return codes


def _enrolment_of(user: User, device: TotpDevice) -> Enrolment:
    uri = pyotp.TOTP(device.secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return Enrolment(secret=device.secret, uri=uri)


@transaction.atomic
def totp_enrol_begin(*, actor: User) -> Enrolment:
    """Start setting up an authenticator app: a new secret, pending until a code confirms it.

    Starting again replaces a pending secret (one shown earlier is then useless). Refused while a
    confirmed app exists: replacing it takes turning it off first, which asks for a code.
    """
    if _device(actor, confirmed=True) is not None:
        raise ValidationError({"code": "Two-factor authentication is already on; turn it off first."})
    TotpDevice.objects.filter(user=actor).delete()
    device = TotpDevice.objects.create(user=actor, secret=pyotp.random_base32())
    audit_record(actor=actor, action="mfa.enrolment_started", target=actor)
    return _enrolment_of(actor, device)


def totp_enrolment_pending(*, user: User) -> Enrolment | None:
    """The app being set up, to show its QR code again until it is confirmed; None once confirmed."""
    device = _device(user, confirmed=False)
    return None if device is None else _enrolment_of(user, device)


def _matching_step(device: TotpDevice, code: str, now: datetime) -> int | None:
    cleaned = "".join(code.split())
    if not (len(cleaned) == 6 and cleaned.isdigit()):
        return None
    totp = pyotp.TOTP(device.secret)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step > device.last_step and hmac.compare_digest(totp.generate_otp(step), cleaned):
            return step
    return None


def totp_enrol_confirm(*, actor: User, code: str) -> list[str]:
    """Confirm the pending app with a code from it; returns the recovery codes, shown this once."""
    with transaction.atomic():
        device = _device(actor, confirmed=False, lock=True)
        if device is None:
            raise ValidationError({"code": "Code: start setting up an authenticator app first."})
        step = _matching_step(device, code, timezone.now())
        if step is not None:
            device.confirmed_at, device.last_step, device.failures = timezone.now(), step, 0
            device.save(update_fields=["confirmed_at", "last_step", "failures"])
            codes = _recovery_codes_issue(actor)
            audit_record(actor=actor, action="mfa.enabled", target=actor, details={"method": "totp"})
            return codes
        audit_record(
            actor=actor,
            action="mfa.enrolment_failed",
            target=actor,
            outcome=Outcome.FAILURE,
        )
    raise ValidationError({"code": WRONG_CODE})


@dataclass(frozen=True)
class Verdict:
    """The outcome of one second-factor attempt: the method that passed, or the message for the person."""

    method: str | None
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.method is not None


def second_factor_check(*, user: User, code: str, purpose: str) -> Verdict:
    """Check a code from the user's app or one of their recovery codes, and record the outcome.

    Runs in a transaction of its own and commits either way: a wrong code must count towards the
    lock even when the caller then refuses. `purpose` names the act in the audit event (sign-in,
    turning the factor off, ...). The caller records a success in its own event.
    """
    with transaction.atomic():
        device = _device(user, confirmed=True, lock=True)
        if device is None:
            return Verdict(None, "Code: this account has no authenticator app; use a passkey.")
        now = timezone.now()
        if "-" in code or len(_normalise_recovery(code)) == 10:
            used = RecoveryCode.objects.filter(
                user=user, digest=_recovery_digest(user, code), used_at__isnull=True
            ).update(used_at=now)
            if used:
                audit_record(
                    actor=user,
                    action="mfa.recovery_code_used",
                    target=user,
                    details={"purpose": purpose, "left": recovery_codes_left(user=user)},
                )
                return Verdict("recovery_code")
        elif device.locked_until is None or device.locked_until <= now:
            step = _matching_step(device, code, now)
            if step is not None:
                device.last_step, device.failures, device.locked_until = step, 0, None
                device.save(update_fields=["last_step", "failures", "locked_until"])
                return Verdict("totp")
        else:
            refusals.refusal_record(
                refusals.SIGN_INS, action="mfa.locked_out", target=user, details={"purpose": purpose}
            )
            return Verdict(None, LOCKED)
        device.failures += 1
        locks = device.failures >= LOCK_AFTER
        if locks:
            device.failures, device.locked_until = 0, now + LOCK_FOR
        device.save(update_fields=["failures", "locked_until"])
        refusals.refusal_count(refusals.SIGN_INS)
        audit_record(
            actor=user,
            action="mfa.failed",
            target=user,
            outcome=Outcome.FAILURE,
            details={"purpose": purpose, **({"locks": True} if locks else {})},
        )
        return Verdict(None, LOCKED if locks else WRONG_CODE)


def _require_code(user: User, code: str, purpose: str) -> str:
    verdict = second_factor_check(user=user, code=code, purpose=purpose)
    if verdict.method is None:
        raise ValidationError({"code": verdict.message})
    return verdict.method


def recovery_codes_regenerate(*, actor: User, code: str) -> list[str]:
    """New recovery codes for old (all old ones stop working), given a current code."""
    _require_code(actor, code, "recovery_codes")
    with transaction.atomic():
        codes = _recovery_codes_issue(actor)
        audit_record(actor=actor, action="mfa.recovery_codes_regenerated", target=actor)
    return codes


def _workspaces_requiring(user: User) -> list[str]:
    # Through the user's reverse relation: workspaces sit above accounts and are not imported here.
    names = User.objects.filter(pk=user.pk, memberships__workspace__mfa_required=True).values_list(
        "memberships__workspace__name", flat=True
    )
    return sorted(str(name) for name in names)


def second_factor_requirement(user: User) -> str:
    """Who requires the user to keep a second factor, said for a refusal; empty when nobody does."""
    if settings.STAFF_MFA_REQUIRED and user.is_staff:
        return "the platform requires two-factor authentication of its staff"
    requiring = _workspaces_requiring(user)
    return f"workspace {requiring[0]} requires two-factor authentication" if requiring else ""


def mfa_disable(*, actor: User, code: str) -> None:
    """Turn the authenticator app off, given a current code; refused where a workspace requires a
    second factor and the user has no passkey to keep as one."""
    requirement = second_factor_requirement(actor)
    if requirement and not Passkey.objects.filter(user=actor).exists():
        raise ValidationError({"code": f"Code: {requirement}; it stays on."})
    _require_code(actor, code, "disable")
    with transaction.atomic():
        TotpDevice.objects.filter(user=actor).delete()
        RecoveryCode.objects.filter(user=actor).delete()
        audit_record(actor=actor, action="mfa.disabled", target=actor)


@transaction.atomic
def mfa_reset(*, actor: User | SystemActor, user: User) -> int:
    """An operator's reset for someone who lost their app and codes: the factor is removed and every
    session of the user ends (whoever holds one may be the reason). Passkeys are removed too: the
    user sets up their second factors again. Returns the sessions ended."""
    if not (TotpDevice.objects.filter(user=user).exists() or Passkey.objects.filter(user=user).exists()):
        raise ValidationError({"email": f"Email {user.email}: two-factor authentication is not on."})
    TotpDevice.objects.filter(user=user).delete()
    Passkey.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    ended = sessions_end_all(user=user)
    audit_record(actor=actor, action="mfa.reset", target=user, details={"sessions_ended": ended})
    return ended
