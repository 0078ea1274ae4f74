"""API operations on a workspace's secrets: list names and metadata, set, delete; never a value."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from causeway.access.perms import Perm
from causeway.access.routes import operation
from causeway.api.schemas import SEGMENT_PATTERN, Host, StrictIn, WorkspaceRef, answers, stated
from causeway.recipes import secrets
from causeway.vault.secrets import MAX_ALLOWED_HOSTS, MAX_VALUE_LENGTH

router = Router(tags=["vault"])


class SecretOut(Schema):
    name: str
    allowed_hosts: list[str] = Field(description="where the value may be sent; empty: anywhere allowed")
    created_at: datetime
    created_by_id: uuid.UUID | None = Field(description="the user who created it; null: the operator")
    created_by: str
    updated_at: datetime = Field(description="when the value was last set")
    updated_by_id: uuid.UUID | None = Field(description="the user who last set it; null: the operator")
    updated_by: str
    referenced_by: list[str] = Field(description="recipes you may read that refer to this secret")
    # Built from a `SecretRow`, which has no value to show: the answer cannot carry one (rule 13).


SECRET_NAME = Annotated[
    str,
    Field(
        max_length=200,
        pattern=SEGMENT_PATTERN,
        description="a letter, then up to 99 letters, digits, _ . or -",
        json_schema_extra={"pattern": r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$"},
    ),
]


class SecretIn(StrictIn):
    # Unknown fields are refused, not dropped: a caller who sends `name` or `created_by` in the body
    # learns at once that it is not applied.
    value: str = Field(
        description="the value; never shown again, in any answer",
        json_schema_extra=stated(minLength=1, maxLength=MAX_VALUE_LENGTH),
    )
    allowed_hosts: list[Host] = Field(
        default_factory=list,
        description='host names, or "*.example.com" for any subdomain',
        json_schema_extra=stated(maxItems=MAX_ALLOWED_HOSTS),
    )


@router.get(
    "/workspaces/{workspace_id}/secrets",
    response=answers({200: list[SecretOut]}),
    summary="The workspace's secrets: names and metadata, never values",
)
@operation(need=Perm.WORKSPACE_VIEW)
def secret_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[secrets.SecretRow]:
    rows = secrets.secrets_visible(request.auth, request.workspace)  # type: ignore[attr-defined]
    return list(rows)


@router.put(
    "/workspaces/{workspace_id}/secrets/{name}",
    response=answers({200: SecretOut, 201: SecretOut}),
    summary="Create a secret or replace its value (Admins); the answer never includes the value",
)
@operation(need=Perm.VAULT_SECRET_MANAGE)
def secret_put(
    request: HttpRequest, workspace_id: WorkspaceRef, name: SECRET_NAME, body: SecretIn
) -> Status[secrets.SecretRow]:
    written = secrets.secret_write(
        actor=request.auth,  # type: ignore[attr-defined]
        workspace=request.workspace,  # type: ignore[attr-defined]
        name=name,
        value=body.value,
        allowed_hosts=body.allowed_hosts,
    )
    return Status(201 if written.created else 200, written.row)


@router.delete(
    "/workspaces/{workspace_id}/secrets/{name}",
    response=answers({204: None}),
    summary="Delete a secret (Admins)",
)
@operation(need=Perm.VAULT_SECRET_MANAGE)
def secret_delete(request: HttpRequest, workspace_id: WorkspaceRef, name: SECRET_NAME) -> Status[None]:
    secrets.secret_remove(actor=request.auth, workspace=request.workspace, name=name)  # type: ignore[attr-defined]
    return Status(204, None)
