"""Changes to users, passwords, sessions and personal API tokens; each is audited in its transaction."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from causeway.accounts.actors import SystemActor
from causeway.accounts.models import User, UserSession, UserType, email_index
from causeway.accounts.validation import clean_password, clean_profile
from causeway.audit import refusals
from causeway.audit.models import Outcome
from causeway.audit.services import ANONYMOUS, Actor, audit_record
from causeway.db import conflict, conflict_named

# Refreshing a token's last-used stamp at most once a minute keeps API reads from turning into writes.
TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)


_EMAIL_TAKEN = "Email is already used by another account."


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
        raise conflict("email", _EMAIL_TAKEN)
    if user_type not in UserType.values:
        raise ValidationError({"user_type": f"User type must be one of {', '.join(UserType.values)}."})
    candidate = User(user_type=user_type, **profile)
    clean_password(password, user=candidate)
    with conflict_named(User, "email", _EMAIL_TAKEN, on=("email_index",)):
        user = User.objects.create_user(password=password, user_type=user_type, **profile)
    audit_record(
        actor=actor,
        action="user.created",
        target=user,
        details={"user_type": user_type},
    )
    return user


def email_changes(*, user: User, email: str | None) -> bool:
    """Whether `email`, as given, would change the account's address: an authentication attribute (the
    password reset goes to it), so changing it asks for a recent proof of identity (ASVS 7.5.1)."""
    return email is not None and email.strip().lower() != user.email.lower()


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
        raise conflict("email", _EMAIL_TAKEN)
    changed = sorted(name for name, value in profile.items() if getattr(user, name) != value)
    if not changed:
        return user
    for name in changed:
        setattr(user, name, profile[name])
    with conflict_named(User, "email", _EMAIL_TAKEN, on=("email_index",)):
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
    return password_set(actor=actor, user=user, new_password=new_password, action="user.password_changed")


def password_set(*, actor: User, user: User, new_password: str, action: str) -> int:
    """Store a password already checked, end every session of the user and audit `action`; returns how
    many sessions were ended. Called inside the transaction of a change or a reset."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    ended = sessions_end_all(user=user)
    audit_record(actor=actor, action=action, target=user, details={"sessions_ended": ended})
    return ended


@transaction.atomic
def user_disable(*, actor: User | SystemActor | None, user: User) -> int:
    """Stop the user from signing in and end all their sessions; returns how many were ended.

    Tokens are not revoked (that would be a second, silent change): `workspaces.tokens.token_verify`
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


def login_throttle_key(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """What sign-in throttling counts failures by: the blind index of the typed email, not the email.

    For axes' AXES_USERNAME_CALLABLE: axes stores this "username" in its tables, so with it they hold
    no address (rule 10). Normalised as every email lookup is, so "A@x" and "a@x" share one allowance.
    """
    typed = (credentials or {}).get("username")
    if typed is None:
        typed = request.POST.get("username", "")
    return email_index(str(typed)) if str(typed).strip() else ""


def login_succeeded(*, user: User, second_factor: str | None = None, via: str | None = None) -> None:
    """One sign-in; `via` names the identity provider it went through (none: the password)."""
    details = {"second_factor": second_factor} if second_factor else {}
    if via:
        details["via"] = via
    audit_record(actor=user, action="auth.login", target=user, details=details or None)


# When the session's user last proved who they are (password, second factor): kept server-side in
# the session, so a replayed cookie carries no fresher proof than the session it belongs to.
AUTHENTICATED_AT = "causeway_authenticated_at"


# How recent that proof must be for a sensitive act (key, secret, role, member, connector, settings
# changes and new API tokens): a session stolen after it was signed in cannot make them.
STEP_UP_WINDOW = timedelta(minutes=10)


def reauthenticated(session: SessionBase) -> None:
    session[AUTHENTICATED_AT] = time.time()


def recently_authenticated(session: SessionBase) -> bool:
    at = session.get(AUTHENTICATED_AT)
    return isinstance(at, int | float) and 0 <= time.time() - at <= STEP_UP_WINDOW.total_seconds()


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
