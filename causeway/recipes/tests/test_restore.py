"""An earlier version is restored as a new version, by the page, the API and the command line: the
earlier version stays as it was, the new one has its definition, and one audit event says so."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from causeway.audit.models import AuditEvent
from causeway.recipes import services
from causeway.recipes.tests.personas import acme_people
from causeway.workspaces.tests.helpers import bearer, fast_hashing, sign_in  # noqa: F401
from testkit.support import https_client

pytestmark = pytest.mark.django_db

FIRST = {"trigger": {"type": "manual"}, "steps": [{"id": "one", "type": "map", "fields": {"a": "1"}}]}
SECOND = {"trigger": {"type": "manual"}, "steps": [{"id": "two", "type": "map", "fields": {"b": "2"}}]}


@pytest.fixture
def people(request: pytest.FixtureRequest) -> dict[str, Any]:
    request.getfixturevalue("fast_hashing")
    people = acme_people()
    recipe = people["recipe"]
    people["first"] = services.recipe_save(actor=people["analyst"], recipe=recipe, definition=FIRST).number
    people["second"] = services.recipe_save(actor=people["analyst"], recipe=recipe, definition=SECOND).number
    return people


class Api:
    """The workspace's API as one person, with their token."""

    def __init__(self, user: Any, workspace: Any) -> None:
        self.client = https_client(**bearer(user))
        self.base = f"/api/v1/workspaces/{workspace.id}"

    def post(self, path: str) -> Any:
        return self.client.post(self.base + path, "{}", content_type="application/json")


def as_(people: dict[str, Any], who: str) -> Api:
    return Api(people[who], people["acme"])


def restored(people: dict[str, Any], number: int) -> None:
    recipe = people["recipe"]
    recipe.refresh_from_db()
    assert recipe.current_version.number == people["second"] + 1
    assert [s["id"] for s in recipe.current_version.definition["steps"]] == ["one"]
    assert recipe.current_version.message == f"Restored from version {number}"
    event = AuditEvent.objects.filter(action="recipe.restored").get()
    assert event.details == {"version": people["second"] + 1, "from": number}
    saved = [e.details["version"] for e in AuditEvent.objects.filter(action="recipe.saved")]
    assert people["second"] + 1 not in saved


def test_an_old_version_opens_read_only_and_is_restored_from_its_page(people: dict[str, Any]) -> None:
    client, recipe = sign_in(https_client(), people["analyst"]), people["recipe"]
    versions = client.get(f"/w/acme/recipes/{recipe.id}/versions").content.decode()
    assert f'href="/w/acme/recipes/{recipe.id}/versions/{people["first"]}"' in versions
    page = client.get(f"/w/acme/recipes/{recipe.id}/versions/{people['first']}").content.decode()
    assert '<fieldset disabled class="editor panels">' in page and 'value="one"' in page
    assert "Restore as a new version" in page
    answer = client.post(f"/w/acme/recipes/{recipe.id}/versions/{people['first']}/restore")
    assert answer.status_code == 302
    restored(people, people["first"])
    # The current version has nothing to restore; an Operator may look but not restore.
    current = client.get(f"/w/acme/recipes/{recipe.id}/versions/{people['second'] + 1}").content.decode()
    assert "Restore as a new version" not in current
    operator = sign_in(https_client(), people["operator"])
    assert (
        "Restore as a new version"
        not in operator.get(f"/w/acme/recipes/{recipe.id}/versions/{people['first']}").content.decode()
    )
    assert operator.post(f"/w/acme/recipes/{recipe.id}/versions/{people['first']}/restore").status_code == 403


def test_a_version_that_does_not_exist_is_not_found(people: dict[str, Any]) -> None:
    client, recipe = sign_in(https_client(), people["analyst"]), people["recipe"]
    assert client.get(f"/w/acme/recipes/{recipe.id}/versions/999").status_code == 404
    assert client.get(f"/w/acme/recipes/{recipe.id}/versions/0").status_code == 400
    assert client.post(f"/w/acme/recipes/{recipe.id}/versions/999/restore").status_code == 404


def test_the_api_restores_an_earlier_version(people: dict[str, Any]) -> None:
    api, recipe = as_(people, "analyst"), people["recipe"]
    answer = api.post(f"/recipes/{recipe.id}/versions/{people['first']}/restore")
    assert answer.status_code == 201, answer.content
    assert answer.json()["number"] == people["second"] + 1
    restored(people, people["first"])
    assert api.post(f"/recipes/{recipe.id}/versions/999/restore").status_code == 404
    assert as_(people, "operator").post(f"/recipes/{recipe.id}/versions/1/restore").status_code == 403


def test_the_command_line_restores_an_earlier_version(people: dict[str, Any]) -> None:
    recipe, out = people["recipe"], io.StringIO()
    call_command(
        "recipes",
        "restore",
        "--workspace",
        "acme",
        str(recipe.id),
        "--version",
        str(people["first"]),
        stdout=out,
    )
    assert out.getvalue().strip() == (
        f"Restored version {people['first']} of {recipe.name} as version {people['second'] + 1}."
    )
    restored(people, people["first"])
    with pytest.raises(CommandError, match="version: no such version in acme"):
        call_command("recipes", "restore", "--workspace", "acme", str(recipe.id), "--version", "999")
