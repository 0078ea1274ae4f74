"""Reads of projects, folders, recipes, versions, lookup rows and bookmarks, through `access` alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from causeway.access.errors import NotFound
from causeway.access.perms import Environment, Perm
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.recipes.definition import secret_names
from causeway.recipes.models import Folder, LookupRow, LookupTable, Project, Recipe, RecipeVersion
from causeway.workspaces.models import Workspace


def projects_list(actor: Actor, workspace: Workspace, *, environment: str | None = None) -> QuerySet[Project]:
    projects = Project.objects.visible_to(actor, workspace=workspace).order_by("environment", "name")
    if environment:
        projects = projects.filter(environment=environment)
    return projects


def project_copies(actor: Actor, project: Project) -> list[Project]:
    """The project's copies in DEV, TEST and PROD that the actor may see, in that order."""
    order = {e.value: n for n, e in enumerate(Environment)}
    found = Project.objects.visible_to(actor, workspace=project.workspace).filter(family=project.family)
    return sorted(found, key=lambda p: order[p.environment])


def folders_list(actor: Actor, workspace: Workspace, *, project: Project | None = None) -> QuerySet[Folder]:
    folders = Folder.objects.visible_to(actor, workspace=workspace).select_related("project", "parent")
    if project is not None:
        folders = folders.filter(project=project)
    return folders.order_by("name")


def recipes_list(
    actor: Actor,
    workspace: Workspace,
    *,
    project: Project | None = None,
    folder: Folder | None = None,
    top_only: bool = False,
    search: str = "",
    active: bool | None = None,
    environment: str = "",
    need: Perm = Perm.RECIPE_VIEW,
) -> QuerySet[Recipe]:
    """The recipes the actor may `need`, narrowed by project, folder, a name search, started or not and
    the environment of their project."""
    recipes = Recipe.objects.visible_to(actor, need, workspace).select_related(
        "project", "folder", "current_version"
    )
    if project is not None:
        recipes = recipes.filter(project=project)
    if folder is not None:
        recipes = recipes.filter(folder=folder)
    elif top_only:
        recipes = recipes.filter(folder__isnull=True)
    if search:
        recipes = recipes.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if active is not None:
        recipes = recipes.filter(active=active)
    if environment:
        recipes = recipes.filter(project__environment=environment)
    return recipes.order_by("name")


def lookup_tables_list(
    actor: Actor, workspace: Workspace, *, project: Project | None = None
) -> QuerySet[LookupTable]:
    tables = LookupTable.objects.visible_to(actor, workspace=workspace).select_related("project", "folder")
    if project is not None:
        tables = tables.filter(project=project)
    return tables.order_by("name")


def recipe_versions(recipe: Recipe) -> QuerySet[RecipeVersion]:
    """A recipe's versions, newest first; the caller has read the recipe through `access`."""
    return RecipeVersion.objects.filter(recipe=recipe).select_related("created_by").order_by("-number")


MAX_VERSION = 2**31 - 1


def recipe_version(recipe: Recipe, number: Any) -> RecipeVersion:
    """One version by number: ValidationError naming `version` if `number` is not a version number at
    all, NotFound if the recipe has no such version."""
    try:
        wanted = int(str(number).strip())
    except (TypeError, ValueError):
        wanted = 0
    if not 1 <= wanted <= MAX_VERSION:
        raise ValidationError({"version": f"a version is a whole number from 1 to {MAX_VERSION}"})
    found = RecipeVersion.objects.filter(recipe=recipe, number=wanted).first()
    if found is None:
        raise NotFound("version")
    return found


def lookup_rows(table: LookupTable) -> list[dict[str, Any]]:
    """Every row's values (opened), in the order rows were made; the caller has read the table."""
    return [row.values for row in LookupRow.objects.filter(table=table).order_by("created_at")]


def bookmarked_recipes(actor: Actor, workspace: Workspace) -> QuerySet[Recipe]:
    """The actor's bookmarks that it may still read."""
    if not isinstance(actor, User):
        return Recipe.objects.none()
    return (
        Recipe.objects.visible_to(actor, Perm.RECIPE_VIEW, workspace)
        .filter(bookmarks__user=actor)
        .select_related("project", "folder")
        .order_by("name")
    )


def is_bookmarked(actor: Actor, recipe: Recipe) -> bool:
    return isinstance(actor, User) and recipe.bookmarks.filter(user=actor).exists()


@dataclass
class FolderNode:
    folder: Folder | None
    children: list[FolderNode] = field(default_factory=list)
    recipes: list[Recipe] = field(default_factory=list)
    tables: list[LookupTable] = field(default_factory=list)
    depth: int = 0


def project_tree(actor: Actor, project: Project) -> FolderNode:
    """The project's folders as a tree, each with the recipes and lookup tables the actor may see in it."""
    workspace = project.workspace
    folders = list(folders_list(actor, workspace, project=project))
    nodes: dict[Any, FolderNode] = {f.id: FolderNode(folder=f) for f in folders}
    root = FolderNode(folder=None)
    for f in folders:
        (nodes[f.parent_id] if f.parent_id in nodes else root).children.append(nodes[f.id])
    for recipe in recipes_list(actor, workspace, project=project):
        (nodes.get(recipe.folder_id) or root).recipes.append(recipe)
    for table in lookup_tables_list(actor, workspace, project=project):
        (nodes.get(table.folder_id) or root).tables.append(table)

    def depth(node: FolderNode, level: int) -> None:
        node.depth = level
        for child in node.children:
            depth(child, level + 1)

    depth(root, 0)
    return root


def tree_rows(root: FolderNode) -> list[FolderNode]:
    """The tree flattened in display order (each folder after its parent)."""
    rows: list[FolderNode] = []

    def walk(node: FolderNode) -> None:
        rows.append(node)
        for child in node.children:
            walk(child)

    walk(root)
    return rows


def secret_references(
    actor: Actor, workspace: Workspace, names: Sequence[str]
) -> Mapping[str, Sequence[str]]:
    """For the Vault page: the recipes the viewer may read that refer to each secret (current versions)."""
    wanted = set(names)
    found: dict[str, list[str]] = {}
    if not wanted:
        return found
    recipes = Recipe.objects.visible_to(actor, Perm.RECIPE_VIEW, workspace).select_related("current_version")
    for recipe in recipes:
        if recipe.current_version is None:
            continue
        for name in secret_names(recipe.current_version.definition) & wanted:
            found.setdefault(name, []).append(recipe.name)
    return found
