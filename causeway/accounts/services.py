"""Changes to users, passwords, sessions and personal API tokens; each is audited in its transaction."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from causeway.accounts.models import ApiToken, User, UserSession, UserType
from causeway.accounts.validation import clean_password, clean_profile
from causeway.audit.models import Outcome
from causeway.audit.services import ANONYMOUS, Actor, audit_record

TOKEN_PREFIX = "cw"  # noqa: S105
TOKEN_MAX_DAYS = 365


def _digest(secret: str) -> str:
    # Tokens carry 256 random bits, so a fast unsalted digest cannot be brute-forced.
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def user_create(
    *,
    actor: User | Actor | None,
    email: str,
    first_name: str,
    last_name: str,
    password: str,
    user_type: str = UserType.STANDARD,
) -> User:
    profile = clean_profile(first_name=first_name, last_name=last_name, email=email)
    if User.objects.filter(email__iexact=profile["email"]).exists():
        raise ValidationError({"email": "a user with this email address already exists"})
    if user_type not in UserType.values:
        raise ValidationError({"user_type": f"must be one of {', '.join(UserType.values)}"})
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
def profile_update(*, actor: User, user: User, first_name: str, last_name: str, email: str) -> User:
    profile = clean_profile(first_name=first_name, last_name=last_name, email=email)
    if User.objects.filter(email__iexact=profile["email"]).exclude(pk=user.pk).exists():
        raise ValidationError({"email": "a user with this email address already exists"})
    changed = sorted(name for name, value in profile.items() if getattr(user, name) != value)
    for name, value in profile.items():
        setattr(user, name, value)
    user.save(update_fields=["first_name", "last_name", "email"])
    if changed:
        audit_record(actor=actor, action="user.profile_changed", target=user, details={"fields": changed})
    return user


def sessions_end_all(*, user: User) -> int:
    """Delete every server-side session of the user; a replayed cookie then finds nothing."""
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


@transaction.atomic
def password_change(*, actor: User, user: User, current_password: str, new_password: str) -> None:
    if not user.check_password(current_password):
        raise ValidationError({"current_password": "is not your current password"})
    clean_password(new_password, user=user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    ended = sessions_end_all(user=user)
    audit_record(actor=actor, action="user.password_changed", target=user, details={"sessions_ended": ended})


@transaction.atomic
def token_create(*, actor: User, name: str, expires_in_days: int) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": "must be between 1 and 100 characters"})
    if not 1 <= expires_in_days <= TOKEN_MAX_DAYS:
        raise ValidationError({"expires_in_days": f"must be between 1 and {TOKEN_MAX_DAYS}"})
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=actor,
        name=name,
        prefix=prefix,
        digest=_digest(secret),
        expires_at=timezone.now() + timedelta(days=expires_in_days),
    )
    audit_record(
        actor=actor,
        action="api_token.created",
        target=token,
        details={"expires_at": token.expires_at.isoformat()},
    )
    return token, secret


@transaction.atomic
def token_revoke(*, actor: User, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="api_token.revoked", target=token)
    return token


def token_authenticate(secret: str) -> ApiToken | None:
    """The usable token whose secret this is, with its user loaded; None for anything else."""
    if not secret.startswith(f"{TOKEN_PREFIX}_") or len(secret) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=_digest(secret), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def login_succeeded(*, user: User) -> None:
    audit_record(actor=user, action="auth.login", target=user)


def login_failed(*, email: str, locked_out: bool = False) -> None:
    audit_record(
        actor=ANONYMOUS,
        action="auth.login_locked_out" if locked_out else "auth.login_failed",
        target=("user", "", email[:320]),
        outcome=Outcome.DENIED if locked_out else Outcome.FAILURE,
    )


def logout_recorded(*, user: User) -> None:
    audit_record(actor=user, action="auth.logout", target=user)
