"""API tokens of people and of service accounts: one way to issue, verify and revoke them.

A token's secret is `<kind tag>_<prefix>_<random>`: the tag says whose kind of token it is (`cw` a
person's, `cwsa` a service account's, `cwak` an API client's key), the prefix is public and finds the
row, and only a SHA-256 digest of the whole secret is stored, compared in constant time. 256 random
bits make a fast unsalted digest safe. A token expires in 1 to 365 days and can be revoked; a revoked
or expired token, or one whose owner is disabled, fails on the next request: nothing about them is
cached.

Who may issue or revoke a service account's token is decided above, in `causeway.access`; a person
issues and revokes their own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from causeway.accounts.actors import SystemActor
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.vault.masking import register_value
from causeway.workspaces.models import ApiToken, ServiceAccount, TokenKind

PERSONAL_PREFIX = "cw"
SERVICE_ACCOUNT_PREFIX = "cwsa"
API_KEY_PREFIX = "cwak"
TOKEN_MAX_DAYS = 365
NAME_MAX = 100
SECRET_MAX = 200
LAST_USED_RESOLUTION = timedelta(minutes=1)

_TAGS = {
    TokenKind.PERSONAL: PERSONAL_PREFIX,
    TokenKind.SERVICE_ACCOUNT: SERVICE_ACCOUNT_PREFIX,
    TokenKind.API_KEY: API_KEY_PREFIX,
}
# What the management API accepts: an API client's key calls only the collections it may call.
MANAGEMENT_KINDS = frozenset({TokenKind.PERSONAL, TokenKind.SERVICE_ACCOUNT})
_KINDS = {tag: kind for kind, tag in _TAGS.items()}
_SECRET = re.compile(r"(?P<tag>[a-z]+)_(?P<prefix>[0-9a-f]{12})_[A-Za-z0-9_-]+")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_name(value: Any) -> str:
    """The one rule for a token's name: 1 to 100 characters once trimmed, no control characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({"name": "Token name is required."})
    name = value.strip()
    if len(name) > NAME_MAX or any(ord(ch) < 32 for ch in name):
        raise ValidationError(
            {"name": f"Token name must be 1 to {NAME_MAX} characters, without control characters."}
        )
    return name


def _expiry(expires_in_days: Any, not_after: datetime | None) -> datetime:
    if isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int):
        raise ValidationError({"expires_in_days": f"Expiry must be between 1 and {TOKEN_MAX_DAYS} days."})
    if not 1 <= expires_in_days <= TOKEN_MAX_DAYS:
        raise ValidationError({"expires_in_days": f"Expiry must be between 1 and {TOKEN_MAX_DAYS} days."})
    expires_at = timezone.now() + timedelta(days=expires_in_days)
    if not_after is not None and expires_at > not_after:
        raise ValidationError(
            {
                "expires_in_days": "Expiry may not be later than that of the token making this request "
                f"({not_after.isoformat(timespec='seconds')})."
            }
        )
    return expires_at


def _mask_label(token: ApiToken) -> str:
    label = {TokenKind.PERSONAL: "api-token", TokenKind.API_KEY: "api-key"}.get(
        TokenKind(token.kind), "sa-token"
    )
    return f"{label}:{token.prefix}"


