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
from causeway.recipes import promotion, signatures
from causeway.recipes.models import Promotion
from causeway.vault.signing import SigningRotation
from causeway.workspaces.models import Workspace

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
    requested_label: str
    status: str = Field(
        description="done; pending (waiting for a second person's approval into PROD); rejected"
    )
    approved_by_id: int | uuid.UUID | None
    approved_label: str
    decided_at: datetime | None
    note: str
    details: dict[str, Any]
    created_at: datetime


class ProdApprovalIn(StrictIn):
    required: bool = Field(description="promotions into PROD wait for a second person's approval")


class ProdApprovalOut(Schema):
    required: bool = Field(description="promotions into PROD wait for a second person's approval")

    @staticmethod
    def resolve_required(workspace: Workspace) -> bool:
        return workspace.prod_second_approval


class CopyOut(Schema):
    id: uuid.UUID
    environment: str


def _diff(change: promotion.RecipeChange | promotion.RollbackPreview) -> dict[str, Any] | None:
    return change.diff.as_dict() if change.diff is not None else None


class RecipeChangeOut(Schema):
    name: str
    kind: str = Field(
        description="added (only in the source), removed (only in the target), changed, unchanged"
    )
    source_version: int | None
    target_version: int | None
    diff: dict[str, Any] | None = Field(description="what changed, step by step; none when nothing did")

    @staticmethod
    def resolve_diff(change: promotion.RecipeChange) -> dict[str, Any] | None:
        return _diff(change)


class TableChangeOut(Schema):
    name: str
    kind: str
    source_columns: list[Any] | None
    target_columns: list[Any] | None


class MappingOut(Schema):
    source: str = Field(description="a connection the source's recipes use, or one mapped before")
    target: str | None = Field(description="the target environment's connection mapped to it; none yet")


class ScheduleChangeOut(Schema):
    name: str
    kind: str
    source: str | None = Field(description="cron (time zone) of the source's current version")
    target: str | None = Field(description="cron (time zone) of the target's current version")
    source_started: bool
    target_started: bool


class ChangesOut(Schema):
    source: CopyOut
    target: CopyOut
    recipes: list[RecipeChangeOut]
    lookup_tables: list[TableChangeOut] = Field(alias="tables")
    connections: list[MappingOut]
    schedules: list[ScheduleChangeOut]

    @staticmethod
    def resolve_connections(changes: promotion.Changes) -> list[dict[str, str | None]]:
        return [{"source": source, "target": target} for source, target in changes.bindings]


class RollbackPreviewOut(Schema):
    recipe: uuid.UUID
    current_version: int | None = Field(alias="current")
    versions: list[int] = Field(alias="choices", description="earlier versions whose signature holds")
    version: int | None = Field(alias="to", description="the version asked for with ?version=N")
    diff: dict[str, Any] | None = Field(description="what rolling back to it would change")

    @staticmethod
    def resolve_recipe(preview: promotion.RollbackPreview) -> uuid.UUID:
        pk: uuid.UUID = preview.recipe.pk
        return pk

    @staticmethod
    def resolve_diff(preview: promotion.RollbackPreview) -> dict[str, Any] | None:
        return _diff(preview)


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
    response=answers({200: ChangesOut}),
    summary="View Changes: this copy beside the next environment's, recipe by recipe and step by step",
)
@operation(need=Perm.WORKSPACE_VIEW)
def changes_view(request: HttpRequest, workspace_id: WorkspaceRef, project_id: ObjectId) -> promotion.Changes:
    actor = request_actor(request)
    source = access.project_get(actor, request.workspace, project_id)  # type: ignore[attr-defined]
    return promotion.environment_changes(actor=actor, source=source)


@router.post(
    WS + "/promotions/{promotion_id}/approve",
    response=answers({200: PromotionOut}),
    summary="Approve a promotion waiting for a second person: what it names moves into PROD, signed",
)
@operation(need=Perm.WORKSPACE_VIEW)
def promotion_approve(request: HttpRequest, workspace_id: WorkspaceRef, promotion_id: ObjectId) -> Promotion:
    actor = request_actor(request)
    found = promotion.promotion_get(actor, request.workspace, promotion_id)  # type: ignore[attr-defined]
    return promotion.promotion_approve(actor=actor, promotion=found)


