"""Changes to projects, recipes and lookup tables. Each asks `access`, runs in one transaction, and records
its audit event inside it."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, ProtectedError

from causeway.access import policy
from causeway.access.perms import Environment, Perm
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.db import conflict, save_or_conflict
from causeway.recipes import policy as access
from causeway.recipes.definition import definition_clean
from causeway.recipes.models import (
    Bookmark,
    Folder,
    LookupRow,
    LookupTable,
    Project,
    Recipe,
    RecipeDraft,
    RecipeGrant,
    RecipeVersion,
)
from causeway.recipes.selectors import recipe_version
from causeway.vault.fields import blind_index
from causeway.workspaces.models import Workspace

LOOKUP_COLUMN_TYPES = ("text", "integer", "number", "boolean", "date")


def _name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({field: "a name is required"})
    clean: str = value.strip()
    if len(clean) > 100:
        raise ValidationError({field: "a name is at most 100 characters"})
    return clean


def _audit_actor(actor: Actor) -> Any:
    """Users and service accounts name themselves; the operator's command line is the system."""
    return actor if hasattr(actor, "audit_actor") or policy.is_system(actor) else None


@transaction.atomic
def project_create(
    *, actor: Actor, workspace: Workspace, name: str, environment: str = "dev", description: str = ""
) -> Project:
    """A new project, in all three environments at once, each copy empty; returned: the copy in
    `environment`, whose policy must let the actor create a project (rule 5: DEV by default)."""
    known = environment in {e.value for e in Environment}
    # An unknown environment is named only to whoever may create a project somewhere.
    policy.require_in_environment(actor, workspace, Perm.PROJECT_CREATE, environment if known else None)
    if not known:
        raise ValidationError({"environment": "must be dev, test or prod"})
    clean = _name(name)
    family = uuid.uuid4()
    copies = {}
    for env in Environment:
        copies[env.value] = Project(
            workspace=workspace,
            name=clean,
            environment=env.value,
            family=family,
            description=(description or "")[:500],
            created_by=actor if isinstance(actor, User) else None,
        )
        save_or_conflict(
            copies[env.value],
            field="name",
            message=f"a project named {clean} already exists in {env.value.upper()}",
            force_insert=True,
        )
    project = copies[environment]
    audit_record(
        actor=_audit_actor(actor),
        action="project.created",
        target=project,
        workspace_id=workspace.id,
        details={"environment": environment, "environments": [e.value for e in Environment]},
    )
    return project


def _folder_in(project: Project, folder: Folder | None) -> Folder | None:
    if folder is not None and folder.project_id != project.id:
        raise ValidationError({"folder": "the folder is not in this project"})
    return folder


@transaction.atomic
def recipe_create(
    *,
    actor: Actor,
    workspace: Workspace,
    project: Project,
    name: str,
    definition: Any,
    folder: Folder | None = None,
    description: str = "",
) -> Recipe:
    """A new recipe with its first version; its creator (a user) gets read, write, execute and debug."""
    access.require_on_project(actor, workspace, project, Perm.RECIPE_CREATE)
    clean = definition_clean(definition)
    recipe = Recipe(
        workspace=workspace,
        project=project,
        folder=_folder_in(project, folder),
        name=_name(name),
        description=(description or "")[:500],
        trigger_type=clean["trigger"]["type"],
        created_by=actor if isinstance(actor, User) else None,
    )
    save_or_conflict(
        recipe,
        field="name",
        message=f"a recipe named {recipe.name} already exists in this project",
        force_insert=True,
    )
    version = RecipeVersion.objects.create(
        workspace=workspace,
        recipe=recipe,
        number=1,
        definition=clean,
        message="created",
        created_by=recipe.created_by,
    )
    recipe.current_version = version
    recipe.save(update_fields=["current_version"])
    if isinstance(actor, User):
        RecipeGrant.objects.create(
            workspace=workspace, recipe=recipe, user=actor, read=True, write=True, execute=True, debug=True
        )
    audit_record(
        actor=_audit_actor(actor),
        action="recipe.created",
        target=recipe,
        workspace_id=workspace.id,
        details={"project": project.name, "version": 1},
    )
    return recipe


