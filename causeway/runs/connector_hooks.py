"""Connectors' webhook triggers: calls to `POST /hooks/connector/<token>`, checked as the provider signs.

A recipe whose trigger is a connector's webhook trigger (the HTTP connector's `signed_webhook`, Slack's
events) has a webhook endpoint like any webhook recipe: a URL token that only finds the recipe, and a
signing secret sealed by the vault (generated, or set by an editor to the one the provider issued). Each
call is checked in this order, and nothing of it is kept unless a job starts:

1. the recipe is started on such a trigger (404 otherwise, as for an unknown token);
2. its connection may be used for the person the trigger's jobs run for (rules 6 and 7, the connector
   enabled): otherwise 503, the reason in the recipe's trigger status, nothing said to the caller;
3. the connector's `verify` hook reads the raw body and headers: a refusal is 401 or 403 with its reason,
   audited and throttled per source like every refused webhook call; a reply is sent back at once;
4. replay: a signed time must be within the trigger's tolerance (401 otherwise); a provider's delivery id
   starts one job, and its repeats are answered with that job; a call with no id is accepted once while
   it is remembered (409 for the same call again).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
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
from causeway.connections import services as connections
from causeway.connections.sdk import Accept, Delivery, Refuse, Reply
from causeway.db import CONFLICT
from causeway.recipes import policy as access
from causeway.recipes.definition import trigger_load
from causeway.recipes.schema import ConnectorTrigger
from causeway.runs import runtime
from causeway.runs.models import Job, TriggerState, TriggerType, WebhookDelivery, WebhookEndpoint
from causeway.runs.services import job_create
from causeway.runs.webhooks import (
    BadPayload,
    WebhookNotFound,
    WebhookRefused,
    WebhookReplayed,
    _remember,
    token_well_formed,
    webhook_endpoint_ensure,
)
from causeway.vault.masking import mask_text

logger = logging.getLogger(__name__)

PATH_PREFIX = "/hooks/connector/"
MAX_ERROR = 500


class HookRefused(WebhookRefused):
    """The connector's check refused the call: `status` is 401 (not signed as the provider signs) or 403."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


class HookUnavailable(Exception):
    """The recipe cannot take calls now (its connection may not be used, or its check failed): the reason
    is kept in the recipe's trigger status, not told to the caller."""


@dataclass(frozen=True)
class HookReceipt:
    """What a call started: a job (`repeated` when an earlier delivery with its id started it), or a reply
    the provider wanted instead of a job."""

    job: Job | None
    repeated: bool = False
    reply: Reply | None = None


def connector_hook_path(token: str) -> str:
    return f"{PATH_PREFIX}{token}"


def _endpoint_for(token: str) -> tuple[WebhookEndpoint, ConnectorTrigger]:
    if not token_well_formed(token):
        raise WebhookNotFound
    try:
        endpoint = WebhookEndpoint.objects.select_related(
            "recipe", "recipe__active_version", "recipe__active_version__created_by", "recipe__workspace"
        ).get(token=token)
    except WebhookEndpoint.DoesNotExist:
        raise WebhookNotFound from None
    recipe = endpoint.recipe
    if not recipe.active or recipe.active_version is None:
        raise WebhookNotFound
    try:
        trigger = runtime.definition_of(recipe.active_version).trigger
    except ValidationError:
        raise WebhookNotFound from None
    if not isinstance(trigger, ConnectorTrigger):
        raise WebhookNotFound
    return endpoint, trigger


def _unavailable(endpoint: WebhookEndpoint, reason: str, now: datetime) -> HookUnavailable:
    """Kept where the recipe's readers see a trigger's errors; the caller learns only that it failed."""
    state, _ = TriggerState.objects.get_or_create(
        recipe=endpoint.recipe, defaults={"workspace_id": endpoint.workspace_id}
    )
    state.last_error = mask_text(reason)[:MAX_ERROR]
    state.last_error_at = now
    state.save(update_fields=["last_error", "last_error_at"])
    return HookUnavailable(reason)


