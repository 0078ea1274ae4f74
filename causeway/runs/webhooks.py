"""Webhook triggers: each recipe's endpoint (URL token, signing secret), and the check of every call.

A call is `POST /hooks/<token>` with the header

    X-Causeway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(signing secret, "<t>." + raw body)>

The token in the URL only finds the recipe; the signature proves the caller holds the secret, and the
time in it bounds how long a captured call can be replayed (TOLERANCE). A refused call is on the
workspace's audit record, without its body or its signature.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from causeway.access import content as access
from causeway.access.perms import Perm
from causeway.audit.models import Outcome
from causeway.audit.services import ANONYMOUS, audit_record
from causeway.runs.models import Job, TriggerType, WebhookEndpoint
from causeway.runs.services import job_create
from causeway.vault.masking import register_value

SIGNATURE_HEADER = "X-Causeway-Signature"
# How far the signed time may be from the server's clock, either way.
TOLERANCE_SECONDS = 300
# A body larger than this is refused before it is read in full.
MAX_BODY_BYTES = 1024 * 1024
SECRET_PREFIX = "whsec_"  # noqa: S105  # a recognisable prefix, not a secret
_SIGNATURE_PART = re.compile(r"^(t|v1)=([0-9A-Za-z]+)$")
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


class WebhookNotFound(Exception):
    """No started recipe with a webhook trigger answers to this token."""


class WebhookRefused(Exception):
    """The call is not signed as it must be; `reason` says how, for the caller and the audit record."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadPayload(Exception):
    pass


@dataclass(frozen=True)
class WebhookInfo:
    """What an editor of the recipe sees: never the signing secret."""

    url: str
    path: str
    created_at: datetime
    secret_set_at: datetime | None
    active: bool
    trigger_is_webhook: bool


def _new_token() -> str:
    # 32 random bytes: the URL cannot be guessed, though it is the signature that lets a call in.
    return secrets.token_urlsafe(32)


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _remember(endpoint: WebhookEndpoint, secret: str) -> None:
    register_value(f"webhook-secret:{endpoint.recipe_id}", secret)


def hook_path(token: str) -> str:
    return f"/hooks/{token}"


def hook_url(token: str) -> str:
    return settings.BASE_URL.rstrip("/") + hook_path(token)