@transaction.atomic
def recipe_save(
    *, actor: Actor, recipe: Recipe, definition: Any, message: str = "", restored_from: int | None = None
) -> RecipeVersion:
    """A new immutable version; the recipe's current version moves to it. The actor's draft, if any,
    has become this version and goes."""
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_EDIT)
    access.require_by_promotion(actor, recipe.project, Perm.RECIPE_EDIT)
    clean = definition_clean(definition)
    locked = Recipe.objects.select_for_update().get(pk=recipe.pk)
    number = (RecipeVersion.objects.filter(recipe=locked).aggregate(n=Max("number"))["n"] or 0) + 1
    version = RecipeVersion.objects.create(
        workspace_id=locked.workspace_id,
        recipe=locked,
        number=number,
        definition=clean,
        message=(message or "")[:200],
        created_by=actor if isinstance(actor, User) else None,
    )
    locked.current_version = version
    locked.trigger_type = clean["trigger"]["type"]
    locked.save(update_fields=["current_version", "trigger_type", "updated_at"])
    if isinstance(actor, User):
        RecipeDraft.objects.filter(recipe=locked, user=actor).delete()
    audit_record(
        actor=_audit_actor(actor),
        action="recipe.saved" if restored_from is None else "recipe.restored",
        target=locked,
        workspace_id=locked.workspace_id,
        details={"version": number} if restored_from is None else {"version": number, "from": restored_from},
    )
    return version


@transaction.atomic
def recipe_restore(*, actor: Actor, recipe: Recipe, number: Any) -> RecipeVersion:
    """A new version with an earlier version's definition; the earlier one stays as it was."""
    old = recipe_version(recipe, number)
    return recipe_save(
        actor=actor,
        recipe=recipe,
        definition=old.definition,
        message=f"Restored from version {old.number}",
        restored_from=old.number,
    )


def recipe_draft_get(*, actor: Actor, recipe: Recipe) -> RecipeDraft | None:
    """The actor's own unsaved draft of the recipe, if any: drafts are never shown to anyone else."""
    if not isinstance(actor, User):
        return None
    return RecipeDraft.objects.filter(recipe=recipe, user=actor).first()


@transaction.atomic
def recipe_draft_put(*, actor: Actor, recipe: Recipe, draft: dict[str, Any]) -> RecipeDraft:
    """Keep the actor's edits of the recipe as they stand; nothing is checked until they become a version."""
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_EDIT)
    access.require_by_promotion(actor, recipe.project, Perm.RECIPE_EDIT)
    if not isinstance(actor, User):
        raise ValidationError({"draft": "only a person keeps a draft"})
    base = recipe.current_version.number if recipe.current_version else 0
    found, created = RecipeDraft.objects.update_or_create(
        recipe=recipe,
        user=actor,
        defaults={"workspace_id": recipe.workspace_id, "draft": draft, "base_number": base},
    )
    audit_record(
        actor=actor,
        action="recipe.draft_started" if created else "recipe.draft_saved",
        target=recipe,
        workspace_id=recipe.workspace_id,
        details={"base_version": base},
    )
    return found


@transaction.atomic
def recipe_draft_discard(*, actor: Actor, recipe: Recipe) -> bool:
    """Drop the actor's draft of the recipe; whether there was one."""
    if not isinstance(actor, User):
        return False
    deleted, _ = RecipeDraft.objects.filter(recipe=recipe, user=actor).delete()
    if deleted:
        audit_record(
            actor=actor, action="recipe.draft_discarded", target=recipe, workspace_id=recipe.workspace_id
        )
    return bool(deleted)


@transaction.atomic
def recipe_activate(*, actor: Actor, recipe: Recipe) -> Recipe:
    """Mark the recipe started on its current version (`recipe:test`). Its trigger is armed by
    `runs.triggers.recipe_start`, which calls this: that is how a recipe is started."""
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_TEST)
    locked = Recipe.objects.select_for_update().get(pk=recipe.pk)
    locked.active = True
    locked.active_version = locked.current_version
    locked.save(update_fields=["active", "active_version", "updated_at"])
    audit_record(
        actor=_audit_actor(actor),
        action="recipe.started",
        target=locked,
        workspace_id=locked.workspace_id,
        details={"version": locked.active_version.number if locked.active_version else None},
    )
    return locked


