"""API operations on the caller's own account and personal API tokens.

Input schemas forbid unknown fields, so `user_type`, `is_active`, `id` and the like are refused
with 422 naming the field rather than silently dropped or, worse, applied.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib.auth import logout
from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import ConfigDict

from causeway.access.errors import NotFound
from causeway.access.routes import operation
from causeway.accounts import selectors
from causeway.accounts import services as accounts
from causeway.accounts.models import ApiToken, User

router = Router(tags=["account"])


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


class MeOut(Schema):
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    user_type: str
    date_joined: datetime


class MeUpdateIn(StrictIn):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


class PasswordIn(StrictIn):
    current_password: str
    new_password: str


class PasswordOut(Schema):
    sessions_ended: int


class TokenOut(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenIn(StrictIn):
    name: str
    expires_in_days: int = 30


class TokenCreatedOut(TokenOut):
    secret: str


def _me(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    return user


@router.get("/me", response=MeOut, summary="Your account")
@operation(authenticated=True)
def me_get(request: HttpRequest) -> User:
    return _me(request)


@router.patch("/me", response=MeOut, summary="Change your name or email")
@operation(authenticated=True)
def me_update(request: HttpRequest, payload: MeUpdateIn) -> User:
    return accounts.profile_update(
        actor=_me(request), user=_me(request), **payload.model_dump(exclude_unset=True)
    )


@router.post("/me/password", response=PasswordOut, summary="Change your password; ends all your sessions")
@operation(authenticated=True)
def me_password(request: HttpRequest, payload: PasswordIn) -> dict[str, int]:
    user = _me(request)
    ended = accounts.password_change(
        actor=user, user=user, current_password=payload.current_password, new_password=payload.new_password
    )
    browser = getattr(request, "user", None)
    if browser is not None and browser.is_authenticated and browser.pk == user.pk:
        # Its session row is already gone; this drops what the request still holds of it.
        logout(request)
    return {"sessions_ended": ended}


@router.get("/me/tokens", response=list[TokenOut], summary="Your API tokens")
@operation(authenticated=True)
def tokens_list(request: HttpRequest) -> list[ApiToken]:
    return list(selectors.token_list(user=_me(request)))


@router.post(
    "/me/tokens", response={201: TokenCreatedOut}, summary="Create an API token; its secret is shown once"
)
@operation(authenticated=True)
def tokens_create(request: HttpRequest, payload: TokenIn) -> Status[dict[str, object]]:
    calling: ApiToken | None = getattr(request, "api_token", None)
    token, secret = accounts.token_create(
        actor=_me(request),
        name=payload.name,
        expires_in_days=payload.expires_in_days,
        not_after=calling.expires_at if calling is not None else None,
    )
    return Status(201, {**TokenOut.model_validate(token).model_dump(), "secret": secret})


@router.delete("/me/tokens/{token_id}", response={204: None}, summary="Revoke one of your API tokens")
@operation(authenticated=True)
def tokens_revoke(request: HttpRequest, token_id: uuid.UUID) -> Status[None]:
    token = selectors.token_get_own(user=_me(request), token_id=token_id)
    if token is None:
        raise NotFound("token")
    accounts.token_revoke(actor=_me(request), token=token)
    return Status(204, None)
