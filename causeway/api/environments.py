"""API operations on promotion (Migrate): promote chosen recipes of a project's DEV or TEST copy into the
next environment, and list a project's promotions. Objects are fetched through `access`; the change is
one service call."""

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
from causeway.recipes import promotion
from causeway.recipes.models import Promotion

router = Router(tags=["environments"])
WS = "/workspaces/{workspace_id}"


class PromotionIn(StrictIn):
    recipes: list[uuid.UUID] = Field(
        min_length=1, max_length=200, description="the ids of the recipes to promote, in the source copy"
    )
    connections: dict[str, uuid.UUID] = Field(
        default_factory=dict,
        description="for each connection the recipes use (by id), the target environment's connection",
    )
    lookup_rows: bool = Field(False, description="also copy the rows of the lookup tables the recipes use")
    note: str = Field("", max_length=500, description="why, for the record")


class PromotionOut(Schema):
    id: uuid.UUID
    source_id: uuid.UUID
    target_id: uuid.UUID
    source_environment: str = Field(alias="source.environment")
    target_environment: str = Field(alias="target.environment")
    requested_by_id: int | uuid.UUID | None
    note: str
    details: dict[str, Any]
    created_at: datetime


@router.post(
    WS + "/projects/{project_id}/promotions",
    response=answers({201: PromotionOut}),
    summary="Promote recipes of this copy into the next environment (DEV → TEST, TEST → PROD)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def promotion_create(
    request: HttpRequest, workspace_id: WorkspaceRef, project_id: ObjectId, body: PromotionIn
) -> Status[Promotion]:
    actor = request_actor(request)
    source = access.project_get(actor, request.workspace, project_id)  # type: ignore[attr-defined]
    done = promotion.promote(
        actor=actor,
        source=source,
        recipes=body.recipes,
        connections={k: str(v) for k, v in body.connections.items()},
        with_rows=body.lookup_rows,
        note=body.note,
    )
    return Status(201, done)


@router.get(
    WS + "/projects/{project_id}/promotions",
    response=answers({200: list[PromotionOut]}),
    summary="The promotions into and out of this project's copies, newest first",
)
@operation(need=Perm.WORKSPACE_VIEW)
def promotion_list(request: HttpRequest, workspace_id: WorkspaceRef, project_id: ObjectId) -> list[Promotion]:
    actor = request_actor(request)
    project = access.project_get(actor, request.workspace, project_id)  # type: ignore[attr-defined]
    return list(promotion.promotions_of(actor=actor, project=project))


@router.get(
    WS + "/projects/{project_id}/changes",
    response=answers({200: dict[str, Any]}),
    summary="View Changes: this copy beside the next environment's, recipe by recipe and step by step",
)
@operation(need=Perm.WORKSPACE_VIEW)
def changes_view(request: HttpRequest, workspace_id: WorkspaceRef, project_id: ObjectId) -> dict[str, Any]:
    actor = request_actor(request)
    source = access.project_get(actor, request.workspace, project_id)  # type: ignore[attr-defined]
    return promotion.environment_changes(actor=actor, source=source).as_dict()
