"""Rule 5: under the default environment policies no human creates or changes a project, a folder or a
recipe in TEST or PROD, through any interface. Every attempt is refused and nothing is written.

The humans tried: the Admin, the Analyst, the Operator, a member whose custom role holds every content
permission in all projects, and a member who holds the Analyst role through a group. Each of them may
read TEST and PROD, so each refusal is a 403 naming the permission, not a 404.

The command line acts only as the system (whoever runs it already holds the database and the keys): it
has no way to act as a person, so a human cannot reach the content through it either.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from causeway.access import services as access_services
from causeway.access.errors import Forbidden
from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.accounts.actors import SystemActor
from causeway.recipes import services
from causeway.recipes.models import Folder, Project, Recipe, RecipeVersion
from causeway.recipes.tests.personas import definition
from causeway.workspaces.tests.helpers import bearer, fast_hashing, sign_in  # noqa: F401
from testkit.factories import FolderFactory, ProjectFactory, RecipeFactory, UserFactory
from testkit.personas import cast, member
from testkit.support import https_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

SYSTEM = SystemActor(label="rule 5 test")
HUMANS = ("admin", "analyst", "operator", "custom", "group_member")
ENVIRONMENTS = ("test", "prod")
MAP = definition({"id": "s1", "type": "map", "fields": {"a": "1"}})
MAP_V2 = definition({"id": "s1", "type": "map", "fields": {"a": "2"}})
CONTENT_PERMS = [
    p.value
    for p in Perm
    if p.value.split(":")[0] in {"project", "folder", "recipe", "lookup_table", "job", "connection"}
]


def _world(environment: str) -> dict[str, Any]:
    """A workspace whose TEST or PROD content was put there by promotion's author, the system."""
    acme = cast(
        "admin",
        "analyst",
        "operator",
        "builder",
        emails={"builder": "custom@example.com"},
        builder_perms=CONTENT_PERMS,
        builder_role="Builder",
    )
    ws, people = acme.workspace, acme.people()
    people["custom"] = people.pop("builder")
    people["group_member"] = UserFactory.create(email="group-member@example.com")
    member(ws, people["group_member"], "operator")
    group = access_services.group_create(actor=SYSTEM, workspace=ws, name="Builders")
    access_services.group_roles_set(actor=SYSTEM, group=group, roles=["analyst"])
    access_services.group_member_add(actor=SYSTEM, group=group, user=people["group_member"])
    project = ProjectFactory.create(workspace=ws, name="Live", environment=environment)
    empty = ProjectFactory.create(workspace=ws, name="Empty", environment=environment)
    folder = FolderFactory.create(project=project, name="Billing")
    spare = FolderFactory.create(project=project, name="Spare")
    recipe = RecipeFactory.create(project=project, name="Sync", definition=MAP)
    export = services.recipe_export(actor=SYSTEM, recipe=recipe)
    return {
        "ws": ws,
        "people": {key: people[key] for key in HUMANS},
        "project": project,
        "empty": empty,
        "folder": folder,
        "spare": spare,
        "recipe": recipe,
        "export": export,
        "environment": environment,
    }


def _content() -> tuple[Any, ...]:
    """Everything a refused attempt could have written, as comparable values."""
    return (
        sorted(Project.objects.values_list("id", "name", "description", "environment")),
        sorted(Folder.objects.values_list("id", "name", "parent_id", "project_id")),
        sorted(
            (r.id, r.name, r.description, r.folder_id, r.current_version_id, r.project_id)
            for r in Recipe.objects.all()
        ),
        sorted(RecipeVersion.objects.values_list("id", "recipe_id", "number")),
    )