@transaction.atomic
def recipe_stop(*, actor: Actor, recipe: Recipe) -> Recipe:
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_TEST)
    locked = Recipe.objects.select_for_update().get(pk=recipe.pk)
    locked.active = False
    locked.save(update_fields=["active", "updated_at"])
    audit_record(
        actor=_audit_actor(actor), action="recipe.stopped", target=locked, workspace_id=locked.workspace_id
    )
    return locked


# Lookup tables.


def _columns(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise ValidationError({"columns": "a lookup table needs at least one column"})
    seen: set[str] = set()
    clean: list[dict[str, str]] = []
    for column in raw:
        name = column.get("name") if isinstance(column, dict) else None
        kind = column.get("type", "text") if isinstance(column, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > 60:
            raise ValidationError({"columns": "each column needs a name of at most 60 characters"})
        if name in seen:
            raise ValidationError({"columns": f"the column {name} appears twice"})
        if kind not in LOOKUP_COLUMN_TYPES:
            raise ValidationError({"columns": f"a column type is one of {', '.join(LOOKUP_COLUMN_TYPES)}"})
        seen.add(name)
        clean.append({"name": name.strip(), "type": kind})
    return clean


@transaction.atomic
def lookup_table_create(
    *,
    actor: Actor,
    workspace: Workspace,
    project: Project,
    name: str,
    columns: Any,
    key_column: str,
    folder: Folder | None = None,
) -> LookupTable:
    access.require_on_project(actor, workspace, project, Perm.LOOKUP_TABLE_CREATE)
    clean = _columns(columns)
    if key_column not in {c["name"] for c in clean}:
        raise ValidationError({"key_column": "the key column must be one of the columns"})
    table = LookupTable(
        workspace=workspace,
        project=project,
        folder=_folder_in(project, folder),
        name=_name(name),
        columns=clean,
        key_column=key_column,
    )
    save_or_conflict(
        table,
        field="name",
        message=f"a lookup table named {table.name} already exists here",
        force_insert=True,
    )
    audit_record(
        actor=_audit_actor(actor), action="lookup_table.created", target=table, workspace_id=workspace.id
    )
    return table


def lookup_key_index(table: LookupTable, key: Any) -> str:
    """The blind index a row is found by; it names the table, so equal keys of two tables differ."""
    return blind_index(f"recipes.lookup.{table.id}", str(key))


def _typed(table: LookupTable, values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ValidationError({"values": "a row is an object of column names to values"})
    columns = {c["name"]: c["type"] for c in table.columns}
    unknown = set(values) - set(columns)
    if unknown:
        raise ValidationError({"values": f"unknown column(s): {', '.join(sorted(unknown))}"})
    typed: dict[str, Any] = {}
    for name, value in values.items():
        typed[name] = _coerce(name, columns[name], value)
    return typed


def _coerce(name: str, kind: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    try:
        if kind == "integer":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind == "number":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes"):
                return True
            if str(value).lower() in ("false", "0", "no"):
                return False
            raise ValueError
        if kind == "date":
            from datetime import date

            return date.fromisoformat(str(value)).isoformat()
    except (TypeError, ValueError):
        raise ValidationError({name: f"{name} must be a {kind}"}) from None
    return str(value)


def lookup_row_get(*, table: LookupTable, key: Any) -> LookupRow | None:
    """The row with this key, or None. The caller has already been let in by `access`."""
    return LookupRow.objects.filter(table=table, key_index=lookup_key_index(table, key)).first()


@transaction.atomic
def lookup_row_put(
    *, actor: Actor, table: LookupTable, key: Any, values: Any, audit: bool = True
) -> LookupRow:
    """Create the row with this key, or update the columns given; the key column is set from `key`.

    A job's writes are recorded in its history rather than the audit log (`audit=False`).
    """
    if key is None or str(key) == "":
        raise ValidationError({"key": "a row needs a key"})
    typed = _typed(table, values)
    typed[table.key_column] = _coerce(
        table.key_column, next(c["type"] for c in table.columns if c["name"] == table.key_column), key
    )
    index = lookup_key_index(table, typed[table.key_column])
    row = LookupRow.objects.select_for_update().filter(table=table, key_index=index).first()
    if row is None:
        row = LookupRow(workspace_id=table.workspace_id, table=table, key_index=index, values=typed)
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            row = LookupRow.objects.select_for_update().get(table=table, key_index=index)
            row.values = {**row.values, **typed}
            row.save(update_fields=["values", "updated_at"])
        action = "lookup_row.created"
    else:
        row.values = {**row.values, **typed}
        row.save(update_fields=["values", "updated_at"])
        action = "lookup_row.updated"
    if audit:
        audit_record(
            actor=_audit_actor(actor),
            action=action,
            target=row,
            workspace_id=table.workspace_id,
            details={"table": table.name},
        )
    return row


@transaction.atomic
def lookup_row_delete(*, actor: Actor, table: LookupTable, key: Any) -> None:
    row = lookup_row_get(table=table, key=key)
    if row is None:
        raise ValidationError({"key": "there is no row with this key"})
    target = row.audit_target
    row.delete()
    audit_record(
        actor=_audit_actor(actor),
        action="lookup_row.deleted",
        target=target,
        workspace_id=table.workspace_id,
        details={"table": table.name},
    )


def lookup_table_by_name(*, project: Project, name: str) -> LookupTable | None:
    """A recipe's steps name tables of their own project."""
    return LookupTable.objects.filter(project=project, name=name).first()


# Projects and folders.


@transaction.atomic
def project_rename(*, actor: Actor, project: Project, name: str, description: str | None = None) -> Project:
    """Rename the project: its name and description are the same in its three environments."""
    project = access.project_get(actor, project.workspace, project.id, need=Perm.PROJECT_EDIT)
    old = project.name
    clean = _name(name)
    copies = list(Project.objects.select_for_update().filter(family=project.family).order_by("environment"))
    for copy in copies:
        copy.name = clean
        if description is not None:
            copy.description = description[:500]
        save_or_conflict(
            copy,
            field="name",
            message=f"a project named {clean} already exists in {copy.environment.upper()}",
            update_fields=["name", "description"],
        )
        if copy.pk == project.pk:
            project = copy
    audit_record(
        actor=_audit_actor(actor),
        action="project.renamed",
        target=project,
        workspace_id=project.workspace_id,
        details={"from": old, "to": project.name},
    )
    return project


def _held_by(what: str, held: ProtectedError) -> str:
    """What keeps `what` from going, named (the API endpoints that run a recipe, the API collections a
    project publishes): those are removed first."""
    names = sorted({f"{found._meta.verbose_name} {found}" for found in held.protected_objects})
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return f"the {what} is in use by {shown}: remove those first"


@transaction.atomic
def project_delete(*, actor: Actor, project: Project) -> None:
    """Only an empty project goes, from all three environments at once: the recipes, folders and
    lookup tables of each of its copies must be moved or deleted first."""
    project = access.project_get(actor, project.workspace, project.id, need=Perm.PROJECT_DELETE)
    copies = list(Project.objects.select_for_update().filter(family=project.family).order_by("environment"))
    for copy in copies:
        held = {
            "recipes": copy.recipes.count(),
            "folders": copy.folders.count(),
            "lookup tables": copy.lookup_tables.count(),
        }
        if any(held.values()):
            what = ", ".join(f"{count} {kind}" for kind, count in held.items() if count)
            where = "" if copy.pk == project.pk else f" in {copy.environment.upper()}"
            raise ValidationError(
                {"project": f"the project is not empty{where} ({what}): delete those first"}
            )
    target = project.audit_target
    workspace_id = project.workspace_id
    try:
        Project.objects.filter(pk__in=[c.pk for c in copies]).delete()
    except ProtectedError as held:
        raise conflict("project", _held_by("project", held)) from None
    audit_record(
        actor=_audit_actor(actor),
        action="project.deleted",
        target=target,
        workspace_id=workspace_id,
        details={"environments": [c.environment for c in copies]},
    )


@transaction.atomic
def folder_create(
    *, actor: Actor, workspace: Workspace, project: Project, name: str, parent: Folder | None = None
) -> Folder:
    access.require_on_project(actor, workspace, project, Perm.FOLDER_CREATE)
    if parent is not None and parent.project_id != project.id:
        raise ValidationError({"parent": "the parent folder is not in this project"})
    folder = Folder(workspace=workspace, project=project, parent=parent, name=_name(name))
    save_or_conflict(
        folder, field="name", message=f"a folder named {folder.name} already exists here", force_insert=True
    )
    audit_record(
        actor=_audit_actor(actor),
        action="folder.created",
        target=folder,
        workspace_id=workspace.id,
        details={"project": project.name, "parent": parent.name if parent else None},
    )
    return folder


@transaction.atomic
def folder_rename(*, actor: Actor, folder: Folder, name: str) -> Folder:
    folder = access.folder_get(actor, folder.workspace, folder.id, need=Perm.FOLDER_EDIT)
    old = folder.name
    folder.name = _name(name)
    save_or_conflict(
        folder,
        field="name",
        message=f"a folder named {folder.name} already exists here",
        update_fields=["name"],
    )
    audit_record(
        actor=_audit_actor(actor),
        action="folder.renamed",
        target=folder,
        workspace_id=folder.workspace_id,
        details={"from": old, "to": folder.name},
    )
    return folder


@transaction.atomic
def folder_delete(*, actor: Actor, folder: Folder) -> None:
    """Only an empty folder goes: no sub-folders, recipes or lookup tables in it."""
    folder = access.folder_get(actor, folder.workspace, folder.id, need=Perm.FOLDER_DELETE)
    held = {
        "folders": folder.children.count(),
        "recipes": folder.recipes.count(),
        "lookup tables": LookupTable.objects.filter(folder=folder).count(),
    }
    if any(held.values()):
        what = ", ".join(f"{count} {kind}" for kind, count in held.items() if count)
        raise ValidationError({"folder": f"the folder is not empty ({what}): move or delete those first"})
    target = folder.audit_target
    workspace_id = folder.workspace_id
    folder.delete()
    audit_record(actor=_audit_actor(actor), action="folder.deleted", target=target, workspace_id=workspace_id)


# Recipes beyond their versions.


@transaction.atomic
def recipe_rename(*, actor: Actor, recipe: Recipe, name: str, description: str | None = None) -> Recipe:
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_EDIT)
    old = recipe.name
    recipe.name = _name(name)
    if description is not None:
        recipe.description = description[:500]
    save_or_conflict(
        recipe,
        field="name",
        message=f"a recipe named {recipe.name} already exists in this project",
        update_fields=["name", "description", "updated_at"],
    )
    audit_record(
        actor=_audit_actor(actor),
        action="recipe.renamed",
        target=recipe,
        workspace_id=recipe.workspace_id,
        details={"from": old, "to": recipe.name},
    )
    return recipe


@transaction.atomic
def recipe_move(*, actor: Actor, recipe: Recipe, folder: Folder | None) -> Recipe:
    """Into another folder of its project, or to the project's top (`folder=None`)."""
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_EDIT)
    if folder is not None:
        folder = access.folder_get(actor, recipe.workspace, folder.id, need=Perm.FOLDER_VIEW)
    recipe.folder = _folder_in(recipe.project, folder)
    recipe.save(update_fields=["folder", "updated_at"])
    audit_record(
        actor=_audit_actor(actor),
        action="recipe.moved",
        target=recipe,
        workspace_id=recipe.workspace_id,
        details={"folder": folder.name if folder else None},
    )
    return recipe


@transaction.atomic
def recipe_delete(*, actor: Actor, recipe: Recipe) -> None:
    """The recipe, its versions, grants, bookmarks and job history. A started recipe must be stopped first."""
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_DELETE)
    locked = Recipe.objects.select_for_update().get(pk=recipe.pk)
    if locked.active:
        raise ValidationError({"recipe": "the recipe is started: stop it before deleting it"})
    target = locked.audit_target
    versions = locked.versions.count()
    # Jobs hold their version with PROTECT (a version a job ran must not vanish under it); here the
    # jobs go with the recipe, so they are deleted first.
    locked.jobs.all().delete()
    try:
        locked.delete()
    except ProtectedError as held:
        raise conflict("recipe", _held_by("recipe", held)) from None
    audit_record(
        actor=_audit_actor(actor),
        action="recipe.deleted",
        target=target,
        workspace_id=recipe.workspace_id,
        details={"project": recipe.project.name, "versions": versions},
    )


# Export and import: the definition only. No id of this workspace travels, and secrets by name alone.

EXPORT_FORMAT = "causeway.recipe/1"


def recipe_export(*, actor: Actor, recipe: Recipe, version: RecipeVersion | None = None) -> dict[str, Any]:
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_VIEW)
    chosen = version or recipe.current_version
    if chosen is None or chosen.recipe_id != recipe.id:
        raise ValidationError({"version": "no such version of this recipe"})
    return {
        "format": EXPORT_FORMAT,
        "name": recipe.name,
        "description": recipe.description,
        "version": chosen.number,
        "definition": chosen.definition,
    }


