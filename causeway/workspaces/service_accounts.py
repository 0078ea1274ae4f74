"""Service accounts and their API tokens: created by Admins, tokens shown once and kept as SHA-256
digests, expiring in 1 to 365 days, revocable. A disabled account or a revoked token fails on the next
request: nothing about either is cached.

Creating, disabling and revoking are `access.services`' (each asks the policy); this module makes
token secrets and authenticates them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from causeway.workspaces.models import ServiceAccountToken

TOKEN_PREFIX = "cwsa"  # noqa: S105
TOKEN_MAX_DAYS = 365
NAME_MAX = 100
LAST_USED_RESOLUTION = timedelta(minutes=1)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_secret() -> tuple[str, str]:
    """A new token's public prefix and its whole secret."""
    prefix = secrets.token_hex(6)
    return prefix, f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def service_account_token_authenticate(secret: str) -> ServiceAccountToken | None:
    """The usable token whose secret this is, of an enabled service account; None for anything else."""
    if not secret.startswith(f"{TOKEN_PREFIX}_") or len(secret) > 200:
        return None
    now = timezone.now()
    token = (
        ServiceAccountToken.objects.select_related("service_account", "service_account__workspace")
        .filter(digest=digest(secret), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or not token.service_account.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ServiceAccountToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
