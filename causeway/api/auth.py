"""How API callers prove who they are: a personal token as `Authorization: Bearer`, or the browser session."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from causeway.accounts.services import token_authenticate


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = token_authenticate(token)
        if found is None:
            return None
        request.api_token = found  # type: ignore[attr-defined]
        return found.user


class BrowserSession(SessionAuth):
    """The signed-in browser, with CSRF checked on every unsafe method."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is not None and not user.is_active:
            return None
        return user