@router.post(
    WS + "/promotions/{promotion_id}/reject",
    response=answers({200: PromotionOut}),
    summary="Turn down (or, its requester, withdraw) a promotion waiting for approval; nothing moves",
)
@operation(need=Perm.WORKSPACE_VIEW)
def promotion_reject(request: HttpRequest, workspace_id: WorkspaceRef, promotion_id: ObjectId) -> Promotion:
    actor = request_actor(request)
    found = promotion.promotion_get(actor, request.workspace, promotion_id)  # type: ignore[attr-defined]
    return promotion.promotion_reject(actor=actor, promotion=found)


@router.get(
    WS + "/prod-approval",
    response=answers({200: ProdApprovalOut}),
    summary="Whether promotions into PROD wait for a second person's approval",
)
@operation(need=Perm.WORKSPACE_SETTINGS)
def prod_approval_get(request: HttpRequest, workspace_id: WorkspaceRef) -> Workspace:
    found: Workspace = request.workspace  # type: ignore[attr-defined]
    return found


@router.put(
    WS + "/prod-approval",
    response=answers({200: ProdApprovalOut}),
    summary="Make promotions into PROD wait for a second person's approval, or not (Admins)",
)
@operation(need=Perm.WORKSPACE_SETTINGS)
def prod_approval_put(request: HttpRequest, workspace_id: WorkspaceRef, body: ProdApprovalIn) -> Workspace:
    return promotion.prod_approval_set(
        actor=request_actor(request),
        workspace=request.workspace,  # type: ignore[attr-defined]
        required=body.required,
    )


class RollbackIn(StrictIn):
    version: int = Field(ge=1, description="the number of the earlier version to roll back to")
    note: str = Field("", max_length=500, description="why, for the record")


@router.get(
    WS + "/recipes/{recipe_id}/rollback",
    response=answers({200: RollbackPreviewOut}, conflict=True),
    summary="The versions a PROD recipe may be rolled back to, and with ?version=N what it would change",
)
@operation(need=Perm.WORKSPACE_VIEW)
def rollback_view(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId, version: int | None = None
) -> promotion.RollbackPreview:
    actor = request_actor(request)
    recipe = access.recipe_get(actor, request.workspace, recipe_id, need=Perm.RECIPE_VIEW)  # type: ignore[attr-defined]
    return promotion.rollback_preview(actor=actor, recipe=recipe, number=version)


@router.post(
    WS + "/recipes/{recipe_id}/rollback",
    response=answers({201: PromotionOut}, conflict=True),
    summary="Roll a PROD recipe back to an earlier version: promoted again, diffed and signed",
)
@operation(need=Perm.WORKSPACE_VIEW)
def rollback_create(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId, body: RollbackIn
) -> Status[Promotion]:
    actor = request_actor(request)
    recipe = access.recipe_get(actor, request.workspace, recipe_id, need=Perm.RECIPE_VIEW)  # type: ignore[attr-defined]
    return Status(201, promotion.rollback(actor=actor, recipe=recipe, number=body.version, note=body.note))


class SigningKeyOut(Schema):
    current_key_id: int | None = Field(description="the id of the key that signs PROD versions now")
    versions_by_key: dict[str, int] = Field(description="how many PROD versions each key signed, by key id")


class SigningRotationOut(Schema):
    old_key_id: int | None = Field(description="the key that signed until now (none: the first key)")
    new_key_id: int = Field(description="the key that signs PROD versions from now on")


@router.get(
    WS + "/signing-key",
    response=answers({200: SigningKeyOut}),
    summary="The workspace's PROD signing key, and how many versions each key signed (Admins)",
)
@operation(need=Perm.VAULT_KEY_MANAGE)
def signing_key_get(request: HttpRequest, workspace_id: WorkspaceRef) -> dict[str, Any]:
    return signatures.signing_key_status(
        actor=request_actor(request),
        workspace=request.workspace,  # type: ignore[attr-defined]
    )


@router.post(
    WS + "/signing-key/rotate",
    response=answers({200: SigningRotationOut}),
    summary="Rotate the PROD signing key (Admins, after a fresh sign-in); older signatures still verify",
)
@operation(need=Perm.VAULT_KEY_MANAGE, step_up=True)
def signing_key_rotate(request: HttpRequest, workspace_id: WorkspaceRef) -> SigningRotation:
    return signatures.signing_key_rotate(
        actor=request_actor(request),
        workspace=request.workspace,  # type: ignore[attr-defined]
    )
