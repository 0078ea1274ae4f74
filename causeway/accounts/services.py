"""Changes to users, passwords, sessions and personal API tokens; each is audited in its transaction."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from causeway.accounts.actors import SystemActor
from causeway.accounts.models import ApiToken, User, UserSession, UserType, email_index
from causeway.accounts.validation import clean_password, clean_profile
from causeway.audit import refusals
from causeway.audit.models import Outcome
from causeway.audit.services import ANONYMOUS, Actor, audit_record
from causeway.vault.masking import register_value

TOKEN_PREFIX = "cw"  # noqa: S105
TOKEN_MAX_DAYS = 365
TOKEN_NAME_MAX_LENGTH = 100
# Refreshing a token's last-used stamp at most once a minute keeps API reads from turning into writes.
TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(secret: str) -> str:
    # Tokens carry 256 random bits, so a fast unsalted digest cannot be brute-forced.
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def user_create(
    *,
    actor: User | SystemActor | Actor | None,
    email: str,
    first_name: str,
    last_name: str,
    password: str,
    user_type: str = UserType.STANDARD,
) -> User:
    profile = clean_profile(first_name=first_name, last_name=last_name, email=email)
    if User.objects.with_email(profile["email"]).exists():
        raise ValidationError({"email": "Email is already used by another account."})
    if user_type not in UserType.values:
        raise ValidationError({"user_type": f"User type must be one of {', '.join(UserType.values)}."})
    candidate = User(user_type=user_type, **profile)
    clean_password(password, user=candidate)
    user = User.objects.create_user(password=password, user_type=user_type, **profile)
    audit_record(
        actor=actor,
        action="user.created",
        target=user,
        details={"user_type": user_type},
    )
    return user


@transaction.atomic
def profile_update(
    *,
    actor: User,
    user: User,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
) -> User:
    """Change the given fields (None leaves one as it is); every wrong field is reported at once."""
    profile = clean_profile(
        first_name=user.first_name if first_name is None else first_name,
        last_name=user.last_name if last_name is None else last_name,
        email=user.email if email is None else email,
    )
    if User.objects.with_email(profile["email"]).exclude(pk=user.pk).exists():
        raise ValidationError({"email": "Email is already used by another account."})
    changed = sorted(name for name, value in profile.items() if getattr(user, name) != value)
    if not changed:
        return user
    for name in changed:
        setattr(user, name, profile[name])
    user.save(update_fields=changed)
    audit_record(actor=actor, action="user.profile_changed", target=user, details={"fields": changed})
    return user


def sessions_end_all(*, user: User) -> int:
    """Delete every server-side session of the user; a replayed cookie then finds nothing.

    Called inside the transaction of the change that requires it (password change, disabling).
    """
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    ended, _ = Session.objects.filter(session_key__in=keys).delete()
    # Only the rows read above: a login racing this call keeps its index row, so a later call finds it.
    UserSession.objects.filter(session_key__in=keys).delete()
    return ended


@transaction.atomic
def password_change(*, actor: User, user: User, current_password: str, new_password: str) -> int:
    """Set a new password and end every session of the user, the caller's own included.

    Returns how many sessions were ended. API tokens are separate credentials and keep working.
    """
    if not current_password or not user.check_password(current_password):
        raise ValidationError({"current_password": "Current password is not your current password."})
    clean_password(new_password, user=user, field="new_password")
    if new_password == current_password:
        raise ValidationError({"new_password": "New password must differ from the current one."})
    user.set_password(new_password)
    user.save(update_fields=["password"])
    ended = sessions_end_all(user=user)
    audit_record(actor=actor, action="user.password_changed", target=user, details={"sessions_ended": ended})
    return ended


@transaction.atomic
def user_disable(*, actor: User | SystemActor | None, user: User) -> int:
    """Stop the user from signing in and end all their sessions; returns how many were ended.

    Tokens are not revoked (that would be a second, silent change): `token_authenticate`
    refuses every token of an inactive user, and enabling the user again brings them back.
    """
    if not user.is_active:
        raise ValidationError({"email": f"Email {user.email} belongs to a user who is already disabled."})
    user.is_active = False
    user.save(update_fields=["is_active"])
    ended = sessions_end_all(user=user)
    audit_record(actor=actor, action="user.disabled", target=user, details={"sessions_ended": ended})
    return ended


@transaction.atomic
def user_enable(*, actor: User | SystemActor | None, user: User) -> User:
    if user.is_active:
        raise ValidationError({"email": f"Email {user.email} belongs to a user who is already enabled."})
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_record(actor=actor, action="user.enabled", target=user)
    return user


@transaction.atomic
def token_create(
    *, actor: User, name: str, expires_in_days: int, not_after: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never shown again.

    `not_after` caps the expiry: a token made with another token may not outlive it, so a
    leaked short-lived token cannot be turned into a long-lived one.
    """
    name = name.strip()
    if not name or len(name) > TOKEN_NAME_MAX_LENGTH:
        raise ValidationError(
            {"name": f"Token name must be between 1 and {TOKEN_NAME_MAX_LENGTH} characters."}
        )
    if not 1 <= expires_in_days <= TOKEN_MAX_DAYS:
        raise ValidationError({"expires_in_days": f"Expiry must be between 1 and {TOKEN_MAX_DAYS} days."})
    expires_at = timezone.now() + timedelta(days=expires_in_days)
    if not_after is not None and expires_at > not_after:
        raise ValidationError(
            {
                "expires_in_days": "Expiry may not be later than that of the token making this request "
                f"({not_after.isoformat(timespec='seconds')})."
            }
        )
    prefix = secrets.token_hex(6)
    secret = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=actor,
        name=name,
        prefix=prefix,
        digest=_digest(secret),
        expires_at=expires_at,
    )
    audit_record(
        actor=actor,
        action="api_token.created",
        target=token,
        details={"expires_at": token.expires_at.isoformat()},
    )
    # The secret is kept only as a digest, so this is the one moment it can be known for masking.
    register_value(f"api-token:{prefix}", secret)
    return token, secret


