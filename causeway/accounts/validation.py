"""Profile rules (rule 19): names of letters only, a valid email, a password Django's validators accept.

Every error is filed under the field's name and its message starts with the field's label, so a
form, an API answer or a CLI line says exactly which field is wrong even when read on its own.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "password": "Password",
    "current_password": "Current password",
    "new_password": "New password",
    "new_password_repeat": "New password (again)",
}
NAME_MAX_LENGTH = 150
EMAIL_MAX_LENGTH = 254


def label(field: str) -> str:
    return LABELS.get(field, field.replace("_", " ").capitalize())


def _is_letters(value: str) -> bool:
    """Letters of any script, each possibly carrying combining marks (accents that NFC cannot fold)."""
    categories = [unicodedata.category(char) for char in value]
    return bool(categories) and categories[0][0] == "L" and all(c[0] in "LM" for c in categories)


def _letters_only(value: str, *, field: str, minimum: int) -> str:
    value = unicodedata.normalize("NFC", value.strip())
    name = label(field)
    if value and not _is_letters(value):
        raise ValidationError({field: f"{name} may contain letters only (no digits, spaces or symbols)."})
    if sum(1 for char in value if unicodedata.category(char)[0] == "L") < minimum:
        plural = "s" if minimum > 1 else ""
        raise ValidationError({field: f"{name} must be at least {minimum} letter{plural} long."})
    if len(value) > NAME_MAX_LENGTH:
        raise ValidationError({field: f"{name} must be at most {NAME_MAX_LENGTH} characters long."})
    return value


def clean_first_name(value: str) -> str:
    return _letters_only(value, field="first_name", minimum=2)


def clean_last_name(value: str) -> str:
    return _letters_only(value, field="last_name", minimum=1)


def clean_email(value: str) -> str:
    value = value.strip().lower()
    if not value:
        raise ValidationError({"email": "Email is required."})
    try:
        if len(value) > EMAIL_MAX_LENGTH:
            raise ValidationError("too long")
        validate_email(value)
    except ValidationError:
        raise ValidationError({"email": "Email is not a valid email address."}) from None
    return value


def clean_password(value: str, *, user: Any = None, field: str = "password") -> str:
    """Django's configured validators; each of their messages is prefixed with the field's label."""
    name = label(field)
    if not value:
        raise ValidationError({field: f"{name} is required."})
    try:
        password_validation.validate_password(value, user=user)
    except ValidationError as exc:
        raise ValidationError({field: [f"{name}: {message}" for message in exc.messages]}) from None
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
