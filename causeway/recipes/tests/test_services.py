"""Projects, folders, recipes, export and import, lookup rows and bookmarks: the services and their audit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from causeway.access.errors import Forbidden, NotFound
from causeway.recipes import selectors, services
from causeway.recipes.models import Bookmark, Folder, LookupRow, Project, Recipe, RecipeGrant
from causeway.recipes.secrets import secret_write, secrets_visible
from causeway.recipes.tests.personas import HTTP_STEP, acme_people, definition
from causeway.workspaces.models import Membership
from causeway.workspaces.tests.helpers import AuditWatch, fast_hashing, on_workspace, role  # noqa: F401
from testkit.support import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(request: pytest.FixtureRequest) -> dict[str, Any]:
    request.getfixturevalue("fast_hashing")
    return acme_people()


def test_projects_and_nested_folders_are_created_renamed_and_deleted_when_empty(
    people: dict[str, Any],
) -> None:
    acme, analyst = people["acme"], people["analyst"]
    watch = AuditWatch()
    project = services.project_create(actor=analyst, workspace=acme, name="Billing", environment="dev")
    top = services.folder_create(actor=analyst, workspace=acme, project=project, name="Invoices")
    inner = services.folder_create(actor=analyst, workspace=acme, project=project, name="Overdue", parent=top)
    assert inner.parent == top
    with pytest.raises(ValidationError, match="already exists"):
        services.folder_create(actor=analyst, workspace=acme, project=project, name="Overdue", parent=top)
    services.project_rename(actor=analyst, project=project, name="Billing EU")
    services.folder_rename(actor=analyst, folder=inner, name="Late")
    with pytest.raises(ValidationError) as refused:
        services.folder_delete(actor=analyst, folder=top)
    assert "not empty (1 folders)" in str(refused.value.message_dict["folder"])
    with pytest.raises(ValidationError) as refused:
        services.project_delete(actor=analyst, project=project)
    assert "not empty (2 folders)" in refused.value.message_dict["project"][0]
    services.folder_delete(actor=analyst, folder=inner)
    services.folder_delete(actor=analyst, folder=top)
    services.project_delete(actor=analyst, project=project)
    assert not Project.objects.filter(pk=project.pk).exists()
    assert watch.actions() == [
        on_workspace(acme, action)
        for action in (
            "project.created",
            "folder.created",
            "folder.created",
            "project.renamed",
            "folder.renamed",
            "folder.deleted",
            "folder.deleted",
            "project.deleted",
        )
    ]


def test_a_project_holding_a_recipe_is_not_deleted(people: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        services.project_delete(actor=people["admin"], project=people["project"])
    assert refused.value.message_dict["project"] == [
        "the project is not empty (1 recipes, 1 lookup tables): delete those first"
    ]
    assert Project.objects.filter(pk=people["project"].pk).exists()


def test_rule_04_operator_may_not_create_rename_or_delete_content(people: dict[str, Any]) -> None:
    acme, operator, project, recipe = people["acme"], people["operator"], people["project"], people["recipe"]
    attempts = [
        lambda: services.project_create(actor=operator, workspace=acme, name="Mine"),
        lambda: services.project_rename(actor=operator, project=project, name="Mine"),
        lambda: services.project_delete(actor=operator, project=project),
        lambda: services.folder_create(actor=operator, workspace=acme, project=project, name="Mine"),
        lambda: services.recipe_create(
            actor=operator, workspace=acme, project=project, name="Mine", definition=definition()
        ),
        lambda: services.recipe_save(actor=operator, recipe=recipe, definition=definition()),
        lambda: services.recipe_rename(actor=operator, recipe=recipe, name="Mine"),
        lambda: services.recipe_move(actor=operator, recipe=recipe, folder=None),
        lambda: services.recipe_delete(actor=operator, recipe=recipe),
    ]
    for attempt in attempts:
        with pytest.raises(Forbidden):
            attempt()
    # Lookup tables are not among what rule 4 lets an Operator read: to it they do not exist.
    for attempt in (
        lambda: services.lookup_row_edit(actor=operator, table=people["table"], key="a", values={}),
        lambda: services.lookup_table_delete(actor=operator, table=people["table"]),
    ):
        with pytest.raises(NotFound):
            attempt()
    # Start and stop are rule 4's "start and stop recipe tests": an Operator holds recipe:test in DEV.
    assert services.recipe_activate(actor=operator, recipe=recipe).active
    assert not services.recipe_stop(actor=operator, recipe=recipe).active
    assert Recipe.objects.get(pk=recipe.pk).name == "Sync"
    assert Recipe.objects.get(pk=recipe.pk).current_version.number == 1


def test_recipes_are_renamed_moved_and_deleted_with_their_history_audited(people: dict[str, Any]) -> None:
    acme, analyst, recipe = people["acme"], people["analyst"], people["recipe"]
    folder = services.folder_create(actor=analyst, workspace=acme, project=people["project"], name="Nightly")
    watch = AuditWatch()
    services.recipe_rename(actor=analyst, recipe=recipe, name="Sync orders", description="orders to CRM")
    services.recipe_move(actor=analyst, recipe=recipe, folder=folder)
    assert Recipe.objects.get(pk=recipe.pk).folder == folder
    services.recipe_activate(actor=analyst, recipe=recipe)
    with pytest.raises(ValidationError, match="stop it before deleting"):
        services.recipe_delete(actor=analyst, recipe=recipe)
    services.recipe_stop(actor=analyst, recipe=recipe)
    services.recipe_save(actor=analyst, recipe=recipe, definition=definition(HTTP_STEP))
    services.recipe_delete(actor=analyst, recipe=recipe)
    assert not Recipe.objects.filter(pk=recipe.pk).exists()
    assert not RecipeGrant.objects.filter(recipe_id=recipe.pk).exists()
    actions = [action for _, action in watch.actions()]
    assert actions == [
        "recipe.renamed",
        "recipe.moved",
        "recipe.started",
        "recipe.stopped",
        "recipe.saved",
        "recipe.deleted",
    ]
    deleted = watch.new()[-1]
    assert deleted.target_label == "Sync orders"


def test_a_recipe_cannot_move_into_another_projects_folder(people: dict[str, Any]) -> None:
    acme, analyst = people["acme"], people["analyst"]
    elsewhere = services.project_create(actor=analyst, workspace=acme, name="Ops")
    folder = services.folder_create(actor=analyst, workspace=acme, project=elsewhere, name="X")
    with pytest.raises(ValidationError, match="not in this project"):
        services.recipe_move(actor=analyst, recipe=people["recipe"], folder=folder)


def test_rule_09_another_workspaces_objects_are_not_found(people: dict[str, Any]) -> None:
    outsider = people["outsider"]
    with pytest.raises(NotFound):
        services.recipe_rename(actor=outsider, recipe=people["recipe"], name="Taken")
    with pytest.raises(NotFound):
        services.project_delete(actor=outsider, project=people["project"])
    with pytest.raises(NotFound):
        services.recipe_export(actor=outsider, recipe=people["recipe"])
    with pytest.raises(NotFound):
        services.bookmark_add(actor=outsider, recipe=people["recipe"])
    assert Recipe.objects.get(pk=people["recipe"].pk).name == "Sync"


SECRET_STEP = {
    "id": "post",
    "type": "http",
    "method": "POST",
    "url": "https://api.example.com/orders",
    "headers": {"Authorization": "Bearer {{ secret.CRM_TOKEN }}"},
    "body_type": "json",
    "body": {"total": "{{ steps.fetch.total }}"},
}


def test_export_then_import_round_trips_the_definition_and_carries_no_ids_or_values(
    people: dict[str, Any],
) -> None:
    acme, analyst, recipe = people["acme"], people["analyst"], people["recipe"]
    secret_write(actor=people["admin"], workspace=acme, name="CRM_TOKEN", value="crm-canary-value-1")
    version = services.recipe_save(
        actor=analyst, recipe=recipe, definition=definition(HTTP_STEP, SECRET_STEP)
    )
    exported = services.recipe_export(actor=analyst, recipe=recipe)
    text = json.dumps(exported)
    assert exported["format"] == services.EXPORT_FORMAT and exported["version"] == 2
    assert "CRM_TOKEN" in text and "crm-canary-value-1" not in text
    for leak in (acme.id, recipe.id, people["project"].id, version.id, analyst.id, acme.slug):
        assert str(leak) not in text

    copy = services.recipe_import(
        actor=analyst, workspace=acme, data=json.loads(text), project=people["project"], name="Sync copy"
    )
    assert copy.recipe.name == "Sync copy" and copy.number == 1
    assert copy.definition == version.definition
    again = services.recipe_import(actor=analyst, workspace=acme, data=exported, into=recipe)
    assert again.number == 3 and again.definition == version.definition and again.message == "imported"
    older = services.recipe_export(actor=analyst, recipe=recipe, version=selectors.recipe_version(recipe, 1))
    assert older["version"] == 1 and len(older["definition"]["steps"]) == 2


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"definition": {"trigger": {"type": "manual"}}}, "file"),
        ({"format": "causeway.recipe/1", "definition": {}, "workspace_id": "x"}, "file"),
        ({"format": "causeway.recipe/1", "definition": {"trigger": {"type": "cron"}}}, "trigger.type"),
        ([1, 2], "file"),
    ],
)
def test_an_import_that_is_not_a_valid_export_is_refused(
    people: dict[str, Any], data: Any, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        services.recipe_import(
            actor=people["analyst"], workspace=people["acme"], data=data, into=people["recipe"]
        )
    assert field in refused.value.message_dict
    assert people["recipe"].versions.count() == 1


def test_lookup_rows_are_typed_by_column_and_sealed_at_rest(people: dict[str, Any]) -> None:
    table, analyst = people["table"], people["analyst"]
    services.lookup_row_edit(actor=analyst, table=table, key="SKU-1", values={"price": "9.5"})
    services.lookup_row_edit(actor=analyst, table=table, key="SKU-1", values={"price": 10})
    services.lookup_row_edit(actor=analyst, table=table, key="SKU-2", values={"price": ""})
    assert selectors.lookup_rows(table) == [{"sku": "SKU-1", "price": 10.0}, {"sku": "SKU-2", "price": None}]
    with pytest.raises(ValidationError) as refused:
        services.lookup_row_edit(actor=analyst, table=table, key="SKU-3", values={"price": "cheap"})
    assert refused.value.message_dict == {"price": ["price must be a number"]}
    with connection.cursor() as cursor:
        cursor.execute('SELECT "values" FROM recipes_lookuprow')
        stored = " ".join(str(bytes(row[0]) if isinstance(row[0], memoryview) else row[0]) for row in cursor)
    assert "SKU-1" not in stored
    services.lookup_row_remove(actor=analyst, table=table, key="SKU-2")
    with pytest.raises(ValidationError, match="no row"):
        services.lookup_row_remove(actor=analyst, table=table, key="SKU-2")
    assert LookupRow.objects.filter(table=table).count() == 1


def test_bookmarks_list_only_recipes_still_readable(people: dict[str, Any]) -> None:
    acme, analyst, admin = people["acme"], people["analyst"], people["admin"]
    services.bookmark_add(actor=analyst, recipe=people["recipe"])
    services.bookmark_add(actor=analyst, recipe=people["recipe"])
    assert list(selectors.bookmarked_recipes(analyst, acme)) == [people["recipe"]]
    assert list(selectors.bookmarked_recipes(admin, acme)) == []
    # As an Operator without grants the analyst still reads every recipe; out of the workspace, none.
    Membership.objects.filter(user=analyst).update(role=role("operator"))
    RecipeGrant.objects.filter(user=analyst).delete()
    assert list(selectors.bookmarked_recipes(analyst, acme)) == [people["recipe"]]
    Membership.objects.filter(user=analyst).delete()
    assert list(selectors.bookmarked_recipes(analyst, acme)) == []
    assert Bookmark.objects.filter(user=analyst).count() == 1
    services.bookmark_remove(actor=admin, recipe=people["recipe"])  # none to remove: nothing happens
    assert Bookmark.objects.count() == 1


def test_the_vault_shows_which_readable_recipes_refer_to_each_secret(people: dict[str, Any]) -> None:
    acme, admin, analyst = people["acme"], people["admin"], people["analyst"]
    secret_write(actor=admin, workspace=acme, name="CRM_TOKEN", value="crm-canary-value-2")
    services.recipe_save(
        actor=analyst, recipe=people["recipe"], definition=definition(HTTP_STEP, SECRET_STEP)
    )
    hidden_project = services.project_create(actor=admin, workspace=acme, name="Private")
    loner = make_user("loner@example.com")
    Membership.objects.create(workspace=acme, user=loner, role=role("operator"))
    rows = {row.name: row.referenced_by for row in secrets_visible(analyst, acme)}
    assert rows == {"CRM_TOKEN": ("Sync",)}
    services.recipe_create(
        actor=admin, workspace=acme, project=hidden_project, name="Quiet", definition=definition(SECRET_STEP)
    )
    assert {r.name: r.referenced_by for r in secrets_visible(admin, acme)} == {"CRM_TOKEN": ("Quiet", "Sync")}
    # An Operator reads every recipe; a member of another workspace sees none of Acme's.
    assert {r.name: r.referenced_by for r in secrets_visible(loner, acme)} == {"CRM_TOKEN": ("Quiet", "Sync")}
    assert selectors.secret_references(people["outsider"], acme, ["CRM_TOKEN"]) == {}


def test_folders_of_a_project_show_as_a_tree(people: dict[str, Any]) -> None:
    acme, analyst, project = people["acme"], people["analyst"], people["project"]
    a = services.folder_create(actor=analyst, workspace=acme, project=project, name="A")
    b = services.folder_create(actor=analyst, workspace=acme, project=project, name="B", parent=a)
    services.recipe_move(actor=analyst, recipe=people["recipe"], folder=b)
    rows = selectors.tree_rows(selectors.project_tree(analyst, project))
    assert [(r.folder.name if r.folder else None, r.depth) for r in rows] == [(None, 0), ("A", 1), ("B", 2)]
    assert rows[2].recipes == [people["recipe"]] and rows[0].tables == [people["table"]]
    assert Folder.objects.filter(project=project).count() == 2


def test_a_rows_key_index_fits_its_column(people: dict[str, Any]) -> None:
    # SQLite does not enforce a column's length; PostgreSQL refuses a longer value.
    index = services.lookup_key_index(people["table"], "any key")
    assert len(index) <= LookupRow._meta.get_field("key_index").max_length
