"""Reads about users and personal API tokens."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from causeway.accounts.models import ApiToken, User


def user_list() -> list[User]:
    """Every user, by email. Emails are sealed, so the database cannot sort them: this opens each."""
    return sorted(User.objects.all(), key=lambda user: (user.email, str(user.pk)))


def user_by_email(*, email: str) -> User | None:
    """The user with this address, in any case, found through its blind index."""
    return User.objects.with_email(email).first()


def token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first; nobody lists anyone else's."""
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def token_get_own(*, user: User, token_id: uuid.UUID | str) -> ApiToken | None:
    """One of the user's own tokens, or None: another user's token looks exactly like a missing one."""
    try:
        key = token_id if isinstance(token_id, uuid.UUID) else uuid.UUID(str(token_id))
    except ValueError:
        return None
    return ApiToken.objects.filter(user=user, pk=key).first()
