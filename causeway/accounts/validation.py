"""Profile rules: names of letters only, a valid email, a password Django's validators accept."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email


def _letters_only(value: str, *, field: str, minimum: int) -> str:
    value = value.strip()
    if len(value) < minimum:
        raise ValidationError({field: f"must be at least {minimum} letter{'s' if minimum > 1 else ''} long"})
    if not value.isalpha():
        raise ValidationError({field: "may contain letters only (no digits, spaces or symbols)"})
    return value


def clean_first_name(value: str) -> str:
    return _letters_only(value, field="first_name", minimum=2)


def clean_last_name(value: str) -> str:
    return _letters_only(value, field="last_name", minimum=1)


def clean_email(value: str) -> str:
    value = value.strip().lower()
    try:
        validate_email(value)
    except ValidationError:
        raise ValidationError({"email": "is not a valid email address"}) from None
    return value


def clean_password(value: str, *, user: Any = None) -> str:
    try:
        password_validation.validate_password(value, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": list(exc.messages)}) from None
    return value


def clean_profile(*, first_name: str, last_name: str, email: str) -> dict[str, str]:
    """Check all three fields and report every wrong one at once, each under its own name."""
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name, cleaner, raw in (
        ("first_name", clean_first_name, first_name),
        ("last_name", clean_last_name, last_name),
        ("email", clean_email, email),
    ):
        try:
            cleaned[name] = cleaner(raw)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return cleaned
