"""Resetting a forgotten password by email: a link that works once, for an hour.

The link carries Django's reset token, an HMAC over the account's password hash, last sign-in and the
time it was made: setting the new password (or signing in) changes what it was made over, so it works
once, and it is refused after `settings.PASSWORD_RESET_TIMEOUT`. Asking for a reset answers the same
whether the address has an account or not, and the email is queued for a worker once the answer's
transaction commits (`accounts.tasks.send_password_reset`): the answer never waits for the mail server,
so neither the page nor its timing tells which addresses exist.
"""

from __future__ import annotations

import logging
import re
import uuid
from functools import partial

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from causeway import mail
from causeway.accounts.models import User
from causeway.accounts.services import login_throttle_check, password_set
from causeway.accounts.validation import clean_password
from causeway.audit import refusals
from causeway.audit.models import Outcome
from causeway.audit.services import ANONYMOUS, audit_record

logger = logging.getLogger(__name__)

# A link's token: the account's id (32 hex digits), then Django's token ("<time>-<hmac>").
_TOKEN = re.compile(r"^(?P<user>[0-9a-f]{32})-(?P<token>[0-9a-z]{1,13}-[0-9a-f]{20,64})$")


def _reset_link(user: User) -> str:
    token = f"{user.pk.hex}-{default_token_generator.make_token(user)}"
    return settings.BASE_URL.rstrip("/") + reverse("web:password_reset_confirm", kwargs={"token": token})


def password_reset_request(*, email: str) -> None:
    """Email a reset link if an active account has this address; do nothing visible otherwise.

    Each request counts against the address's allowance of failed sign-ins, so nobody can flood an
    inbox or probe addresses faster than they could guess passwords. Raises `Throttled` past it.
    """
    login_throttle_check()
    with transaction.atomic():
        refusals.refusal_count(refusals.SIGN_INS)
        user = User.objects.with_email(email).filter(is_active=True).first()
        # Recorded either way, as failed sign-ins are: the same work whether the account exists.
        audit_record(
            actor=ANONYMOUS,
            action="auth.password_reset_requested",
            target=user if user is not None else ("user", "", email[:320]),
            outcome=Outcome.SUCCESS if user is not None else Outcome.FAILURE,
        )
        if user is not None:
            # Only the account's id goes through the broker; the worker makes the link.
            transaction.on_commit(partial(_queue_reset_mail, str(user.pk)))


def _queue_reset_mail(user_id: str) -> None:
    from causeway.accounts.tasks import send_password_reset

    try:
        send_password_reset.delay(user_id)
    except Exception as exc:  # a broker that is down: the person asks again
        logger.warning("password reset email: the broker did not take it (%s)", type(exc).__name__)


def password_reset_mail(*, user_id: str) -> bool:
    """Email a reset link to the account, if it is still active (run by a worker); whether it went."""
    user = User.objects.filter(pk=uuid.UUID(user_id), is_active=True).first()
    if user is None:
        return False
    minutes = int(settings.PASSWORD_RESET_TIMEOUT // 60)
    return mail.deliver(
        to=user.email,
        subject="Reset your Causeway password",
        body=(
            f"Someone asked to reset the password of your Causeway account {user.email}.\n\n"
            f"To choose a new password, open this link. It works once, within {minutes} minutes:\n\n"
            f"{_reset_link(user)}\n\n"
            "If you did not ask, ignore this message: your password stays as it is.\n"
        ),
    )


def password_reset_user(*, token: str) -> User | None:
    """The account a reset link is for, while the link is good (unused, within the hour); else None."""
    found = _TOKEN.match(token)
    if found is None:
        return None
    user = User.objects.filter(pk=uuid.UUID(found["user"]), is_active=True).first()
    if user is None or not default_token_generator.check_token(user, found["token"]):
        return None
    return user


@transaction.atomic
def password_reset_complete(*, token: str, new_password: str) -> User:
    """Set the new password through a good link; the link then stops working, and every session of
    the account ends (whoever else holds one may be why the password was forgotten)."""
    user = password_reset_user(token=token)
    if user is None:
        raise ValidationError(
            {"token": "This reset link has expired or was already used; ask for a new one."}
        )
    clean_password(new_password, user=user, field="new_password")
    password_set(actor=user, user=user, new_password=new_password, action="user.password_reset")
    return user
