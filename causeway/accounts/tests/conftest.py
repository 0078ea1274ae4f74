"""Helpers for the accounts tests: people from the test kit, a browser over HTTPS, signing in."""

from __future__ import annotations

from typing import Any

from django.test import Client

from causeway.accounts.models import User
from testkit import STRONG_PASSWORD
from testkit.factories import UserFactory

PASSWORD = STRONG_PASSWORD


def new_user(email: str, *, first: str = "Ada", last: str = "Lovelace") -> User:
    user: User = UserFactory.create(email=email, first_name=first, last_name=last)
    return user


class Browser(Client):
    """Django's test client, over HTTPS as every real client of Causeway is."""

    def __init__(self, **defaults: Any) -> None:
        super().__init__(HTTP_USER_AGENT="pytest", **defaults)

    def generic(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["secure"] = True
        return super().generic(method, path, *args, **kwargs)


def sign_in(client: Any, email: str, password: str = PASSWORD) -> None:
    response = client.post("/login", {"username": email, "password": password})
    assert response.status_code == 302, response.content.decode()[:500]
    assert client.get("/").status_code == 200
