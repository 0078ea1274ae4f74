"""Webhook triggers: each recipe's endpoint (URL token, signing secret), and the check of every call.

A call is `POST /hooks/<token>` with the header

    X-Causeway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(signing secret, "<t>." + raw body)>

The token in the URL only finds the recipe; the signature proves the caller holds the secret, and the
time in it bounds how long the signature is good (TOLERANCE). Within that time an accepted signature is
remembered (WebhookDelivery), so a captured call sent again is refused; a sender that retries with a
new signature sends the same `Idempotency-Key` and is answered with the job its first call started.
Refused calls are on the workspace's audit record, without their body or signature, aggregated per
source and throttled (`causeway.audit.refusals`).
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from causeway.access.perms import Perm
from causeway.access.policy import TRIGGER, Actor
from causeway.audit import refusals
from causeway.audit.services import audit_record
from causeway.db.prepared import PreparedInsert, PreparedSelect
from causeway.recipes import policy as access
from causeway.recipes.schema import WebhookTrigger
from causeway.runs import runtime
from causeway.runs.engine import runs_in_caller
from causeway.runs.models import Job, TriggerType, WebhookDelivery, WebhookEndpoint
from causeway.runs.services import job_create
from causeway.vault.fields import blind_index
from causeway.vault.masking import register_value

SIGNATURE_HEADER = "X-Causeway-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# How far the signed time may be from the server's clock, either way.
TOLERANCE_SECONDS = 300
# A body larger than this is refused before it is read in full.
MAX_BODY_BYTES = 1024 * 1024
SECRET_PREFIX = "whsec_"  # noqa: S105  # a recognisable prefix, not a secret
_SIGNATURE_PART = re.compile(r"^(t|v1)=([0-9A-Za-z]+)$")
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class WebhookNotFound(Exception):
    """No started recipe with a webhook trigger answers to this token."""


class WebhookRefused(Exception):
    """The call is not signed as it must be; `reason` says how, for the caller and the audit record."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookReplayed(WebhookRefused):
    """This signed call was accepted before: the same call sent again."""


class BadPayload(Exception):
    pass


@dataclass(frozen=True)
class WebhookReceipt:
    """The job a call started; `repeated` when an earlier call with its Idempotency-Key started it.
    `respond_within`: seconds the caller waits for the job's answer, when the trigger says so."""

    job: Job
    repeated: bool
    respond_within: float | None = None


@dataclass(frozen=True)
class WebhookInfo:
    """What an editor of the recipe sees: never the signing secret."""

    url: str
    path: str
    created_at: datetime
    secret_set_at: datetime | None
    active: bool
    trigger_is_webhook: bool
    # The trigger is a connector's webhook: calls are signed as its provider signs, with this secret.
    connector_signed: bool = False


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
def webhook_info(*, actor: Actor, recipe: Any) -> WebhookInfo:
    """The recipe's webhook URL and metadata, for those who may edit it (the URL is a capability)."""
    from causeway.runs.connector_hooks import connector_hook_path, receives_webhooks

    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_EDIT)
    endpoint = _ensure(recipe)
    connector_signed = _trigger_type(recipe) == "connector" and receives_webhooks(recipe)
    path = connector_hook_path(endpoint.token) if connector_signed else hook_path(endpoint.token)
    return WebhookInfo(
        url=settings.BASE_URL.rstrip("/") + path,
        path=path,
        created_at=endpoint.created_at,
        secret_set_at=endpoint.secret_set_at,
        active=recipe.active,
        trigger_is_webhook=connector_signed or _trigger_type(recipe) == "webhook",
        connector_signed=connector_signed,
    )


@transaction.atomic
def webhook_secret_rotate(*, actor: Actor, recipe: Any) -> str:
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


def _verify(secret: str, header: str | None, body: bytes, now: datetime) -> tuple[int, str]:
    """The signed time and the matching digest of a correctly signed call; WebhookRefused otherwise."""
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
    return timestamp, expected


