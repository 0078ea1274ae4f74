"""API operations on projects, folders, recipes (versions, diff, start and stop, export and import), lookup
tables and their rows, and bookmarks. Objects are fetched through `access`; changes are service calls."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.access.routes import operation, request_actor
from causeway.api.schemas import (
    MAX_INT,
    SEGMENT_PATTERN,
    Count,
    ObjectId,
    StrictIn,
    WorkspaceRef,
    answers,
    name_field,
)
from causeway.recipes import policy as access
from causeway.recipes import selectors, services
from causeway.recipes.diff import definition_diff
from causeway.recipes.models import Folder, LookupTable, Project, Recipe, RecipeVersion
from causeway.recipes.schema import DefinitionDocument, blank_definition
from causeway.recipes.services import EXPORT_FORMAT
from causeway.runs import triggers

router = Router(tags=["recipes"])
WS = "/workspaces/{workspace_id}"


In = StrictIn
Environment = Literal["dev", "test", "prod"]
Description = Annotated[str, Field(max_length=500)]
RowKey = Annotated[
    str,
    Field(min_length=1, max_length=200, pattern=SEGMENT_PATTERN, description="the row's key column value"),
]


class ProjectOut(Schema):
    id: uuid.UUID
    # The one project this environment's copy is of: its DEV, TEST and PROD copies share it.
    family: uuid.UUID
    name: str
    environment: str
    description: str
    created_at: datetime


class ProjectIn(In):
    name: str = name_field("the project's name, unique in the workspace")
    # The project is made in all three environments; this one's policy must allow it (rule 5), and
    # its copy is the answer.
    environment: Environment = "dev"
    description: Description = ""


class ProjectPatch(In):
    name: str = name_field("the project's name, unique in the workspace (all its environments)")
    description: Description | None = None


class FolderOut(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    parent_id: uuid.UUID | None
    name: str


class FolderIn(In):
    project_id: ObjectId
    name: str = name_field("the folder's name, unique beside it")
    parent_id: ObjectId | None = None


class FolderPatch(In):
    name: str = name_field("the folder's name, unique beside it")


class RecipeOut(Schema):
    id: uuid.UUID
    name: str
    description: str
    project_id: uuid.UUID
    folder_id: uuid.UUID | None
    trigger_type: str
    active: bool
    current_version: int | None
    active_version: int | None
    updated_at: datetime

    @staticmethod
    def resolve_current_version(recipe: Recipe) -> int | None:
        return recipe.current_version.number if recipe.current_version is not None else None

    @staticmethod
    def resolve_active_version(recipe: Recipe) -> int | None:
        # The version a stopped recipe last ran is no answer to "which version runs".
        return recipe.active_version.number if recipe.active and recipe.active_version is not None else None


class RecipeDetailOut(RecipeOut):
    definition: DefinitionDocument | None

    @staticmethod
    def resolve_definition(recipe: Recipe) -> dict[str, Any] | None:
        return recipe.current_version.definition if recipe.current_version is not None else None


class RecipeIn(In):
    project_id: ObjectId
    name: str = name_field("the recipe's name, unique in its project")
    description: Description = ""
    folder_id: ObjectId | None = None
    definition: DefinitionDocument = Field(
        default_factory=blank_definition,
        description="trigger, steps and settings",
    )


class RecipePatch(In):
    name: str | None = name_field("the recipe's name, unique in its project", default=None)
    description: Description | None = None
    folder_id: ObjectId | None = Field(None, description="move into this folder; null: to the project's top")


class VersionIn(In):
    definition: DefinitionDocument
    message: str = Field("", max_length=200)


class VersionOut(Schema):
    number: int
    message: str
    created_at: datetime
    created_by_id: uuid.UUID | None


class VersionDetailOut(VersionOut):
    definition: DefinitionDocument


class ExportOut(Schema):
    format: str
    name: str
    description: str
    version: int
    definition: DefinitionDocument


class ExportIn(In):
    format: Literal["causeway.recipe/1"] = Field(description="the export format: " + EXPORT_FORMAT)
    name: str = Field("", max_length=100)
    description: Description = ""
    version: int | None = Field(None, ge=1, le=MAX_INT)
    definition: DefinitionDocument


class ImportIn(In):
    project_id: ObjectId
    folder_id: ObjectId | None = None
    name: str = Field("", max_length=100, description="the new recipe's name; empty: the one in the export")
    export: ExportIn


class ImportVersionIn(In):
    export: ExportIn


class Column(In):
    name: str = name_field("the column's name, unique in the table", max_length=60)
    type: Literal["text", "integer", "number", "boolean", "date"] = "text"


class TableOut(Schema):
    id: uuid.UUID
    name: str
    project_id: uuid.UUID
    folder_id: uuid.UUID | None
    columns: list[dict[str, str]]
    key_column: str


class TableIn(In):
    project_id: ObjectId
    name: str = name_field("the table's name, unique in its project")
    columns: list[Column] = Field(min_length=1, max_length=50)
    key_column: str = Field(max_length=60, description="the name of one of the columns")
    folder_id: ObjectId | None = None


class RowIn(In):
    values: dict[str, Any] = Field(description="column name to value; the key column comes from the path")


class RecipeFilters(StrictIn):
    project_id: ObjectId | None = None
    folder_id: ObjectId | None = None
    search: str = Field("", max_length=100)
    active: bool | None = None


def _actor(request: HttpRequest) -> Actor:
    return request_actor(request)


def _ws(request: HttpRequest) -> Any:
    return request.workspace  # type: ignore[attr-defined]


def _folder(request: HttpRequest, ref: Any) -> Folder | None:
    return access.folder_get(_actor(request), _ws(request), ref) if ref else None


def _recipe(request: HttpRequest, ref: Any, need: Perm = Perm.RECIPE_VIEW) -> Recipe:
    found: Recipe = access.recipe_get(_actor(request), _ws(request), ref, need=need)
    return found


# Projects.


@router.get(WS + "/projects", response=answers({200: list[ProjectOut]}), summary="Projects you may see")
@operation(need=Perm.WORKSPACE_VIEW)
def project_list(
    request: HttpRequest, workspace_id: WorkspaceRef, environment: Environment | None = None
) -> list[Project]:
    return list(selectors.projects_list(_actor(request), _ws(request), environment=environment))


@router.post(
    WS + "/projects",
    response=answers({201: ProjectOut}, conflict=True),
    summary="Create a project (in DEV, TEST and PROD)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def project_create(request: HttpRequest, workspace_id: WorkspaceRef, body: ProjectIn) -> Status[Project]:
    project = services.project_create(
        actor=_actor(request),
        workspace=_ws(request),
        name=body.name,
        environment=body.environment,
        description=body.description,
    )
    return Status(201, project)


@router.patch(
    WS + "/projects/{project_id}",
    response=answers({200: ProjectOut}, conflict=True),
    summary="Rename a project",
)
@operation(need=Perm.WORKSPACE_VIEW)
def project_update(
    request: HttpRequest, workspace_id: WorkspaceRef, project_id: ObjectId, body: ProjectPatch
) -> Project:
    found = access.project_get(_actor(request), _ws(request), project_id)
    return services.project_rename(
        actor=_actor(request), project=found, name=body.name, description=body.description
    )


@router.delete(
    WS + "/projects/{project_id}",
    response=answers({204: None}, conflict=True),
    summary="Delete an empty project (refused while it publishes API collections)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def project_delete(request: HttpRequest, workspace_id: WorkspaceRef, project_id: ObjectId) -> Status[None]:
    found = access.project_get(_actor(request), _ws(request), project_id)
    services.project_delete(actor=_actor(request), project=found)
    return Status(204, None)


# Folders.


@router.get(WS + "/folders", response=answers({200: list[FolderOut]}), summary="Folders you may see")
@operation(need=Perm.WORKSPACE_VIEW)
def folder_list(
    request: HttpRequest, workspace_id: WorkspaceRef, project_id: ObjectId | None = None
) -> list[Folder]:
    project = access.project_get(_actor(request), _ws(request), project_id) if project_id else None
    return list(selectors.folders_list(_actor(request), _ws(request), project=project))


@router.post(
    WS + "/folders",
    response=answers({201: FolderOut}, conflict=True),
    summary="Create a folder, nested if a parent is given",
)
@operation(need=Perm.WORKSPACE_VIEW)
def folder_create(request: HttpRequest, workspace_id: WorkspaceRef, body: FolderIn) -> Status[Folder]:
    project = access.project_get(_actor(request), _ws(request), body.project_id)
    folder = services.folder_create(
        actor=_actor(request),
        workspace=_ws(request),
        project=project,
        name=body.name,
        parent=_folder(request, body.parent_id),
    )
    return Status(201, folder)


@router.patch(
    WS + "/folders/{folder_id}", response=answers({200: FolderOut}, conflict=True), summary="Rename a folder"
)
@operation(need=Perm.WORKSPACE_VIEW)
def folder_update(
    request: HttpRequest, workspace_id: WorkspaceRef, folder_id: ObjectId, body: FolderPatch
) -> Folder:
    found = access.folder_get(_actor(request), _ws(request), folder_id)
    return services.folder_rename(actor=_actor(request), folder=found, name=body.name)


@router.delete(WS + "/folders/{folder_id}", response=answers({204: None}), summary="Delete an empty folder")
@operation(need=Perm.WORKSPACE_VIEW)
def folder_delete(request: HttpRequest, workspace_id: WorkspaceRef, folder_id: ObjectId) -> Status[None]:
    found = access.folder_get(_actor(request), _ws(request), folder_id)
    services.folder_delete(actor=_actor(request), folder=found)
    return Status(204, None)


# Recipes.


@router.get(
    WS + "/recipes", response=answers({200: list[RecipeOut]}), summary="Recipes you may read, filtered"
)
@operation(need=Perm.WORKSPACE_VIEW)
def recipe_list(
    request: HttpRequest, workspace_id: WorkspaceRef, filters: Query[RecipeFilters]
) -> list[Recipe]:
    project = (
        access.project_get(_actor(request), _ws(request), filters.project_id) if filters.project_id else None
    )
    recipes = selectors.recipes_list(
        _actor(request),
        _ws(request),
        project=project,
        folder=_folder(request, filters.folder_id),
        search=filters.search,
        active=filters.active,
    ).select_related("active_version")
    return list(recipes)


@router.post(
    WS + "/recipes",
    response=answers({201: RecipeDetailOut}, conflict=True),
    summary="Create a recipe (its version 1)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def recipe_create(request: HttpRequest, workspace_id: WorkspaceRef, body: RecipeIn) -> Status[Recipe]:
    project = access.project_get(_actor(request), _ws(request), body.project_id)
    recipe = services.recipe_create(
        actor=_actor(request),
        workspace=_ws(request),
        project=project,
        folder=_folder(request, body.folder_id),
        name=body.name,
        description=body.description,
        definition=body.definition,
    )
    return Status(201, recipe)


@router.post(
    WS + "/recipes/import",
    response=answers({201: RecipeDetailOut}, conflict=True),
    summary="Import an export as a new recipe",
)
@operation(need=Perm.WORKSPACE_VIEW)
def recipe_import(request: HttpRequest, workspace_id: WorkspaceRef, body: ImportIn) -> Status[Recipe]:
    project = access.project_get(_actor(request), _ws(request), body.project_id)
    version = services.recipe_import(
        actor=_actor(request),
        workspace=_ws(request),
        data=body.export.model_dump(),
        project=project,
        folder=_folder(request, body.folder_id),
        name=body.name,
    )
    return Status(201, _recipe(request, str(version.recipe_id)))


@router.get(
    WS + "/recipes/{recipe_id}",
    response=answers({200: RecipeDetailOut}),
    summary="A recipe with its current definition",
)
@operation(need=Perm.WORKSPACE_VIEW)
def recipe_get(request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId) -> Recipe:
    return _recipe(request, recipe_id)


@router.patch(
    WS + "/recipes/{recipe_id}",
    response=answers({200: RecipeDetailOut}, conflict=True),
    summary="Rename or move a recipe",
)
@operation(need=Perm.WORKSPACE_VIEW)
def recipe_update(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId, body: RecipePatch
) -> Recipe:
    # Even an empty change is a write: refused to whoever may not edit the recipe.
    recipe = _recipe(request, recipe_id, need=Perm.RECIPE_EDIT)
    if body.name is not None or body.description is not None:
        recipe = services.recipe_rename(
            actor=_actor(request), recipe=recipe, name=body.name or recipe.name, description=body.description
        )
    if "folder_id" in body.model_fields_set:
        recipe = services.recipe_move(
            actor=_actor(request), recipe=recipe, folder=_folder(request, body.folder_id)
        )
    return _recipe(request, recipe_id)


@router.delete(
    WS + "/recipes/{recipe_id}",
    response=answers({204: None}, conflict=True),
    summary="Delete a stopped recipe (refused while an API endpoint runs it)",
)
@operation(need=Perm.WORKSPACE_VIEW)
def recipe_delete(request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId) -> Status[None]:
    services.recipe_delete(actor=_actor(request), recipe=_recipe(request, recipe_id))
    return Status(204, None)


@router.get(
    WS + "/recipes/{recipe_id}/versions",
    response=answers({200: list[VersionOut]}),
    summary="A recipe's versions",
)
@operation(need=Perm.WORKSPACE_VIEW)
def version_list(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId
) -> list[RecipeVersion]:
    return list(selectors.recipe_versions(_recipe(request, recipe_id)))


@router.post(
    WS + "/recipes/{recipe_id}/versions",
    response=answers({201: VersionDetailOut}),
    summary="Save a new version",
)
@operation(need=Perm.WORKSPACE_VIEW)
def version_create(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId, body: VersionIn
) -> Status[RecipeVersion]:
    version = services.recipe_save(
        actor=_actor(request),
        recipe=_recipe(request, recipe_id),
        definition=body.definition,
        message=body.message,
    )
    return Status(201, version)


@router.get(
    WS + "/recipes/{recipe_id}/versions/{number}",
    response=answers({200: VersionDetailOut}),
    summary="One version",
)
@operation(need=Perm.WORKSPACE_VIEW)
def version_get(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId, number: Count
) -> RecipeVersion:
    return selectors.recipe_version(_recipe(request, recipe_id), number)


@router.post(
    WS + "/recipes/{recipe_id}/versions/{number}/restore",
    response=answers({201: VersionDetailOut}),
    summary="Restore an earlier version as a new version",
)
@operation(need=Perm.WORKSPACE_VIEW)
def version_restore(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId, number: Count
) -> Status[RecipeVersion]:
    """A new version with the earlier version's definition; the earlier one stays as it was."""
    version = services.recipe_restore(
        actor=_actor(request), recipe=_recipe(request, recipe_id, need=Perm.RECIPE_EDIT), number=number
    )
    return Status(201, version)


