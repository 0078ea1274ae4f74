"""The recipes API: projects, folders, recipes and their versions, diff, start and stop, export and import,
lookup tables and rows, bookmarks; mass assignment refused, Operators refused writes, other workspaces 404."""

from __future__ import annotations

import json
from typing import Any

import pytest

from causeway.recipes import services
from causeway.recipes.models import Bookmark, Folder, LookupRow, LookupTable, Project, Recipe, RecipeVersion
from causeway.recipes.schema import STEPS, TRIGGERS
from causeway.recipes.tests.personas import HTTP_STEP, acme_people, definition
from causeway.workspaces.tests.helpers import AuditWatch, bearer, fast_hashing  # noqa: F401
from testkit.support import https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

API = "/api/v1"


class Caller:
    def __init__(self, user: Any, workspace: Any) -> None:
        self.client = https_client(**bearer(user))
        self.base = f"{API}/workspaces/{workspace.id}"

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(self.base + path, params)

    def send(self, method: str, path: str, body: Any = None) -> Any:
        call = getattr(self.client, method)
        return call(
            self.base + path, json.dumps(body if body is not None else {}), content_type="application/json"
        )

    def post(self, path: str, body: Any = None) -> Any:
        return self.send("post", path, body)

    def put(self, path: str, body: Any = None) -> Any:
        return self.send("put", path, body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self.send("patch", path, body)

    def delete(self, path: str) -> Any:
        return self.client.delete(self.base + path)


@pytest.fixture
def people() -> dict[str, Any]:
    found = acme_people()
    found["folder"] = services.folder_create(
        actor=found["admin"], workspace=found["acme"], project=found["project"], name="Shared"
    )
    return found


def as_(people: dict[str, Any], who: str, workspace: str = "acme") -> Caller:
    return Caller(people[who], people[workspace])


def test_projects_folders_and_recipes_round_trip(people: dict[str, Any]) -> None:
    api = as_(people, "analyst")
    project = api.post("/projects", {"name": "Billing", "environment": "dev"})
    assert project.status_code == 201 and project.json()["environment"] == "dev"
    pid = project.json()["id"]
    folder = api.post("/folders", {"project_id": pid, "name": "Invoices"}).json()
    inner = api.post("/folders", {"project_id": pid, "name": "Late", "parent_id": folder["id"]})
    assert inner.status_code == 201 and inner.json()["parent_id"] == folder["id"]
    recipe = api.post(
        "/recipes",
        {
            "project_id": pid,
            "folder_id": folder["id"],
            "name": "Dunning",
            "definition": definition(HTTP_STEP),
        },
    )
    assert recipe.status_code == 201
    body = recipe.json()
    assert body["current_version"] == 1 and body["definition"]["steps"][0]["timeout_seconds"] == 30
    rid = body["id"]
    listed = api.get("/recipes", project_id=pid)
    assert [r["name"] for r in listed.json()] == ["Dunning"]
    assert [r["name"] for r in api.get("/recipes", search="dun").json()] == ["Dunning"]
    assert api.get("/recipes", active="true").json() == []
    moved = api.patch(f"/recipes/{rid}", {"name": "Dunning letters", "folder_id": None})
    assert moved.json()["folder_id"] is None and moved.json()["name"] == "Dunning letters"
    refused = api.delete(f"/projects/{pid}")
    assert refused.status_code == 400 and "not empty" in refused.json()["detail"]
    assert api.delete(f"/recipes/{rid}").status_code == 204
    assert api.delete(f"/folders/{inner.json()['id']}").status_code == 204
    assert api.patch(f"/folders/{folder['id']}", {"name": "Bills"}).json()["name"] == "Bills"
    assert api.delete(f"/folders/{folder['id']}").status_code == 204
    assert api.patch(f"/projects/{pid}", {"name": "Billing EU"}).json()["name"] == "Billing EU"
    assert api.delete(f"/projects/{pid}").status_code == 204
    assert not Project.objects.filter(pk=pid).exists()


def test_versions_diff_start_stop(people: dict[str, Any]) -> None:
    api, recipe = as_(people, "analyst"), people["recipe"]
    changed = dict(HTTP_STEP, url="https://api.example.com/v2")
    saved = api.post(
        f"/recipes/{recipe.id}/versions", {"definition": definition(changed), "message": "v2 API"}
    )
    assert saved.status_code == 201 and saved.json()["number"] == 2
    bad = api.post(f"/recipes/{recipe.id}/versions", {"definition": definition({"id": "x", "type": "http"})})
    assert bad.status_code == 400 and bad.json()["errors"] == {"steps[0].url": ["this field is required"]}
    assert [v["number"] for v in api.get(f"/recipes/{recipe.id}/versions").json()] == [2, 1]
    assert api.get(f"/recipes/{recipe.id}/versions/1").json()["definition"]["steps"][1]["id"] == "shape"
    diff = api.get(f"/recipes/{recipe.id}/diff", **{"from": 1, "to": 2}).json()
    assert diff["from"] == 1 and diff["to"] == 2
    assert {(s["id"], s["kind"]) for s in diff["steps"]} == {("fetch", "changed"), ("shape", "removed")}
    fetch = next(s for s in diff["steps"] if s["id"] == "fetch")
    assert fetch["changes"] == [
        {"field": "url", "old": "https://api.example.com/items", "new": "https://api.example.com/v2"}
    ]
    # A version the recipe does not have is not found; one that is no version number at all is malformed.
    assert api.get(f"/recipes/{recipe.id}/diff", **{"from": 1, "to": 7}).status_code == 404
    assert api.get(f"/recipes/{recipe.id}/diff", **{"from": 1, "to": "abc"}).status_code == 422
    started = api.post(f"/recipes/{recipe.id}/start")
    assert started.json()["active"] and started.json()["active_version"] == 2
    assert api.get(f"/recipes/{recipe.id}").json()["definition"]["steps"][0]["url"].endswith("/v2")
    assert not api.post(f"/recipes/{recipe.id}/stop").json()["active"]


def test_export_and_import_as_a_new_recipe_or_version(people: dict[str, Any]) -> None:
    api, recipe = as_(people, "analyst"), people["recipe"]
    exported = api.get(f"/recipes/{recipe.id}/export").json()
    assert set(exported) == {"format", "name", "description", "version", "definition"}
    assert str(recipe.id) not in json.dumps(exported) and str(people["acme"].id) not in json.dumps(exported)
    created = api.post(
        "/recipes/import", {"project_id": str(people["project"].id), "name": "Copy", "export": exported}
    )
    assert created.status_code == 201
    assert created.json()["definition"] == recipe.current_version.definition
    version = api.post(f"/recipes/{recipe.id}/import", {"export": exported})
    assert version.status_code == 201 and version.json()["number"] == 2
    forged = dict(exported, workspace_id=str(people["other"].id))
    assert api.post(f"/recipes/{recipe.id}/import", {"export": forged}).status_code == 422
    assert api.get(f"/recipes/{recipe.id}/export", version=5).status_code == 404
    assert api.get(f"/recipes/{recipe.id}/export", version=0).status_code == 422


def test_lookup_tables_and_rows(people: dict[str, Any]) -> None:
    api = as_(people, "analyst")
    table = api.post(
        "/lookup-tables",
        {
            "project_id": str(people["project"].id),
            "name": "Regions",
            "columns": [{"name": "code", "type": "text"}, {"name": "size", "type": "integer"}],
            "key_column": "code",
        },
    )
    assert table.status_code == 201
    tid = table.json()["id"]
    assert api.put(f"/lookup-tables/{tid}/rows/EU", {"values": {"size": "27"}}).json() == {
        "code": "EU",
        "size": 27,
    }
    refused = api.put(f"/lookup-tables/{tid}/rows/US", {"values": {"size": "many"}})
    assert refused.status_code == 400 and refused.json()["errors"] == {"size": ["size must be a integer"]}
    assert api.get(f"/lookup-tables/{tid}/rows").json() == [{"code": "EU", "size": 27}]
    assert [t["name"] for t in api.get("/lookup-tables").json()] == ["Prices", "Regions"]
    assert api.delete(f"/lookup-tables/{tid}/rows/EU").status_code == 204
    assert api.delete(f"/lookup-tables/{tid}/rows/EU").status_code == 400
    assert api.delete(f"/lookup-tables/{tid}").status_code == 204
    assert not LookupTable.objects.filter(pk=tid).exists()


def test_bookmarks(people: dict[str, Any]) -> None:
    api, recipe = as_(people, "operator"), people["recipe"]
    assert api.put(f"/recipes/{recipe.id}/bookmark").status_code == 204
    assert [r["name"] for r in api.get("/bookmarks").json()] == ["Sync"]
    assert api.delete(f"/recipes/{recipe.id}/bookmark").status_code == 204
    assert api.get("/bookmarks").json() == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/projects", {"name": "P", "workspace_id": "x"}),
        ("/projects", {"name": "P", "created_by": "x"}),
        ("/recipes", {"project_id": "{project}", "name": "R", "workspace_id": "x"}),
        ("/recipes", {"project_id": "{project}", "name": "R", "created_by": "x"}),
        ("/recipes", {"project_id": "{project}", "name": "R", "active": True}),
        ("/folders", {"project_id": "{project}", "name": "F", "workspace_id": "x"}),
        (
            "/lookup-tables",
            {"project_id": "{project}", "name": "T", "columns": [], "key_column": "a", "id": "x"},
        ),
        ("/recipes/{recipe}/versions", {"definition": {}, "number": 9}),
        ("/recipes/{recipe}/versions", {"definition": {}, "created_by": "x"}),
    ],
)
def test_mass_assignment_fields_are_refused(people: dict[str, Any], path: str, body: dict[str, Any]) -> None:
    api = as_(people, "admin")
    fill = {"{project}": str(people["project"].id), "{recipe}": str(people["recipe"].id)}
    for key, value in fill.items():
        path = path.replace(key, value)
    body = {k: fill.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    before = (
        Project.objects.count(),
        Recipe.objects.count(),
        RecipeVersion.objects.count(),
        Folder.objects.count(),
    )
    answer = api.post(path, body)
    assert answer.status_code == 422
    assert (
        Project.objects.count(),
        Recipe.objects.count(),
        RecipeVersion.objects.count(),
        Folder.objects.count(),
    ) == before
    patched = api.patch(f"/recipes/{people['recipe'].id}", {"project_id": str(people["other_project"].id)})
    assert patched.status_code == 422


def write_calls(people: dict[str, Any]) -> list[tuple[str, str, Any]]:
    project, recipe, folder = people["project"].id, people["recipe"].id, people["folder"].id
    export = services.recipe_export(actor=people["admin"], recipe=people["recipe"])
    return [
        ("post", "/projects", {"name": "Mine"}),
        ("patch", f"/projects/{project}", {"name": "Mine"}),
        ("delete", f"/projects/{project}", None),
        ("post", "/folders", {"project_id": str(project), "name": "Mine"}),
        ("patch", f"/folders/{folder}", {"name": "Mine"}),
        ("delete", f"/folders/{folder}", None),
        ("post", "/recipes", {"project_id": str(project), "name": "Mine"}),
        ("patch", f"/recipes/{recipe}", {"name": "Mine"}),
        ("patch", f"/recipes/{recipe}", {"folder_id": str(folder)}),
        ("delete", f"/recipes/{recipe}", None),
        ("post", f"/recipes/{recipe}/versions", {"definition": definition()}),
        ("post", "/recipes/import", {"project_id": str(project), "name": "Mine", "export": export}),
        ("post", f"/recipes/{recipe}/import", {"export": export}),
        (
            "post",
            "/lookup-tables",
            {"project_id": str(project), "name": "T", "columns": [{"name": "a"}], "key_column": "a"},
        ),
    ]


def state() -> tuple[Any, ...]:
    return (
        sorted(Project.objects.values_list("name", flat=True)),
        sorted(Folder.objects.values_list("name", flat=True)),
        sorted(Recipe.objects.values_list("name", "folder_id", "active")),
        RecipeVersion.objects.count(),
        sorted(LookupTable.objects.values_list("name", flat=True)),
        LookupRow.objects.count(),
        Bookmark.objects.count(),
    )


def call(api: Caller, method: str, path: str, body: Any) -> Any:
    return api.delete(path) if method == "delete" else api.send(method, path, body)


def test_rule_04_operator_gets_403_on_every_write_and_nothing_changes(people: dict[str, Any]) -> None:
    api = as_(people, "operator")
    before = state()
    watch = AuditWatch()
    for method, path, body in write_calls(people):
        answer = call(api, method, path, body)
        assert answer.status_code == 403, (method, path, answer.content)
        assert answer.json()["permission"]
    assert state() == before
    assert {e.action for e in watch.new()} == {"access.denied"}
    # Lookup tables are not part of what rule 4 lets an Operator read: to it they are not found.
    table = people["table"].id
    assert api.put(f"/lookup-tables/{table}/rows/A", {"values": {}}).status_code == 404
    assert api.delete(f"/lookup-tables/{table}").status_code == 404
    assert state() == before


def test_rule_09_another_workspaces_ids_are_not_found(people: dict[str, Any]) -> None:
    theirs = as_(people, "outsider", "other")
    before = state()
    recipe, project, table = people["recipe"].id, people["project"].id, people["table"].id
    for path in (
        f"/recipes/{recipe}",
        f"/recipes/{recipe}/versions",
        f"/recipes/{recipe}/versions/1",
        f"/recipes/{recipe}/export",
        f"/lookup-tables/{table}",
        f"/lookup-tables/{table}/rows",
        f"/folders?project_id={project}",
    ):
        answer = theirs.client.get(theirs.base + path)
        assert answer.status_code == 404, path
        assert b"Sync" not in answer.content and b"Prices" not in answer.content
    assert theirs.get(f"/recipes/{recipe}/diff", **{"from": 1, "to": 1}).status_code == 404
    for method, path, body in write_calls(people):
        if (
            path in ("/projects", "/recipes/import", "/recipes", "/folders", "/lookup-tables")
            and method == "post"
        ):
            if "project_id" not in (body or {}):
                continue
        answer = call(theirs, method, path, body)
        assert answer.status_code == 404, (method, path)
    for method, path in (("post", f"/recipes/{recipe}/start"), ("put", f"/recipes/{recipe}/bookmark")):
        assert call(theirs, method, path, None).status_code == 404
    assert theirs.put(f"/lookup-tables/{table}/rows/X", {"values": {}}).status_code == 404
    assert state() == before
    # And through Acme's own path, a non-member is not told Acme exists.
    assert as_(people, "outsider", "acme").get("/recipes").status_code == 404
    assert [r["name"] for r in theirs.get("/recipes").json()] == ["Hidden"]


def test_the_openapi_document_lists_the_recipe_operations(people: dict[str, Any]) -> None:
    answer = https_client(**bearer(people["admin"])).get(f"{API}/openapi.json")
    assert answer.status_code == 200
    paths = answer.json()["paths"]
    for path in (
        "/api/v1/workspaces/{workspace_id}/recipes",
        "/api/v1/workspaces/{workspace_id}/recipes/{recipe_id}/diff",
        "/api/v1/workspaces/{workspace_id}/lookup-tables/{table_id}/rows/{key}",
        "/api/v1/workspaces/{workspace_id}/bookmarks",
    ):
        assert path in paths


def test_the_openapi_document_describes_the_definition_with_its_step_union(people: dict[str, Any]) -> None:
    document = https_client(**bearer(people["admin"])).get(f"{API}/openapi.json")
    components = document.json()["components"]["schemas"]
    definition_ref = "#/components/schemas/Definition"
    for body, field in (("RecipeIn", "definition"), ("VersionIn", "definition"), ("ExportIn", "definition")):
        assert definition_ref in json.dumps(components[body]["properties"][field]), body
    for answer in ("RecipeDetailOut", "VersionDetailOut"):
        assert definition_ref in json.dumps(components[answer]["properties"]["definition"]), answer
    described = components["Definition"]
    assert set(described["properties"]) == {"trigger", "steps", "settings"}
    assert described["properties"]["steps"]["items"] == {"$ref": "#/components/schemas/AnyStep"}
    for union, registry in (("AnyStep", STEPS), ("AnyTrigger", TRIGGERS)):
        found = components[union]
        assert found["discriminator"]["propertyName"] == "type"
        mapping = found["discriminator"]["mapping"]
        assert set(mapping) == set(registry.models)
        assert sorted(one["$ref"] for one in found["oneOf"]) == sorted(mapping.values())
        for kind, ref in mapping.items():
            model = components[ref.rsplit("/", 1)[-1]]
            assert model["properties"]["type"]["const"] == kind
            assert model["title"] == registry.label(kind)
    condition = components[mapping_of(components, "AnyStep")["condition"]]
    assert {"if", "then", "else"} <= set(condition["properties"])
    assert condition["properties"]["then"]["items"] == {"$ref": "#/components/schemas/AnyStep"}
    timeout = components[mapping_of(components, "AnyStep")["http"]]["properties"]["timeout_seconds"]
    assert (timeout["type"], timeout["minimum"], timeout["maximum"], timeout["default"]) == (
        "integer",
        1,
        300,
        30,
    )


def mapping_of(components: dict[str, Any], union: str) -> dict[str, str]:
    return {
        kind: ref.rsplit("/", 1)[-1] for kind, ref in components[union]["discriminator"]["mapping"].items()
    }