# Every call reads its endpoint by the unique token, with what the job it starts needs: compiled once.
# The endpoint's workspace is its recipe's.
_ENDPOINT = PreparedSelect(
    lambda token: WebhookEndpoint.objects.select_related(
        "recipe", "recipe__active_version", "recipe__project", "recipe__workspace"
    ).filter(token=token),
    token=str,
)


def token_well_formed(token: str) -> bool:
    """Whether `token` has the shape of an endpoint's token; any other is not looked up (a NUL, for one,
    is refused by PostgreSQL before it could be found missing)."""
    return bool(_TOKEN.match(token or ""))


def _endpoint_for(token: str) -> tuple[WebhookEndpoint, WebhookTrigger]:
    if not token_well_formed(token):
        raise WebhookNotFound
    endpoint = _ENDPOINT.first(token=token)
    if endpoint is None:
        raise WebhookNotFound
    if not endpoint.recipe.active or endpoint.recipe.active_version is None:
        raise WebhookNotFound
    try:
        trigger = runtime.definition_of(endpoint.recipe.active_version).trigger
    except ValidationError:
        raise WebhookNotFound from None
    if not isinstance(trigger, WebhookTrigger):
        raise WebhookNotFound
    return endpoint, trigger


def _in_caller(endpoint: WebhookEndpoint, trigger: WebhookTrigger) -> bool:
    """Whether the job a call starts runs in the call's own thread: its caller waits for it, and its
    steps cannot outlast that wait (`engine.runs_in_caller`)."""
    version = endpoint.recipe.active_version
    return version is not None and runs_in_caller(
        runtime.definition_of(version), trigger.respond_timeout_seconds
    )