@transaction.atomic
def token_revoke(*, actor: User, token: ApiToken) -> ApiToken:
    """Revoke one of the actor's own tokens; revoking a revoked token changes and records nothing."""
    if token.user_id != actor.pk:
        # Callers fetch through `selectors.token_get_own`; this guards against one that does not.
        raise ApiToken.DoesNotExist
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="api_token.revoked", target=token)
    return token


def token_authenticate(secret: str) -> ApiToken | None:
    """The usable token whose secret this is, with its active user loaded; None for anything else."""
    if not secret.startswith(f"{TOKEN_PREFIX}_") or len(secret) > 200:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=_digest(secret), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > TOKEN_LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def login_throttle_key(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """What sign-in throttling counts failures by: the blind index of the typed email, not the email.

    For axes' AXES_USERNAME_CALLABLE: axes stores this "username" in its tables, so with it they hold
    no address (rule 10). Normalised as every email lookup is, so "A@x" and "a@x" share one allowance.
    """
    typed = (credentials or {}).get("username")
    if typed is None:
        typed = request.POST.get("username", "")
    return email_index(str(typed)) if str(typed).strip() else ""


def login_succeeded(*, user: User) -> None:
    audit_record(actor=user, action="auth.login", target=user)


def login_failed(*, email: str, locked_out: bool = False, locks_out: bool = False) -> None:
    """One failed sign-in: `locks_out` when it is the failure that locks the account and address out,
    `locked_out` when throttling refused the attempt without checking the password.

    Both count against the address's allowance of failed sign-ins (`refusals.SIGN_INS`). A failure is
    one audit event; attempts refused by the lockout cost nothing to make, so they are aggregated per
    address and interval like every other refused call.
    """
    target = ("user", "", email[:320])
    if locked_out:
        refusals.refusal_record(refusals.SIGN_INS, action="auth.login_locked_out", target=target)
        return
    refusals.refusal_count(refusals.SIGN_INS)
    audit_record(
        actor=ANONYMOUS,
        action="auth.login_failed",
        target=target,
        outcome=Outcome.FAILURE,
        details={"locks_out": True} if locks_out else None,
    )


def login_throttle_check() -> None:
    """Throttled (with the seconds to wait) once this address has failed to sign in too often lately,
    whichever accounts it named; checked before the password is."""
    refusals.throttle_check(refusals.SIGN_INS)


def logout_recorded(*, user: User) -> None:
    audit_record(actor=user, action="auth.logout", target=user)