def _ensure(recipe: Any) -> WebhookEndpoint:
    """The recipe's endpoint, made (with a token and a secret no one has seen) if it has none."""
    found = WebhookEndpoint.objects.filter(recipe=recipe).first()
    if found is not None:
        return found
    endpoint = WebhookEndpoint(
        workspace_id=recipe.workspace_id,
        recipe=recipe,
        token=_new_token(),
        signing_secret=_new_secret(),
        secret_set_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            endpoint.save(force_insert=True)
    except IntegrityError:
        # Made at the same moment by another request.
        return WebhookEndpoint.objects.get(recipe=recipe)
    _remember(endpoint, endpoint.signing_secret)
    audit_record(
        actor=None,
        action="webhook.created",
        target=endpoint,
        workspace_id=recipe.workspace_id,
        details={"recipe": recipe.name},
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_ensure(*, recipe: Any) -> WebhookEndpoint:
    """For the trigger itself (a recipe being started): the endpoint, made if missing."""
    return _ensure(recipe)


def _trigger_type(recipe: Any) -> str:
    version = recipe.active_version if recipe.active else recipe.current_version
    if version is None:
        return "manual"
    return str(version.definition.get("trigger", {}).get("type", "manual"))


@transaction.atomic
def webhook_info(*, actor: Any, recipe: Any) -> WebhookInfo:
    """The recipe's webhook URL and metadata, for those who may edit it (the URL is a capability)."""
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_EDIT)
    endpoint = _ensure(recipe)
    return WebhookInfo(
        url=hook_url(endpoint.token),
        path=hook_path(endpoint.token),
        created_at=endpoint.created_at,
        secret_set_at=endpoint.secret_set_at,
        active=recipe.active,
        trigger_is_webhook=_trigger_type(recipe) == "webhook",
    )


@transaction.atomic
def webhook_secret_rotate(*, actor: Any, recipe: Any) -> str:
    """A new signing secret, returned this once; the old one stops working at once."""
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_EDIT)
    _ensure(recipe)
    endpoint = WebhookEndpoint.objects.select_for_update().get(recipe=recipe)
    secret = _new_secret()
    endpoint.signing_secret = secret
    endpoint.secret_set_at = timezone.now()
    endpoint.save(update_fields=["signing_secret", "secret_set_at"])
    _remember(endpoint, secret)
    audit_record(
        actor=actor,
        action="webhook.secret_rotated",
        target=endpoint,
        workspace_id=recipe.workspace_id,
        details={"recipe": recipe.name},
    )
    return secret


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value a sender puts on a call (used by tests and by the docs' example)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _parse(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise WebhookRefused(f"missing {SIGNATURE_HEADER} header")
    if len(header) > 1000:
        raise WebhookRefused(f"malformed {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        match = _SIGNATURE_PART.match(part.strip())
        if match is None:
            raise WebhookRefused(f"malformed {SIGNATURE_HEADER} header: expected t=<seconds>,v1=<hex>")
        name, value = match.groups()
        if name == "t":
            if timestamp is not None or not value.isdigit() or len(value) > 12:
                raise WebhookRefused(f"malformed {SIGNATURE_HEADER} header: one t=<unix seconds>")
            timestamp = int(value)
        elif _HEX_DIGEST.match(value.lower()):
            digests.append(value.lower())
        else:
            raise WebhookRefused(f"malformed {SIGNATURE_HEADER} header: v1 is 64 hex digits")
    if timestamp is None or not digests:
        raise WebhookRefused(f"malformed {SIGNATURE_HEADER} header: expected t=<seconds>,v1=<hex>")
    return timestamp, digests


def _verify(secret: str, header: str | None, body: bytes, now: datetime) -> None:
    timestamp, digests = _parse(header)
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        raise WebhookRefused(
            f"signature timestamp outside the {TOLERANCE_SECONDS // 60}-minute tolerance (check the clock)"
        )
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    # Every candidate is compared, in constant time, whichever matches.
    matched = False
    for digest in digests:
        matched |= hmac.compare_digest(expected, digest)
    if not matched:
        raise WebhookRefused("signature does not match the body")


def _endpoint_for(token: str) -> WebhookEndpoint:
    if not _TOKEN.match(token or ""):
        raise WebhookNotFound
    endpoint = (
        WebhookEndpoint.objects.select_related(
            "recipe", "recipe__active_version", "recipe__project", "workspace"
        )
        .filter(token=token)
        .first()
    )
    if endpoint is None or not endpoint.recipe.active or endpoint.recipe.active_version is None:
        raise WebhookNotFound
    if endpoint.recipe.active_version.definition.get("trigger", {}).get("type") != "webhook":
        raise WebhookNotFound
    return endpoint


def _refuse(endpoint: WebhookEndpoint, reason: str) -> None:
    # Committed on its own: the call is refused, its record stays.
    with transaction.atomic():
        audit_record(
            actor=ANONYMOUS,
            action="webhook.refused",
            target=endpoint.recipe,
            workspace_id=endpoint.workspace_id,
            outcome=Outcome.DENIED,
            details={"reason": reason},
        )


def _payload(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise BadPayload("the body must be JSON") from None
    if not isinstance(value, dict):
        raise BadPayload("the body must be a JSON object")
    return value


def webhook_receive(*, token: str, body: bytes, signature: str | None, now: datetime | None = None) -> Job:
    """The job a correctly signed call starts; WebhookNotFound, WebhookRefused (audited) or BadPayload."""
    endpoint = _endpoint_for(token)
    secret = endpoint.signing_secret
    _remember(endpoint, secret)
    try:
        _verify(secret, signature, body, now or timezone.now())
    except WebhookRefused as refused:
        _refuse(endpoint, refused.reason)
        raise
    payload = _payload(body)
    try:
        with transaction.atomic():
            job: Job = job_create(
                actor=None, recipe=endpoint.recipe, trigger_type=TriggerType.WEBHOOK.value, payload=payload
            )
    except ValidationError:
        # Stopped in the meantime: as if it had been stopped before the call.
        raise WebhookNotFound from None
    return job