def _service_attempts(w: dict[str, Any], actor: Actor) -> dict[str, Callable[[], Any]]:
    ws, project, folder, recipe = w["ws"], w["project"], w["folder"], w["recipe"]
    return {
        "project create": lambda: services.project_create(
            actor=actor, workspace=ws, name="New", environment=w["environment"]
        ),
        "project rename": lambda: services.project_rename(actor=actor, project=project, name="Renamed"),
        "project delete": lambda: services.project_delete(actor=actor, project=w["empty"]),
        "folder create": lambda: services.folder_create(
            actor=actor, workspace=ws, project=project, name="New"
        ),
        "folder rename": lambda: services.folder_rename(actor=actor, folder=folder, name="Renamed"),
        "folder delete": lambda: services.folder_delete(actor=actor, folder=w["spare"]),
        "recipe create": lambda: services.recipe_create(
            actor=actor, workspace=ws, project=project, name="New", definition=MAP
        ),
        "recipe import": lambda: services.recipe_import(
            actor=actor, workspace=ws, data=w["export"], project=project, name="Imported"
        ),
        "recipe save": lambda: services.recipe_save(actor=actor, recipe=recipe, definition=MAP_V2),
        "recipe import as version": lambda: services.recipe_import(
            actor=actor, workspace=ws, data=w["export"], into=recipe
        ),
        "recipe rename": lambda: services.recipe_rename(actor=actor, recipe=recipe, name="Renamed"),
        "recipe move": lambda: services.recipe_move(actor=actor, recipe=recipe, folder=folder),
        "recipe delete": lambda: services.recipe_delete(actor=actor, recipe=recipe),
    }


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("who", HUMANS)
def test_rule_05_no_human_changes_content_through_services(who: str, environment: str) -> None:
    w = _world(environment)
    before = _content()
    for what, attempt in _service_attempts(w, w["people"][who]).items():
        with pytest.raises(Forbidden):
            attempt()
        assert _content() == before, what


def test_rule_05_the_same_services_write_in_dev() -> None:
    """The positive control: the Analyst who is refused in TEST and PROD creates and changes in DEV."""
    w = _world("dev")
    analyst = w["people"]["analyst"]
    created = services.project_create(actor=analyst, workspace=w["ws"], name="New", environment="dev")
    services.folder_create(actor=analyst, workspace=w["ws"], project=created, name="Inbox")
    services.recipe_save(actor=analyst, recipe=w["recipe"], definition=MAP_V2)
    assert Project.objects.filter(name="New", environment="dev").exists()
    assert RecipeVersion.objects.filter(recipe=w["recipe"]).count() == 2