@router.get(
    WS + "/recipes/{recipe_id}/diff",
    response=answers({200: dict[str, Any]}),
    summary="What changed between two versions, step by step",
)
@operation(need=Perm.WORKSPACE_VIEW)
def recipe_diff(
    request: HttpRequest,
    workspace_id: WorkspaceRef,
    recipe_id: ObjectId,
    from_version: int = Query(..., alias="from", ge=1, le=MAX_INT),  # type: ignore[type-arg]
    to_version: int = Query(..., alias="to", ge=1, le=MAX_INT),  # type: ignore[type-arg]
) -> dict[str, Any]:
    recipe = _recipe(request, recipe_id)
    old = selectors.recipe_version(recipe, from_version)
    new = selectors.recipe_version(recipe, to_version)
    return {"from": old.number, "to": new.number, **definition_diff(old.definition, new.definition).as_dict()}


@router.post(
    WS + "/recipes/{recipe_id}/start",
    response=answers({200: RecipeOut}),
    summary="Start: the trigger runs the current version",
)
@operation(need=Perm.WORKSPACE_VIEW)
def recipe_start(request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId) -> Recipe:
    return triggers.recipe_start(actor=_actor(request), recipe=_recipe(request, recipe_id))


@router.post(
    WS + "/recipes/{recipe_id}/stop", response=answers({200: RecipeOut}), summary="Stop: only test runs"
)
@operation(need=Perm.WORKSPACE_VIEW)
def recipe_stop(request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId) -> Recipe:
    return services.recipe_stop(actor=_actor(request), recipe=_recipe(request, recipe_id))


