"""Helpers shared by the accounts tests: signing a test client in through the real login page."""

from __future__ import annotations

from typing import Any

from causeway.testing import STRONG_PASSWORD


def sign_in(client: Any, email: str, password: str = STRONG_PASSWORD) -> None:
    response = client.post("/login", {"username": email, "password": password})
    assert response.status_code == 302, response.content.decode()[:500]
    assert client.get("/").status_code == 200
