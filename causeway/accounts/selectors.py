"""Reads about users."""

from __future__ import annotations

from causeway.accounts.models import User


def user_list() -> list[User]:
    """Every user, by email. Emails are sealed, so the database cannot sort them: this opens each."""
    return sorted(User.objects.all(), key=lambda user: (user.email, str(user.pk)))


def user_by_email(*, email: str) -> User | None:
    """The user with this address, in any case, found through its blind index."""
    return User.objects.with_email(email).first()