def export_parse(raw: Any) -> dict[str, Any]:
    """An export file's content, checked: the format, a name, and a definition that passes the schema."""
    if not isinstance(raw, dict) or raw.get("format") != EXPORT_FORMAT:
        raise ValidationError({"file": f"not a Causeway recipe export (format {EXPORT_FORMAT})"})
    unknown = set(raw) - {"format", "name", "description", "version", "definition"}
    if unknown:
        raise ValidationError({"file": f"unknown field(s): {', '.join(sorted(map(str, unknown)))}"})
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise ValidationError({"description": "must be text"})
    return {
        "name": raw.get("name") if isinstance(raw.get("name"), str) else "",
        "description": description[:500],
        "definition": definition_clean(raw.get("definition")),
    }


@transaction.atomic
def recipe_import(
    *,
    actor: Actor,
    workspace: Workspace,
    data: Any,
    project: Project | None = None,
    folder: Folder | None = None,
    name: str = "",
    into: Recipe | None = None,
) -> RecipeVersion:
    """An export as a new recipe in `project` (named `name` or as in the file), or as a new version of
    `into`. Returns the version written."""
    parsed = export_parse(data)
    if into is not None:
        return recipe_save(actor=actor, recipe=into, definition=parsed["definition"], message="imported")
    if project is None:
        raise ValidationError({"project": "choose the project to import into"})
    recipe = recipe_create(
        actor=actor,
        workspace=workspace,
        project=project,
        folder=folder,
        name=name or parsed["name"],
        description=parsed["description"],
        definition=parsed["definition"],
    )
    version = recipe.current_version
    assert version is not None
    return version


