"""Helpers for the accounts tests.

They do not import `causeway.testing`, which reaches up into workspaces and access: this app's
tests keep to its own layer, as the import-linter contract requires of everything in it.
"""

from __future__ import annotations

from typing import Any

from django.test import Client

from causeway.accounts.models import User

PASSWORD = "correct-Horse-battery-9"


def new_user(email: str, *, first: str = "Ada", last: str = "Lovelace") -> User:
    return User.objects.create_user(email=email, password=PASSWORD, first_name=first, last_name=last)


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