@router.get(
    WS + "/recipes/{recipe_id}/export",
    response=answers({200: ExportOut}),
    summary="Export a version: its definition, secrets by name only",
)
@operation(need=Perm.WORKSPACE_VIEW)
def recipe_export(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId, version: Count | None = None
) -> dict[str, Any]:
    recipe = _recipe(request, recipe_id)
    chosen = selectors.recipe_version(recipe, version) if version is not None else None
    return services.recipe_export(actor=_actor(request), recipe=recipe, version=chosen)


@router.post(
    WS + "/recipes/{recipe_id}/import",
    response=answers({201: VersionDetailOut}),
    summary="Import an export as a new version",
)
@operation(need=Perm.WORKSPACE_VIEW)
def recipe_import_version(
    request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId, body: ImportVersionIn
) -> Status[RecipeVersion]:
    version = services.recipe_import(
        actor=_actor(request),
        workspace=_ws(request),
        data=body.export.model_dump(),
        into=_recipe(request, recipe_id),
    )
    return Status(201, version)


# Bookmarks.


@router.get(
    WS + "/bookmarks",
    response=answers({200: list[RecipeOut]}),
    summary="Your bookmarked recipes that you may still read",
)
@operation(need=Perm.WORKSPACE_VIEW)
def bookmark_list(request: HttpRequest, workspace_id: WorkspaceRef) -> list[Recipe]:
    return list(selectors.bookmarked_recipes(_actor(request), _ws(request)))