def _api_attempts(w: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    pid, fid, rid = w["project"].id, w["folder"].id, w["recipe"].id
    return [
        ("post", "/projects", {"name": "New", "environment": w["environment"]}),
        ("patch", f"/projects/{pid}", {"name": "Renamed"}),
        ("delete", f"/projects/{w['empty'].id}", None),
        ("post", "/folders", {"project_id": str(pid), "name": "New"}),
        ("patch", f"/folders/{fid}", {"name": "Renamed"}),
        ("delete", f"/folders/{w['spare'].id}", None),
        ("post", "/recipes", {"project_id": str(pid), "name": "New", "definition": MAP}),
        ("post", "/recipes/import", {"project_id": str(pid), "name": "Imported", "export": w["export"]}),
        ("patch", f"/recipes/{rid}", {"name": "Renamed"}),
        ("patch", f"/recipes/{rid}", {"folder_id": str(fid)}),
        ("post", f"/recipes/{rid}/versions", {"definition": MAP_V2}),
        ("post", f"/recipes/{rid}/import", {"export": w["export"]}),
        ("delete", f"/recipes/{rid}", None),
    ]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("who", HUMANS)
def test_rule_05_no_human_changes_content_through_the_api(who: str, environment: str) -> None:
    w = _world(environment)
    client = https_client(**bearer(w["people"][who]))
    base = f"/api/v1/workspaces/{w['ws'].id}"
    before = _content()
    for method, path, body in _api_attempts(w):
        if body is None:
            answer = getattr(client, method)(base + path)
        else:
            answer = getattr(client, method)(base + path, json.dumps(body), content_type="application/json")
        assert answer.status_code == 403, (method, path, answer.status_code, answer.content[:300])
        assert "permission" in answer.json()["detail"], (method, path)
        assert _content() == before, (method, path)


def _page_attempts(w: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    pid, fid, rid = w["project"].id, w["folder"].id, w["recipe"].id
    upload = json.dumps(w["export"]).encode()
    return [
        ("projects", {"name": "New", "environment": w["environment"]}),
        (f"projects/{pid}/rename", {"name": "Renamed"}),
        (f"projects/{w['empty'].id}/delete", {}),
        (f"projects/{pid}/folders", {"name": "New"}),
        (f"folders/{fid}/rename", {"name": "Renamed"}),
        (f"folders/{w['spare'].id}/delete", {}),
        (f"projects/{pid}/recipes", {"name": "New"}),
        (f"projects/{pid}/import", {"name": "Imported", "file": SimpleUploadedFile("r.json", upload)}),
        (f"recipes/{rid}/build", {"op": "save", "message": "edited"}),
        (f"recipes/{rid}/import", {"file": SimpleUploadedFile("r.json", upload)}),
        (f"recipes/{rid}/rename", {"name": "Renamed"}),
        (f"recipes/{rid}/move", {"folder": str(fid)}),
        (f"recipes/{rid}/delete", {}),
    ]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("who", HUMANS)
def test_rule_05_no_human_changes_content_through_pages(who: str, environment: str) -> None:
    w = _world(environment)
    client = sign_in(https_client(), w["people"][who])
    base = f"/w/{w['ws'].slug}/"
    before = _content()
    for path, form in _page_attempts(w):
        answer = client.post(base + path, form)
        assert answer.status_code == 403, (path, answer.status_code)
        assert _content() == before, path


@pytest.mark.parametrize(
    "args",
    [
        ["recipes", "create", "--as", "analyst@example.com"],
        ["recipes", "import", "--user", "analyst@example.com"],
    ],
    ids=["create", "import"],
)
def test_rule_05_the_command_line_cannot_act_as_a_person(args: list[str]) -> None:
    """The command line acts as the system alone: asking it to act as a person is refused, with
    nothing written."""
    w = _world("prod")
    before = _content()
    full = [
        *args[:2],
        "--workspace",
        w["ws"].slug,
        "--project",
        str(w["project"].id),
        "--name",
        "New",
        *args[2:],
    ]
    with pytest.raises((CommandError, SystemExit)):
        call_command(*full, stdout=io.StringIO(), stderr=io.StringIO())
    assert _content() == before


def test_rule_05_no_default_policy_lets_a_human_hold_write_in_test_or_prod() -> None:
    """The refusals above come from the ceilings, not from the roles: the Admin holds every
    permission, and still may not create a project where the policy withholds write."""
    w = _world("test")
    with pytest.raises(Forbidden, match="project:create"):
        services.project_create(actor=w["people"]["admin"], workspace=w["ws"], name="X", environment="prod")
    with pytest.raises(ValidationError):
        services.project_create(actor=w["people"]["admin"], workspace=w["ws"], name="X", environment="qa")


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_rule_05_the_command_line_creates_and_changes_no_recipe_in_test_or_prod(
    environment: str, tmp_path: Any
) -> None:
    """The command line holds every permission, yet its recipe writes stop at the environment's policy
    like a person's: creating, importing as a new recipe or as a new version are refused with one
    line, and nothing is written; promotion stays the way in."""
    w = _world(environment)
    ws, project, recipe = w["ws"], w["project"], w["recipe"]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(w["export"]), encoding="utf-8")
    before = _content()
    attempts = [
        ["recipes", "create", "--workspace", ws.slug, "--project", str(project.id), "--name", "New"],
        ["recipes", "import", "--workspace", ws.slug, "--project", str(project.id), str(export)],
        ["recipes", "import", "--workspace", ws.slug, "--recipe", str(recipe.id), str(export)],
    ]
    for args in attempts:
        with pytest.raises(CommandError, match=f"in {environment.upper()} recipes change only by promotion"):
            _command(*args)
        assert _content() == before, args
    # The same services refuse the command line's actor directly.
    from causeway.cli.management.commands.workspaces import cli_actor

    with pytest.raises(Forbidden, match="change only by promotion"):
        services.recipe_create(actor=cli_actor(), workspace=ws, project=project, name="New", definition=MAP)
    with pytest.raises(Forbidden, match="change only by promotion"):
        services.recipe_save(actor=cli_actor(), recipe=recipe, definition=MAP_V2)
    assert _content() == before
    # An Admin widens the policy (audited): then the command line writes there too.
    access_services.environment_policy_set(
        actor=SYSTEM, workspace=ws, environment=environment, capabilities=["read", "debug", "write"]
    )
    assert "Imported as version 2" in _command(*attempts[2])


def test_rule_05_the_command_line_builds_in_dev(tmp_path: Any) -> None:
    """The positive control: the same commands write in DEV."""
    w = _world("dev")
    args = ["recipes", "create", "--workspace", w["ws"].slug, "--project", str(w["project"].id)]
    assert _command(*args, "--name", "New").startswith("Created recipe New")
    export = tmp_path / "export.json"
    export.write_text(json.dumps(w["export"]), encoding="utf-8")
    imported = _command(
        "recipes", "import", "--workspace", w["ws"].slug, "--recipe", str(w["recipe"].id), str(export)
    )
    assert imported.startswith("Imported as version 2")