def _refused(endpoint: WebhookEndpoint, reason: str, now: datetime, status: int = 401) -> HookRefused:
    refusals.refusal_record(
        refusals.WEBHOOK_SIGNATURES,
        action="webhook.refused",
        target=endpoint.recipe,
        workspace_id=endpoint.workspace_id,
        details={"reason": reason},
        now=now,
    )
    return HookRefused(reason, status)


def _check(
    endpoint: WebhookEndpoint,
    trigger: ConnectorTrigger,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
) -> Accept | Reply:
    version = endpoint.recipe.active_version
    person = version.created_by if version is not None else None
    try:
        resolved = connections.connection_for_webhook(
            workspace=endpoint.recipe.workspace,
            connection_ref=trigger.connection,
            trigger_key=trigger.trigger,
            on_behalf_of=person,
        )
        given = connections.trigger_input(resolved, trigger.input)
    except connections.ConnectionRefused as refused:
        raise _unavailable(endpoint, str(refused), now) from None
    except ValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise _unavailable(endpoint, detail, now) from None
    secret = endpoint.signing_secret
    _remember(endpoint, secret)
    delivery = Delivery(
        body=body,
        headers={name.lower(): value for name, value in headers.items()},
        received_at=now,
        secret=secret,
        settings=resolved.settings,
        credentials=resolved.credentials,
    )
    assert resolved.trigger.verify is not None  # connection_for_webhook gives only triggers that verify
    try:
        verdict = resolved.trigger.verify(delivery, given)
    except Exception as exc:  # a connector's own failure: the call is not taken, the recipe's readers see why
        logger.exception("webhook check of recipe %s failed", endpoint.recipe_id)
        raise _unavailable(endpoint, f"the webhook check failed: {type(exc).__name__}", now) from None
    if isinstance(verdict, Refuse):
        raise _refused(endpoint, verdict.reason, now, verdict.status)
    if isinstance(verdict, Accept) and verdict.signed_at is not None:
        if abs(now.timestamp() - verdict.signed_at) > verdict.tolerance_seconds:
            raise _refused(
                endpoint,
                f"signature timestamp outside the {verdict.tolerance_seconds}-second tolerance "
                "(check the clock)",
                now,
            )
    return verdict


def _remembered_as(
    endpoint: WebhookEndpoint, accepted: Accept, body: bytes, now: datetime
) -> tuple[str, datetime]:
    """The key that makes a delivery single use, and until when it is kept: the provider's delivery id
    (kept for the idempotency window), else the signed time and body (kept past the tolerance), else the
    body alone (kept for the idempotency window)."""
    window = now + timedelta(seconds=settings.WEBHOOK_IDEMPOTENCY_SECONDS)
    if accepted.delivery_id:
        material = b"id:" + accepted.delivery_id.encode()
        expires = window
        if accepted.signed_at is not None:
            expires = max(
                expires, datetime.fromtimestamp(accepted.signed_at + accepted.tolerance_seconds, tz=UTC)
            )
    elif accepted.signed_at is not None:
        material = f"at:{accepted.signed_at}:".encode() + sha256(body).digest()
        expires = datetime.fromtimestamp(accepted.signed_at + accepted.tolerance_seconds + 1, tz=UTC)
    else:
        material = b"body:" + sha256(body).digest()
        expires = window
    return sha256(f"{endpoint.id}:".encode() + material).hexdigest(), expires