@router.put(WS + "/recipes/{recipe_id}/bookmark", response=answers({204: None}), summary="Bookmark a recipe")
@operation(need=Perm.WORKSPACE_VIEW)
def bookmark_put(request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId) -> Status[None]:
    services.bookmark_add(actor=_actor(request), recipe=_recipe(request, recipe_id))
    return Status(204, None)


@router.delete(
    WS + "/recipes/{recipe_id}/bookmark", response=answers({204: None}), summary="Remove a bookmark"
)
@operation(need=Perm.WORKSPACE_VIEW)
def bookmark_delete(request: HttpRequest, workspace_id: WorkspaceRef, recipe_id: ObjectId) -> Status[None]:
    services.bookmark_remove(actor=_actor(request), recipe=_recipe(request, recipe_id))
    return Status(204, None)


# Lookup tables.


@router.get(
    WS + "/lookup-tables", response=answers({200: list[TableOut]}), summary="Lookup tables you may see"
)
@operation(need=Perm.WORKSPACE_VIEW)
def table_list(
    request: HttpRequest, workspace_id: WorkspaceRef, project_id: ObjectId | None = None
) -> list[LookupTable]:
    project = access.project_get(_actor(request), _ws(request), project_id) if project_id else None
    return list(selectors.lookup_tables_list(_actor(request), _ws(request), project=project))


