"""Bringing an installation up to date: database migrations and the first staff user (`init` and `up`)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper

from causeway.accounts.actors import SYSTEM
from causeway.accounts.models import User, UserType
from causeway.accounts.services import user_create

DEFAULT_ADMIN_EMAIL = "admin@localhost.localdomain"
# Which variable a person must fix when the first staff user's details are refused.
_VARIABLE_FOR_FIELD = {"email": "CAUSEWAY_ADMIN_EMAIL", "password": "CAUSEWAY_ADMIN_PASSWORD"}


@dataclass(frozen=True)
class StaffUserCreated:
    email: str
    one_time_password: str | None  # set only when Causeway chose it; never stored anywhere


def installation_prepare(*, create_admin: bool) -> StaffUserCreated | None:
    """Migrate, then create the first staff user unless one exists; what was created, if anything."""
    call_command("migrate", interactive=False, verbosity=0)
    if not create_admin or User.objects.filter(user_type=UserType.STAFF).exists():
        return None
    email = os.environ.get("CAUSEWAY_ADMIN_EMAIL", DEFAULT_ADMIN_EMAIL)
    chosen = os.environ.get("CAUSEWAY_ADMIN_PASSWORD")
    password = chosen if chosen is not None else secrets.token_urlsafe(18)
    try:
        user_create(
            actor=SYSTEM,
            email=email,
            first_name="Platform",
            last_name="Admin",
            password=password,
            user_type=UserType.STAFF,
        )
    except ValidationError as exc:
        raise CommandError(_refusal(exc)) from None
    return StaffUserCreated(email=email, one_time_password=None if chosen is not None else password)


def _refusal(exc: ValidationError) -> str:
    if not hasattr(exc, "error_dict"):
        return f"CAUSEWAY_ADMIN_EMAIL/CAUSEWAY_ADMIN_PASSWORD: {' '.join(exc.messages)}"
    field, messages = next(iter(exc.message_dict.items()))
    variable = _VARIABLE_FOR_FIELD.get(field, "CAUSEWAY_ADMIN_EMAIL")
    return f"{variable}: {' '.join(messages)}"


def announce(created: StaffUserCreated | None, out: OutputWrapper) -> None:
    if created is None:
        return
    out.write(f"Created staff user {created.email}.")
    if created.one_time_password is not None:
        out.write(f"One-time password (shown only now): {created.one_time_password}")