@transaction.atomic
def token_issue(
    *,
    actor: User | ServiceAccount | SystemActor,
    owner: User | ServiceAccount,
    name: str,
    expires_in_days: int,
    not_after: datetime | None = None,
    kind: TokenKind | None = None,
) -> tuple[ApiToken, str]:
    """A new token of owner's and its secret, which is never shown again (`kind=API_KEY`: an API
    client's key, for a service account).

    `not_after` caps the expiry: a token made with another token may not outlive it, so a leaked
    short-lived token cannot be turned into a long-lived one.
    """
    name = token_name(name)
    expires_at = _expiry(expires_in_days, not_after)
    token = ApiToken(name=name, expires_at=expires_at)
    if isinstance(owner, ServiceAccount):
        if not owner.is_active:
            raise ValidationError({"service_account": "is disabled; enable it before making tokens"})
        token.kind, token.service_account = kind or TokenKind.SERVICE_ACCOUNT, owner
    elif kind not in (None, TokenKind.PERSONAL):
        raise ValidationError({"kind": "only a service account holds an API key"})
    else:
        token.kind, token.user = TokenKind.PERSONAL, owner
    token.prefix = secrets.token_hex(6)
    secret = f"{_TAGS[TokenKind(token.kind)]}_{token.prefix}_{secrets.token_urlsafe(32)}"
    token.digest = digest(secret)
    token.save(force_insert=True)
    if isinstance(owner, ServiceAccount) and token.kind == TokenKind.API_KEY:
        audit_record(
            actor=actor,
            action="api_key.created",
            target=token,
            workspace_id=owner.workspace_id,
            details={"service_account": owner.name, "expires_at": expires_at.isoformat()},
        )
    elif isinstance(owner, ServiceAccount):
        audit_record(
            actor=actor,
            action="service_account_token.created",
            target=token,
            workspace_id=owner.workspace_id,
            details={"service_account": owner.name, "expires_at": expires_at.isoformat()},
        )
    else:
        audit_record(
            actor=actor,
            action="api_token.created",
            target=token,
            details={"expires_at": expires_at.isoformat()},
        )
    # The secret is kept only as a digest, so this is the one moment it can be known for masking.
    register_value(_mask_label(token), secret)
    return token, secret


def token_create(
    *, actor: User, name: str, expires_in_days: int, not_after: datetime | None = None
) -> tuple[ApiToken, str]:
    """A personal token of the actor's own."""
    return token_issue(
        actor=actor, owner=actor, name=name, expires_in_days=expires_in_days, not_after=not_after
    )


@transaction.atomic
def token_revoke(*, actor: User | ServiceAccount | SystemActor, token: ApiToken) -> ApiToken:
    """Revoke a token; revoking a revoked token changes and records nothing.

    A person revokes only their own personal tokens (callers fetch through `token_get_own`; this
    guards against one that does not); a service account's token is revoked by whoever `access` let in.
    """
    if token.kind == TokenKind.PERSONAL and (not isinstance(actor, User) or token.user_id != actor.pk):
        raise ApiToken.DoesNotExist
    locked = (
        ApiToken.objects.select_for_update(of=("self",)).select_related("service_account").get(pk=token.pk)
    )
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        if locked.service_account is not None:
            audit_record(
                actor=actor,
                action="api_key.revoked"
                if locked.kind == TokenKind.API_KEY
                else "service_account_token.revoked",
                target=locked,
                workspace_id=locked.service_account.workspace_id,
                details={"service_account": locked.service_account.name},
            )
        else:
            audit_record(actor=actor, action="api_token.revoked", target=locked)
    token.revoked_at = locked.revoked_at
    return locked


def token_verify(secret: str, *, kinds: frozenset[TokenKind] = MANAGEMENT_KINDS) -> ApiToken | None:
    """The usable token of one of `kinds` whose secret this is, its enabled owner loaded; None for
    anything else."""
    shape = _SECRET.fullmatch(secret) if len(secret) <= SECRET_MAX else None
    kind = _KINDS.get(shape["tag"]) if shape else None
    if shape is None or kind is None or kind not in kinds:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user", "service_account", "service_account__workspace")
        .filter(prefix=shape["prefix"], kind=kind, revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or not hmac.compare_digest(token.digest, digest(secret)):
        return None
    owner = token.user or token.service_account
    if owner is None or not owner.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    # Only digests are stored, so each process learns a token for masking when it sees it used.
    register_value(_mask_label(token), secret)
    return token


def token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's own personal tokens, newest first; nobody lists anyone else's."""
    return ApiToken.objects.filter(user=user, kind=TokenKind.PERSONAL).order_by("-created_at")


def token_get_own(*, user: User, token_id: Any) -> ApiToken | None:
    """One of the user's own tokens, or None: another user's token looks exactly like a missing one."""
    try:
        key = token_id if isinstance(token_id, uuid.UUID) else uuid.UUID(str(token_id))
    except ValueError:
        return None
    return ApiToken.objects.filter(user=user, kind=TokenKind.PERSONAL, pk=key).first()