def _refuse(endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    # Committed on its own: the call is refused, its record stays (the first of its source's interval at
    # once, the others as one count).
    refusals.refusal_record(
        refusals.WEBHOOK_SIGNATURES,
        action="webhook.refused",
        target=endpoint.recipe,
        workspace_id=endpoint.workspace_id,
        details={"reason": reason},
        now=now,
    )


def _payload(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise BadPayload("the body must be JSON") from None
    if not isinstance(value, dict):
        raise BadPayload("the body must be a JSON object")
    return value


def _idempotency_index(endpoint: WebhookEndpoint, key: str | None) -> str:
    """The blind index of the sender's Idempotency-Key; empty when it sent none."""
    if key is None:
        return ""
    if not _IDEMPOTENCY_KEY.match(key):
        raise BadPayload(f"the {IDEMPOTENCY_HEADER} header must be 1 to 255 visible ASCII characters")
    # Kept as a blind index: a sender's key may be an event id from its own data.
    return blind_index(f"runs.webhook.{endpoint.id}", key)


def _earlier(endpoint: WebhookEndpoint, signature_digest: str, key_index: str) -> WebhookReceipt | None:
    """How an earlier delivery answers this call: its job, for the same Idempotency-Key; a signature
    accepted before is refused, unless it comes back with the key it came with."""
    deliveries = WebhookDelivery.objects.select_related("job").filter(endpoint=endpoint)
    same_signature = deliveries.filter(signature_digest=signature_digest).first()
    if same_signature is not None:
        if key_index and same_signature.idempotency_index == key_index:
            return WebhookReceipt(job=same_signature.job, repeated=True)
        raise WebhookReplayed(
            "this signed call was received before: sign every call anew, and send an "
            f"{IDEMPOTENCY_HEADER} header to have a retry answered with the job its first call started"
        )
    if key_index:
        same_key = deliveries.filter(idempotency_index=key_index).first()
        if same_key is not None:
            return WebhookReceipt(job=same_key.job, repeated=True)
    return None


_DELIVERY = PreparedInsert(WebhookDelivery)


def _deliver(
    endpoint: WebhookEndpoint,
    payload: dict[str, Any],
    *,
    signed_at: int,
    signature_digest: str,
    key_index: str,
    now: datetime,
    waited: bool,
    in_caller: bool,
) -> WebhookReceipt:
    # The delivery's unique constraints, not a read before it, find a call seen before: the common
    # call, a new one, costs no lookup; a repeat rolls back its job and is answered below.
    # A signature is good until its time plus the tolerance; a key names its job for longer.
    expires_at = datetime.fromtimestamp(signed_at + TOLERANCE_SECONDS, tz=UTC)
    if key_index:
        expires_at = max(expires_at, now + timedelta(seconds=settings.WEBHOOK_IDEMPOTENCY_SECONDS))
    try:
        # The delivery is written with its job: two copies of one call racing each other start one.
        with transaction.atomic():
            job: Job = job_create(
                actor=TRIGGER,
                recipe=endpoint.recipe,
                trigger_type=TriggerType.WEBHOOK.value,
                payload=payload,
                waited=waited,
                in_caller=in_caller,
                # Read with its project and active version by `_endpoint_for`, for this call.
                fresh=True,
            )
            delivery = WebhookDelivery(
                endpoint=endpoint,
                signature_digest=signature_digest,
                idempotency_index=key_index,
                job=job,
                received_at=now,
                expires_at=expires_at,
            )
            _DELIVERY.run([delivery])
    except ValidationError:
        # Stopped in the meantime: as if it had been stopped before the call.
        raise WebhookNotFound from None
    except IntegrityError:
        earlier = _earlier(endpoint, signature_digest, key_index)
        if earlier is None:
            raise
        return earlier
    return WebhookReceipt(job=job, repeated=False)


def webhook_admit(*, now: datetime | None = None) -> None:
    """Raise `refusals.Throttled` when the calling address has had its allowance of refused calls.

    Called before anything of the call is read: a throttled call costs no body, lookup or signature check.
    """
    refusals.throttle_check(refusals.WEBHOOK_SIGNATURES, now=now)


def webhook_receive(
    *,
    token: str,
    body: bytes,
    signature: str | None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> WebhookReceipt:
    """The job a correctly signed call starts (or started, for a repeated Idempotency-Key).

    Raises WebhookNotFound; WebhookRefused or WebhookReplayed (both audited, and counted against the
    caller's allowance); or BadPayload. The caller admits the call first (`webhook_admit`).
    """
    now = now or timezone.now()
    endpoint, trigger = _endpoint_for(token)
    secret = endpoint.signing_secret
    _remember(endpoint, secret)
    try:
        signed_at, digest = _verify(secret, signature, body, now)
    except WebhookRefused as refused:
        _refuse(endpoint, refused.reason, now)
        raise
    payload = _payload(body)
    key_index = _idempotency_index(endpoint, idempotency_key)
    try:
        receipt = _deliver(
            endpoint,
            payload,
            signed_at=signed_at,
            signature_digest=sha256(digest.encode()).hexdigest(),
            key_index=key_index,
            now=now,
            waited=trigger.respond,
            in_caller=trigger.respond and _in_caller(endpoint, trigger),
        )
    except WebhookReplayed as replayed:
        _refuse(endpoint, replayed.reason, now)
        raise
    if trigger.respond and not receipt.repeated:
        return replace(receipt, respond_within=float(trigger.respond_timeout_seconds))
    return receipt


def job_url(job: Job) -> str:
    """Where the job's caller (or anyone it tells, with a token that may see the job) finds it."""
    return f"{settings.BASE_URL.rstrip('/')}/api/v1/workspaces/{job.workspace_id}/jobs/{job.id}"


def webhook_deliveries_purge(*, now: datetime | None = None) -> int:
    """Forget accepted calls that can no longer come back; how many were forgotten."""
    # A signature is good up to and including its last second: kept until after it.
    deleted, _ = WebhookDelivery.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted
