"""API operations on watching recipes (each person's own watches) and the workspace's notification
interval (its Admins'). Objects are fetched through `access`; changes are service calls."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from causeway.access.perms import Perm
from causeway.access.routes import operation, request_actor
from causeway.api.schemas import ObjectId, StrictIn, WorkspaceRef, answers
from causeway.recipes import policy as access
from causeway.recipes.models import Recipe
from causeway.watches import selectors, services
from causeway.watches.models import INTERVAL_MAX_MINUTES, INTERVAL_MIN_MINUTES, Notice, Watch

router = Router(tags=["watches"])
WS = "/workspaces/{workspace_id}"


class NoticeOut(Schema):
    channel: str
    state: str
    failures: int
    attempts: int
    last_error: str
    created_at: datetime
    sent_at: datetime | None


class WatchOut(Schema):
    recipe_id: uuid.UUID
    recipe_name: str
    email: bool
    connection_id: uuid.UUID | None
    channel: str
    include_tests: bool
    created_at: datetime
    last_message_at: datetime | None
    last_notice: NoticeOut | None = Field(None, description="the latest message and how sending it went")

    @staticmethod
    def resolve_recipe_name(watch: Watch) -> str:
        return watch.recipe.name

    @staticmethod
    def resolve_email(watch: Watch) -> bool:
        return watch.by_email

    @staticmethod
    def resolve_last_notice(watch: Watch) -> Notice | None:
        return watch.latest_notice


class WatchIn(StrictIn):
    email: bool = Field(True, description="be told by email (the default)")
    connection_id: ObjectId | None = Field(
        None, description="also be told through this Slack or HTTP/REST connection you may use"
    )
    channel: str = Field(
        "", max_length=200, description="Slack: the channel's id; HTTP/REST: the path under its base URL"
    )
    include_tests: bool = Field(False, description="be told of failed test runs too")


class IntervalOut(Schema):
    interval_minutes: int


class IntervalIn(StrictIn):
    interval_minutes: int = Field(
        ge=INTERVAL_MIN_MINUTES,
        le=INTERVAL_MAX_MINUTES,
        description="the least time between two messages about one recipe to one watcher",
    )


def _recipe(request: HttpRequest, ref: Any) -> Recipe:
    found: Recipe = access.recipe_get(request_actor(request), request.workspace, ref)  # type: ignore[attr-defined]
    return found


@router.get(WS + "/watches", response=answers({200: list[WatchOut]}), summary="The recipes you watch")
@operation(need=Perm.WORKSPACE_VIEW)
def watch_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[Watch]:
    return list(selectors.watches_list(request_actor(request), request.workspace))  # type: ignore[attr-defined]


@router.put(
    WS + "/recipes/{recipe_id}/watch",
    response=answers({200: WatchOut}),
    summary="Watch a recipe: be told of its failures (or change how)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def watch_put(request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId, body: WatchIn) -> Watch:
    return services.watch_set(
        actor=request_actor(request),
        recipe=_recipe(request, recipe_id),
        by_email=body.email,
        connection_id=body.connection_id,
        channel=body.channel,
        include_tests=body.include_tests,
    )


@router.delete(
    WS + "/recipes/{recipe_id}/watch", response=answers({204: None}), summary="Stop watching a recipe"
)
@operation(need=Perm.WORKSPACE_VIEW)
def watch_delete(request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId) -> Status[None]:
    services.watch_remove(actor=request_actor(request), recipe=_recipe(request, recipe_id))
    return Status(204, None)


@router.get(
    WS + "/notifications",
    response=answers({200: IntervalOut}),
    summary="The workspace's notification settings",
)
@operation(need=Perm.NOTIFICATION_MANAGE)
def notifications_get(request: HttpRequest, workspace_id: WorkspaceRef) -> dict[str, int]:
    return {"interval_minutes": selectors.interval_minutes(request.workspace)}  # type: ignore[attr-defined]


@router.put(
    WS + "/notifications",
    response=answers({200: IntervalOut}),
    summary="Set the least time between two failure messages about one recipe to one watcher",
)
@operation(need=Perm.NOTIFICATION_MANAGE)
def notifications_put(request: HttpRequest, workspace_id: WorkspaceRef, body: IntervalIn) -> dict[str, int]:
    minutes = services.notification_interval_set(
        actor=request_actor(request),
        workspace=request.workspace,  # type: ignore[attr-defined]
        minutes=body.interval_minutes,
    )
    return {"interval_minutes": minutes}
