"""Rollback: an earlier version of a PROD recipe promoted again in one action, diffed before and
signed like any promotion, through the services, the page, the API and the command line. A version
that no longer matches its signature cannot be rolled back to."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from causeway.access.errors import Forbidden
from causeway.audit.models import AuditEvent
from causeway.recipes import promotion, services, signatures
from causeway.recipes.models import Project, Promotion, Recipe, RecipeVersion
from causeway.workspaces.tests.helpers import bearer, sign_in
from testkit.factories import ProjectFactory
from testkit.personas import cast
from testkit.support import https_client

pytestmark = pytest.mark.django_db

PROMOTER_PERMS = ["project:view", "folder:view", "recipe:view", "recipe:edit", "environment:promote"]


def _definition(value: str) -> dict[str, Any]:
    return {"trigger": {"type": "manual"}, "steps": [{"id": "m", "type": "map", "fields": {"a": value}}]}


@pytest.fixture
def w() -> dict[str, Any]:
    """Sync promoted into PROD twice: PROD holds v1 ("1") and v2 ("2"), v2 current."""
    acme = cast("admin", "analyst", "builder", builder_perms=PROMOTER_PERMS, builder_role="Promoter")
    ws, people = acme.workspace, acme.people()
    admin = people["admin"]
    dev = ProjectFactory.create(workspace=ws, name="Orders")
    sync = services.recipe_create(
        actor=admin, workspace=ws, project=dev, name="Sync", definition=_definition("1")
    )
    copies = {p.environment: p for p in Project.objects.filter(family=dev.family)}
    for value in ("1", "2"):
        if value != "1":
            services.recipe_save(actor=admin, recipe=sync, definition=_definition(value))
        promotion.promote(actor=admin, source=dev, recipes=[sync.pk])
        tried = Recipe.objects.get(project=copies["test"])
        promotion.promote(actor=admin, source=copies["test"], recipes=[tried.pk])
    live = Recipe.objects.get(project=copies["prod"])
    return {"ws": ws, "people": people, "copies": copies, "live": live}


def _current(w: dict[str, Any]) -> RecipeVersion:
    version = Recipe.objects.get(pk=w["live"].pk).current_version
    assert version is not None
    return version


def test_a_rollback_promotes_the_earlier_version_again_signed_and_audited(w: dict[str, Any]) -> None:
    preview = promotion.rollback_preview(actor=w["people"]["builder"], recipe=w["live"], number=1)
    assert (preview.current, preview.choices, preview.to) == (2, [1], 1)
    assert preview.diff is not None and [s.kind for s in preview.diff.steps] == ["changed"]
    done = promotion.rollback(
        actor=w["people"]["builder"], recipe=w["live"], number=1, note="v2 broke invoices"
    )
    version = _current(w)
    assert (version.number, version.definition["steps"], version.message) == (
        3,
        _definition("1")["steps"],
        "rolled back to v1",
    )
    assert version.approved_by == w["people"]["builder"] and signatures.version_refusal(version) is None
    assert done.details["rollback"] is True and done.details["recipes"][0]["from_version"] == 1
    event = AuditEvent.objects.filter(
        action="project.promoted", target_id=str(w["copies"]["prod"].id)
    ).latest("seq")
    assert event.details["rollback"] is True and event.details["promotion"] == str(done.pk)


def test_who_may_roll_back_and_to_what(w: dict[str, Any]) -> None:
    with pytest.raises(Forbidden):
        promotion.rollback(actor=w["people"]["analyst"], recipe=w["live"], number=1)
    with pytest.raises(ValidationError, match="already the current version"):
        promotion.rollback(actor=w["people"]["admin"], recipe=w["live"], number=2)
    with pytest.raises(ValidationError, match="has no version 9"):
        promotion.rollback(actor=w["people"]["admin"], recipe=w["live"], number=9)
    dev_recipe = Recipe.objects.get(project=w["copies"]["dev"])
    with pytest.raises(ValidationError, match="rollback is for PROD recipes"):
        promotion.rollback(actor=w["people"]["admin"], recipe=dev_recipe, number=1)
    # v1 changed in the database after it was promoted: it is no longer offered, nor accepted.
    tampered = RecipeVersion.objects.get(recipe=w["live"], number=1)
    tampered.definition = _definition("evil")
    tampered.save(update_fields=["definition"])
    assert promotion.rollback_preview(actor=w["people"]["admin"], recipe=w["live"]).choices == []
    with pytest.raises(
        ValidationError, match="cannot roll back: PROD version v1 does not match its signature"
    ):
        promotion.rollback(actor=w["people"]["admin"], recipe=w["live"], number=1)
    assert _current(w).number == 2


def test_a_rollback_waits_for_a_second_person_where_the_workspace_asks(w: dict[str, Any]) -> None:
    promotion.prod_approval_set(actor=w["people"]["admin"], workspace=w["ws"], required=True)
    asked = promotion.rollback(actor=w["people"]["admin"], recipe=w["live"], number=1)
    assert asked.status == "pending" and _current(w).number == 2
    with pytest.raises(Forbidden, match="its requester cannot"):
        promotion.promotion_approve(actor=w["people"]["admin"], promotion=asked)
    promotion.promotion_approve(actor=w["people"]["builder"], promotion=asked)
    assert _current(w).number == 3 and _current(w).approved_by == w["people"]["builder"]


def test_the_page_shows_the_diff_then_rolls_back(w: dict[str, Any]) -> None:
    ws, live = w["ws"], w["live"]
    page = sign_in(https_client(), w["people"]["admin"])
    versions = page.get(f"/w/{ws.slug}/recipes/{live.id}/versions").content.decode()
    assert f"/w/{ws.slug}/recipes/{live.id}/rollback?version=1" in versions
    shown = page.get(f"/w/{ws.slug}/recipes/{live.id}/rollback?version=1").content.decode()
    assert 'id="diff"' in shown and "Roll back to v1" in shown
    refused = page.post(f"/w/{ws.slug}/recipes/{live.id}/rollback", {"version": "2"})
    assert refused.status_code == 409 and "already the current version" in refused.content.decode()
    done = page.post(f"/w/{ws.slug}/recipes/{live.id}/rollback", {"version": "1", "note": "back"})
    assert done.status_code == 302 and _current(w).number == 3
    analyst = sign_in(https_client(), w["people"]["analyst"])
    assert "rollback?version" not in analyst.get(f"/w/{ws.slug}/recipes/{live.id}/versions").content.decode()
    assert analyst.get(f"/w/{ws.slug}/recipes/{live.id}/rollback").status_code == 403


def test_the_api_and_the_command_line_roll_back(w: dict[str, Any]) -> None:
    ws, live = w["ws"], w["live"]
    api = https_client(**bearer(w["people"]["admin"]))
    url = f"/api/v1/workspaces/{ws.id}/recipes/{live.id}/rollback"
    seen = api.get(url + "?version=1").json()
    assert (seen["current_version"], seen["versions"], seen["version"]) == (2, [1], 1) and seen["diff"][
        "steps"
    ]
    assert (
        api.post(url, json.dumps({"version": 1, "owner": "x"}), content_type="application/json").status_code
        == 422
    )
    made = api.post(url, json.dumps({"version": 1}), content_type="application/json")
    assert made.status_code == 201 and made.json()["details"]["recipes"][0]["version"] == 3
    # Well formed, refused by what is stored: v3 runs now, and there is no v9.
    for number, message in ((3, "already the current version"), (9, "has no version 9")):
        current = api.post(url, json.dumps({"version": number}), content_type="application/json")
        assert current.status_code == 409 and message in current.json()["detail"]
    out = io.StringIO()
    args = ["promote", "rollback", "--workspace", ws.slug, "--recipe", str(live.id)]
    call_command(*args, "--to", "2", stdout=out)
    assert out.getvalue().startswith("Rolled Sync back to v2 as v4 (1 change(s) from v3;")
    with pytest.raises(CommandError, match="already the current version"):
        call_command(*args, "--to", "4", stdout=io.StringIO())
    assert Promotion.objects.filter(source=w["copies"]["prod"]).count() == 2