# Lookup tables beyond their rows.


@transaction.atomic
def lookup_table_delete(*, actor: Actor, table: LookupTable) -> None:
    table = access.lookup_table_get(actor, table.workspace, table.id, need=Perm.LOOKUP_TABLE_DELETE)
    target = table.audit_target
    rows = table.rows.count()
    table.delete()
    audit_record(
        actor=_audit_actor(actor),
        action="lookup_table.deleted",
        target=target,
        workspace_id=table.workspace_id,
        details={"rows": rows},
    )


@transaction.atomic
def lookup_row_edit(*, actor: Actor, table: LookupTable, key: Any, values: Any) -> LookupRow:
    """A person's write of one row (create or update), asked of `access`: lookup_table:edit."""
    table = access.lookup_table_get(actor, table.workspace, table.id, need=Perm.LOOKUP_TABLE_EDIT)
    return lookup_row_put(actor=actor, table=table, key=key, values=values)


@transaction.atomic
def lookup_row_remove(*, actor: Actor, table: LookupTable, key: Any) -> None:
    table = access.lookup_table_get(actor, table.workspace, table.id, need=Perm.LOOKUP_TABLE_EDIT)
    lookup_row_delete(actor=actor, table=table, key=key)


# Bookmarks.


@transaction.atomic
def bookmark_add(*, actor: Actor, recipe: Recipe) -> Bookmark:
    if not isinstance(actor, User):
        raise ValidationError({"bookmark": "only people keep bookmarks"})
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_VIEW)
    bookmark, created = Bookmark.objects.get_or_create(user=actor, recipe=recipe)
    if created:
        audit_record(actor=actor, action="bookmark.added", target=recipe, workspace_id=recipe.workspace_id)
    return bookmark


@transaction.atomic
def bookmark_remove(*, actor: Actor, recipe: Recipe) -> None:
    if not isinstance(actor, User):
        raise ValidationError({"bookmark": "only people keep bookmarks"})
    recipe = access.recipe_get(actor, recipe.workspace, recipe.id, need=Perm.RECIPE_VIEW)
    deleted, _ = Bookmark.objects.filter(user=actor, recipe=recipe).delete()
    if deleted:
        audit_record(actor=actor, action="bookmark.removed", target=recipe, workspace_id=recipe.workspace_id)
