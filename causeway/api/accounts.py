"""API operations on the caller's own account and personal API tokens.

Input schemas forbid unknown fields, so `user_type`, `is_active`, `id` and the like are refused
with 422 naming the field rather than silently dropped or, worse, applied.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from django.contrib.auth import logout
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja import Path as PathField

from causeway.access.errors import NotFound, StepUpRequired
from causeway.access.routes import operation, proof_is_stale
from causeway.accounts import mfa, passkeys, sessions, stepup
from causeway.accounts import services as accounts
from causeway.accounts.models import User, UserSession
from causeway.accounts.validation import NAME_MAX_LENGTH
from causeway.api.schemas import StrictIn, answers, stated
from causeway.workspaces import tokens
from causeway.workspaces.models import ApiToken

router = Router(tags=["account"])


def _stated(minimum: int, pattern: str, description: str) -> dict[str, Any]:
    return {
        "minLength": minimum,
        "maxLength": NAME_MAX_LENGTH,
        "pattern": pattern,
        "description": description,
    }


# Letters of any script are accepted by the service; the schema states a part of them it can say
# exactly (Latin letters with their accented forms), so nothing it calls valid is refused.
PERSON_NAME = r"^[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]+$"
EMAIL = r"^[A-Za-z0-9_+-]{1,32}(\.[A-Za-z0-9_+-]{1,32}){0,2}@([a-z0-9]{1,20}\.){1,3}[a-z]{2,10}$"


class MeOut(Schema):
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    user_type: str
    date_joined: datetime


class MeUpdateIn(StrictIn):
    # The rules are stated in the schema but checked by the service, whose messages name the field in
    # words a person reads (rule 19); what the schema calls valid, the service accepts.
    first_name: str | None = Field(
        None, json_schema_extra=_stated(2, PERSON_NAME, "letters only, 2 at least")
    )
    last_name: str | None = Field(None, json_schema_extra=_stated(1, PERSON_NAME, "letters only"))
    email: str | None = Field(None, json_schema_extra={"format": "email", "maxLength": 254})


class PasswordIn(StrictIn):
    current_password: str = Field(max_length=4096)
    new_password: str = Field(max_length=4096, description="must pass the password rules (400 if not)")


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
    name: str = Field(json_schema_extra=stated(minLength=1, maxLength=tokens.NAME_MAX, pattern=r"\S"))
    expires_in_days: int = Field(30, json_schema_extra=stated(minimum=1, maximum=tokens.TOKEN_MAX_DAYS))


class TokenCreatedOut(TokenOut):
    secret: str


def _me(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    return user


@router.get("/me", response=answers({200: MeOut}), summary="Your account")
@operation(authenticated=True)
def me_get(request: HttpRequest) -> User:
    return _me(request)


@router.patch("/me", response=answers({200: MeOut}, conflict=True), summary="Change your name or email")
@operation(authenticated=True)
def me_update(request: HttpRequest, payload: MeUpdateIn) -> User:
    me = _me(request)
    if accounts.email_changes(user=me, email=payload.email) and proof_is_stale(request):
        raise StepUpRequired(me)
    return accounts.profile_update(actor=me, user=me, **payload.model_dump(exclude_unset=True))


@router.post(
    "/me/password",
    response=answers({200: PasswordOut}),
    summary="Change your password; ends all your sessions",
)
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


@router.get("/me/tokens", response=answers({200: list[TokenOut]}), summary="Your API tokens")
@operation(authenticated=True)
def tokens_list(request: HttpRequest) -> list[ApiToken]:
    return list(tokens.token_list(user=_me(request)))


@router.post(
    "/me/tokens",
    response=answers({201: TokenCreatedOut}),
    summary="Create an API token; its secret is shown once",
)
@operation(authenticated=True, step_up=True)
def tokens_create(request: HttpRequest, payload: TokenIn) -> Status[dict[str, object]]:
    calling: ApiToken | None = getattr(request, "api_token", None)
    token, secret = tokens.token_create(
        actor=_me(request),
        name=payload.name,
        expires_in_days=payload.expires_in_days,
        not_after=calling.expires_at if calling is not None else None,
    )
    return Status(201, {**TokenOut.model_validate(token).model_dump(), "secret": secret})


@router.delete(
    "/me/tokens/{token_id}", response=answers({204: None}), summary="Revoke one of your API tokens"
)
@operation(authenticated=True)
def tokens_revoke(request: HttpRequest, token_id: uuid.UUID) -> Status[None]:
    token = tokens.token_get_own(user=_me(request), token_id=token_id)
    if token is None:
        raise NotFound("token")
    tokens.token_revoke(actor=_me(request), token=token)
    return Status(204, None)


class SessionOut(Schema):
    handle: str = Field(description="the session's name here; its key is never shown")
    device: str
    address: str | None
    created_at: datetime
    last_seen_at: datetime | None
    current: bool = Field(description="whether this call was made with this session")


SessionHandle = Annotated[str, PathField(pattern=r"^[0-9a-f]{16}$", description="a session's handle")]


def _session_out(request: HttpRequest, found: UserSession) -> dict[str, object]:
    return {
        "handle": sessions.session_handle(found),
        "device": found.device,
        "address": found.address,
        "created_at": found.created_at,
        "last_seen_at": found.last_seen_at,
        "current": found.session_key == getattr(getattr(request, "session", None), "session_key", None),
    }


@router.get("/me/sessions", response=answers({200: list[SessionOut]}), summary="Your sessions in browsers")
@operation(authenticated=True)
def sessions_list(request: HttpRequest) -> list[dict[str, object]]:
    return [_session_out(request, found) for found in sessions.session_list(user=_me(request))]


@router.delete(
    "/me/sessions/{session_handle}", response=answers({204: None}), summary="End one of your sessions"
)
@operation(authenticated=True, step_up=True)
def sessions_end(request: HttpRequest, session_handle: SessionHandle) -> Status[None]:
    found = sessions.session_by_handle(user=_me(request), handle=session_handle)
    if found is None:
        raise NotFound("session")
    sessions.session_end(actor=_me(request), session=found)
    return Status(204, None)


class MfaOut(Schema):
    enrolled: bool
    recovery_codes_left: int


class MfaEnrolmentOut(Schema):
    secret: str = Field(description="the authenticator app's key, base32; shown only in this answer")
    otpauth_uri: str = Field(description="the otpauth:// URI a QR code would carry; shown only here")


class CodeIn(StrictIn):
    code: str = Field(
        max_length=32, description="the 6 digits of the authenticator app, or a recovery code (400 if wrong)"
    )


class RecoveryCodesOut(Schema):
    recovery_codes: list[str] = Field(description="single-use; shown only in this answer")


@router.get("/me/mfa", response=answers({200: MfaOut}), summary="Your second factor")
@operation(authenticated=True)
def mfa_get(request: HttpRequest) -> dict[str, object]:
    user = _me(request)
    left = mfa.recovery_codes_left(user=user)
    return {"enrolled": mfa.mfa_enrolled(user=user), "recovery_codes_left": left}


@router.post(
    "/me/mfa/totp",
    response=answers({201: MfaEnrolmentOut}),
    summary="Start setting up an authenticator app; its key is shown once",
)
@operation(authenticated=True)
def mfa_totp_start(request: HttpRequest) -> Status[dict[str, str]]:
    enrolment = mfa.totp_enrol_begin(actor=_me(request))
    return Status(201, {"secret": enrolment.secret, "otpauth_uri": enrolment.uri})


@router.post(
    "/me/mfa/totp/confirm",
    response=answers({200: RecoveryCodesOut}),
    summary="Turn the authenticator app on with a code from it; answers the recovery codes, once",
)
@operation(authenticated=True)
def mfa_totp_confirm(request: HttpRequest, payload: CodeIn) -> dict[str, list[str]]:
    return {"recovery_codes": mfa.totp_enrol_confirm(actor=_me(request), code=payload.code)}


@router.post(
    "/me/mfa/recovery-codes",
    response=answers({200: RecoveryCodesOut}),
    summary="Replace your recovery codes, given a current code",
)
@operation(authenticated=True)
def mfa_recovery_codes(request: HttpRequest, payload: CodeIn) -> dict[str, list[str]]:
    return {"recovery_codes": mfa.recovery_codes_regenerate(actor=_me(request), code=payload.code)}


@router.post(
    "/me/mfa/disable",
    response=answers({204: None}),
    summary="Turn your second factor off, given a current code",
)
@operation(authenticated=True)
def mfa_disable(request: HttpRequest, payload: CodeIn) -> Status[None]:
    mfa.mfa_disable(actor=_me(request), code=payload.code)
    return Status(204, None)


class PasskeyOut(Schema):
    id: uuid.UUID
    name: str
    transports: list[str]
    created_at: datetime
    last_used_at: datetime | None


@router.get(
    "/me/mfa/passkeys",
    response=answers({200: list[PasskeyOut]}),
    summary="Your passkeys (added and used from a browser, on the two-factor page)",
)
@operation(authenticated=True)
def mfa_passkeys_list(request: HttpRequest) -> list[Any]:
    return passkeys.passkeys_of(user=_me(request))


@router.delete(
    "/me/mfa/passkeys/{passkey_id}",
    response=answers({204: None}),
    summary="Remove one of your passkeys; refused while it is the last second factor a workspace requires",
)
@operation(authenticated=True, step_up=True)
def mfa_passkey_remove(request: HttpRequest, passkey_id: uuid.UUID) -> Status[None]:
    found = passkeys.passkey_of(user=_me(request), passkey_id=passkey_id)
    if found is None:
        raise NotFound("passkey")
    passkeys.passkey_remove(actor=_me(request), passkey=found)
    return Status(204, None)


class ReauthenticateIn(StrictIn):
    password: str = Field("", max_length=4096, description="your password; or give `code`")
    code: str = Field("", max_length=32, description="a code from your app or a recovery code")


@router.post(
    "/me/reauthenticate",
    response=answers({204: None}),
    summary="Confirm who you are again, before a sensitive act from a browser session",
)
@operation(authenticated=True)
def me_reauthenticate(request: HttpRequest, payload: ReauthenticateIn) -> Status[None]:
    stepup.reauthenticate(user=_me(request), password=payload.password, code=payload.code)
    accounts.reauthenticated(request.session)
    return Status(204, None)
