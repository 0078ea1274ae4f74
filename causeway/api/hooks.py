"""API operations on a recipe's trigger: the webhook's URL and metadata, rotating its signing secret, and
the state of a schedule or poll."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from causeway.access.perms import Perm
from causeway.access.routes import operation
from causeway.api.schemas import Shown, StrictIn, WorkspaceRef, answers
from causeway.recipes import policy as access
from causeway.runs import connector_hooks, triggers, webhooks

router = Router(tags=["webhooks"])


class WebhookOut(Schema):
    url: str = Field(description="where to POST signed calls; treat it as a secret")
    created_at: datetime
    secret_set_at: datetime | None = Field(description="when the signing secret was last set")
    active: bool = Field(description="the recipe is started (calls are answered 404 while it is stopped)")
    trigger_is_webhook: bool = Field(
        description="the version that would run has a webhook trigger (Causeway's own, or a connector's)"
    )
    connector_signed: bool = Field(
        description="the trigger is a connector's webhook: calls are signed as its provider signs, "
        "with this recipe's signing secret (set it to the provider's with PUT .../webhook/secret)"
    )
    signature_header: str
    tolerance_seconds: int

    @staticmethod
    def resolve_signature_header(info: webhooks.WebhookInfo) -> str:
        return webhooks.SIGNATURE_HEADER

    @staticmethod
    def resolve_tolerance_seconds(info: webhooks.WebhookInfo) -> int:
        return webhooks.TOLERANCE_SECONDS


class RotatedOut(WebhookOut):
    signing_secret: str = Field(description="the new signing secret: shown in this answer only, never again")


@router.get(
    "/workspaces/{workspace_id}/recipes/{recipe_id}/webhook",
    response=answers({200: WebhookOut}),
    summary="The recipe's webhook URL and metadata (editors of the recipe); never the signing secret",
)
@operation(need=Perm.WORKSPACE_VIEW)
def webhook_get(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: uuid.UUID
) -> webhooks.WebhookInfo:
    recipe = access.recipe_get(request.auth, request.workspace, recipe_id, need=Perm.RECIPE_EDIT)  # type: ignore[attr-defined]
    return webhooks.webhook_info(actor=request.auth, recipe=recipe)  # type: ignore[attr-defined]


@router.post(
    "/workspaces/{workspace_id}/recipes/{recipe_id}/webhook/rotate",
    response=answers({200: RotatedOut}),
    summary="Replace the signing secret; the answer carries the new one, this once",
)
@operation(need=Perm.WORKSPACE_VIEW)
def webhook_rotate(request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: uuid.UUID) -> Shown:
    actor = request.auth  # type: ignore[attr-defined]
    recipe = access.recipe_get(actor, request.workspace, recipe_id, need=Perm.RECIPE_EDIT)  # type: ignore[attr-defined]
    secret = webhooks.webhook_secret_rotate(actor=actor, recipe=recipe)
    return Shown(webhooks.webhook_info(actor=actor, recipe=recipe), signing_secret=secret)


class WebhookSecretIn(StrictIn):
    secret: str = Field(
        min_length=connector_hooks.MIN_SECRET,
        max_length=connector_hooks.MAX_SECRET,
        pattern=r"^[\x21-\x7e]+$",
        description="the signing secret the provider issued; never shown again",
    )


@router.put(
    "/workspaces/{workspace_id}/recipes/{recipe_id}/webhook/secret",
    response=answers({200: WebhookOut}, conflict=True),
    summary="Set the signing secret of a connector's webhook trigger to the one its provider issued; "
    "the answer never includes it",
)
@operation(need=Perm.WORKSPACE_VIEW)
def webhook_secret_put(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: uuid.UUID, body: WebhookSecretIn
) -> webhooks.WebhookInfo:
    actor = request.auth  # type: ignore[attr-defined]
    recipe = access.recipe_get(actor, request.workspace, recipe_id, need=Perm.RECIPE_EDIT)  # type: ignore[attr-defined]
    connector_hooks.webhook_secret_set(actor=actor, recipe=recipe, secret=body.secret)
    return webhooks.webhook_info(actor=actor, recipe=recipe)


class TriggerStatusOut(Schema):
    trigger_type: str = Field(
        description="manual, schedule, webhook, poll or connector (of the started version)"
    )
    active: bool
    next_run_at: datetime | None = Field(description="schedule: when it runs next")
    last_fired_for: datetime | None = Field(description="schedule: the time it last ran for")
    last_polled_at: datetime | None = Field(description="poll: when the source was last asked")
    last_error: str | None = Field(description="poll: why the last poll failed (cleared by the next success)")
    last_error_at: datetime | None


@router.get(
    "/workspaces/{workspace_id}/recipes/{recipe_id}/trigger",
    response=answers({200: TriggerStatusOut}),
    summary="The state of the recipe's trigger: next run, last poll, last error (readers of the recipe)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def trigger_get(request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: uuid.UUID) -> dict[str, Any]:
    actor = request.auth  # type: ignore[attr-defined]
    recipe = access.recipe_get(actor, request.workspace, recipe_id, need=Perm.RECIPE_VIEW)  # type: ignore[attr-defined]
    return asdict(triggers.trigger_status(actor=actor, recipe=recipe))