@router.post(
    WS + "/lookup-tables",
    response=answers({201: TableOut}, conflict=True),
    summary="Create a lookup table with typed columns",
)
@operation(need=Perm.WORKSPACE_VIEW)
def table_create(request: HttpRequest, workspace_id: WorkspaceRef, body: TableIn) -> Status[LookupTable]:
    project = access.project_get(_actor(request), _ws(request), body.project_id)
    table = services.lookup_table_create(
        actor=_actor(request),
        workspace=_ws(request),
        project=project,
        folder=_folder(request, body.folder_id),
        name=body.name,
        columns=[c.model_dump() for c in body.columns],
        key_column=body.key_column,
    )
    return Status(201, table)


@router.get(
    WS + "/lookup-tables/{table_id}", response=answers({200: TableOut}), summary="A lookup table's columns"
)
@operation(need=Perm.WORKSPACE_VIEW)
def table_get(request: HttpRequest, workspace_id: WorkspaceRef, table_id: ObjectId) -> LookupTable:
    found: LookupTable = access.lookup_table_get(_actor(request), _ws(request), table_id)
    return found


@router.delete(
    WS + "/lookup-tables/{table_id}", response=answers({204: None}), summary="Delete a table and its rows"
)
@operation(need=Perm.WORKSPACE_VIEW)
def table_delete(request: HttpRequest, workspace_id: WorkspaceRef, table_id: ObjectId) -> Status[None]:
    found = access.lookup_table_get(_actor(request), _ws(request), table_id)
    services.lookup_table_delete(actor=_actor(request), table=found)
    return Status(204, None)


@router.get(
    WS + "/lookup-tables/{table_id}/rows",
    response=answers({200: list[dict[str, Any]]}),
    summary="Every row of a lookup table",
)
@operation(need=Perm.WORKSPACE_VIEW)
def row_list(request: HttpRequest, workspace_id: WorkspaceRef, table_id: ObjectId) -> list[dict[str, Any]]:
    return selectors.lookup_rows(access.lookup_table_get(_actor(request), _ws(request), table_id))


@router.put(
    WS + "/lookup-tables/{table_id}/rows/{key}",
    response=answers({200: dict[str, Any]}),
    summary="Create or update the row with this key",
)
@operation(need=Perm.WORKSPACE_VIEW)
def row_put(
    request: HttpRequest, workspace_id: WorkspaceRef, table_id: ObjectId, key: RowKey, body: RowIn
) -> dict[str, Any]:
    found = access.lookup_table_get(_actor(request), _ws(request), table_id)
    row = services.lookup_row_edit(actor=_actor(request), table=found, key=key, values=body.values)
    values: dict[str, Any] = row.values
    return values


@router.delete(
    WS + "/lookup-tables/{table_id}/rows/{key}", response=answers({204: None}), summary="Delete a row"
)
@operation(need=Perm.WORKSPACE_VIEW)
def row_delete(
    request: HttpRequest, workspace_id: WorkspaceRef, table_id: ObjectId, key: RowKey
) -> Status[None]:
    found = access.lookup_table_get(_actor(request), _ws(request), table_id)
    services.lookup_row_remove(actor=_actor(request), table=found, key=key)
    return Status(204, None)
