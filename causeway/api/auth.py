"""How API callers prove who they are: a personal or service-account token as `Authorization: Bearer`,
or the browser session.

A service account's token authenticates as the ServiceAccount itself (`request.auth`); it is checked
against the database on every request, so a revoked token or a disabled account fails at once.
A token that fails is audited and counted against the caller's address; an address past its allowance
of failures is answered 429 before its token is looked up (`causeway.audit.refusals`).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from causeway.audit.refusals import API_TOKENS, refusal_record, throttle_check
from causeway.workspaces.tokens import token_verify


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        throttle_check(API_TOKENS)
        principal = self._principal(request, token)
        if principal is None:
            refusal_record(
                API_TOKENS,
                action="api.auth_failed",
                details={"reason": "unknown, expired or revoked token", "path": request.path[:200]},
            )
        return principal

    def _principal(self, request: HttpRequest, token: str) -> Any:
        found = token_verify(token)
        if found is None:
            return None
        request.api_token = found  # type: ignore[attr-defined]
        return found.user or found.service_account


class BrowserSession(SessionAuth):
    """The signed-in browser, with CSRF checked on every unsafe method.

    Only a request that carries the session cookie and no Authorization header is judged by
    its session: a caller who sent a token (even a revoked or expired one) is answered 401 on
    that token, not let in, or refused for CSRF, on a session it happens to carry too.
    """

    def _get_key(self, request: HttpRequest) -> str | None:
        if "authorization" in request.headers or self.param_name not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if key is None:
            return None
        user = super().authenticate(request, key)
        if user is not None and not user.is_active:
            return None
        return user