def _deliver(endpoint: WebhookEndpoint, accepted: Accept, body: bytes, now: datetime) -> HookReceipt:
    if not isinstance(accepted.data, dict):
        raise BadPayload("the trigger's data must be a JSON object")
    key, expires_at = _remembered_as(endpoint, accepted, body, now)
    try:
        # The delivery is written with its job: two copies of one call racing each other start one.
        with transaction.atomic():
            job: Job = job_create(
                actor=TRIGGER,
                recipe=endpoint.recipe,
                trigger_type=TriggerType.WEBHOOK.value,
                payload=accepted.data,
            )
            WebhookDelivery.objects.create(
                endpoint=endpoint, signature_digest=key, job=job, received_at=now, expires_at=expires_at
            )
    except ValidationError:
        raise WebhookNotFound from None
    except IntegrityError:
        earlier = (
            WebhookDelivery.objects.select_related("job")
            .filter(endpoint=endpoint, signature_digest=key)
            .first()
        )
        if earlier is None:
            raise
        if accepted.delivery_id:
            # The provider sent this delivery again (its retry): answered with the job it started.
            return HookReceipt(job=earlier.job, repeated=True)
        raise _replayed(endpoint, now) from None
    return HookReceipt(job=job)


def _replayed(endpoint: WebhookEndpoint, now: datetime) -> WebhookReplayed:
    reason = "this signed call was received before"
    _refused(endpoint, reason, now)
    return WebhookReplayed(reason)


def connector_webhook_receive(
    *, token: str, body: bytes, headers: Mapping[str, str], now: datetime | None = None
) -> HookReceipt:
    """The job a call to a connector webhook starts, or the reply it gets (see the module's steps).

    Raises WebhookNotFound; HookUnavailable; HookRefused or WebhookReplayed (audited, and counted
    against the caller's allowance); BadPayload. The caller admits the call first (`webhook_admit`).
    """
    now = now or timezone.now()
    endpoint, trigger = _endpoint_for(token)
    verdict = _check(endpoint, trigger, body, headers, now)
    if isinstance(verdict, Reply):
        return HookReceipt(job=None, reply=verdict)
    receipt = _deliver(endpoint, verdict, body, now)
    if not receipt.repeated:
        _clear_error(endpoint)
    return receipt


def _clear_error(endpoint: WebhookEndpoint) -> None:
    TriggerState.objects.filter(recipe=endpoint.recipe, last_error__isnull=False).update(
        last_error=None, last_error_at=None
    )


def receives_webhooks(recipe: Any) -> bool:
    """Whether the version that would run has a connector trigger that receives webhooks."""
    version = recipe.active_version if recipe.active else recipe.current_version
    if version is None:
        return False
    try:
        trigger = trigger_load(version.definition)
    except ValidationError:
        return False
    if not isinstance(trigger, ConnectorTrigger):
        return False
    kind = connections.trigger_kind(
        workspace=recipe.workspace, connection_ref=trigger.connection, trigger_key=trigger.trigger
    )
    return kind == "webhook"


MIN_SECRET = 8
MAX_SECRET = 512


@transaction.atomic
def webhook_secret_set(*, actor: Actor, recipe: Any, secret: Any) -> None:
    """Set the signing secret of a recipe whose trigger is a connector's webhook to the one its provider
    issued (an editor of the recipe; audited, never shown again). The old one stops working at once."""
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_EDIT)
    if not receives_webhooks(recipe):
        # The request is well formed; the recipe's trigger is what refuses it (409 on the API).
        raise ValidationError(
            {
                "secret": ValidationError(
                    "only a connector's webhook trigger takes its provider's secret; rotate for a new one",
                    code=CONFLICT,
                )
            }
        )
    if not isinstance(secret, str) or not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise ValidationError({"secret": f"{MIN_SECRET} to {MAX_SECRET} characters"})
    if not all(0x21 <= ord(c) <= 0x7E for c in secret):
        raise ValidationError({"secret": "visible ASCII characters only, no spaces"})
    webhook_endpoint_ensure(recipe=recipe)
    endpoint = WebhookEndpoint.objects.select_for_update().get(recipe=recipe)
    endpoint.signing_secret = secret
    endpoint.secret_set_at = timezone.now()
    endpoint.save(update_fields=["signing_secret", "secret_set_at"])
    _remember(endpoint, secret)
    audit_record(
        actor=actor,
        action="webhook.secret_set",
        target=endpoint,
        workspace_id=recipe.workspace_id,
        details={"recipe": recipe.name},
    )
