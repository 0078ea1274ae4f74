"""The two-person rule: where the workspace asks for it, a promotion into PROD waits until a second
person who may promote approves it; its requester cannot approve it on the page, through the API or
on the command line. What moves is what was chosen when it was asked for, signed with the approver."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from causeway.access.errors import Forbidden
from causeway.audit.models import AuditEvent
from causeway.recipes import promotion, services, signatures
from causeway.recipes.models import Project, Promotion, Recipe
from causeway.workspaces.tests.helpers import bearer, sign_in
from testkit.factories import ProjectFactory
from testkit.personas import cast
from testkit.support import https_client

pytestmark = pytest.mark.django_db

PROMOTER_PERMS = ["project:view", "folder:view", "recipe:view", "recipe:edit", "environment:promote"]
V1 = {"trigger": {"type": "manual"}, "steps": [{"id": "m", "type": "map", "fields": {"a": "1"}}]}
V2 = {"trigger": {"type": "manual"}, "steps": [{"id": "m", "type": "map", "fields": {"a": "2"}}]}


@pytest.fixture
def w() -> dict[str, Any]:
    acme = cast("admin", "analyst", "builder", builder_perms=PROMOTER_PERMS, builder_role="Promoter")
    ws, people = acme.workspace, acme.people()
    dev = ProjectFactory.create(workspace=ws, name="Orders")
    sync = services.recipe_create(
        actor=people["admin"], workspace=ws, project=dev, name="Sync", definition=V1
    )
    promotion.promote(actor=people["admin"], source=dev, recipes=[sync.pk])
    copies = {p.environment: p for p in Project.objects.filter(family=dev.family)}
    promotion.prod_approval_set(actor=people["admin"], workspace=ws, required=True)
    tried = Recipe.objects.get(project=copies["test"])
    return {"ws": ws, "people": people, "copies": copies, "sync": sync, "tried": tried}


def _ask(w: dict[str, Any], who: str = "admin") -> Promotion:
    return promotion.promote(actor=w["people"][who], source=w["copies"]["test"], recipes=[w["tried"].pk])


def _in_prod(w: dict[str, Any]) -> list[Recipe]:
    return list(Recipe.objects.filter(project=w["copies"]["prod"]))


def test_only_an_admin_sets_the_rule_and_each_change_is_audited(w: dict[str, Any]) -> None:
    with pytest.raises(Forbidden):
        promotion.prod_approval_set(actor=w["people"]["builder"], workspace=w["ws"], required=False)
    changed = AuditEvent.objects.filter(action="workspace.prod_approval_changed").get()
    assert changed.details == {"from": False, "to": True}
    api = https_client(**bearer(w["people"]["admin"]))
    url = f"/api/v1/workspaces/{w['ws'].id}/prod-approval"
    assert api.get(url).json() == {"required": True}
    refused = api.put(url, json.dumps({"required": False, "extra": 1}), content_type="application/json")
    assert refused.status_code == 422
    assert api.put(url, json.dumps({"required": False}), content_type="application/json").json() == {
        "required": False
    }
    page = sign_in(https_client(), w["people"]["admin"])
    saved = page.post(f"/w/{w['ws'].slug}/settings", {"section": "promotion", "prod_second_approval": "on"})
    assert saved.status_code == 302
    assert (
        'name="prod_second_approval" value="on" checked'
        in page.get(f"/w/{w['ws'].slug}/settings").content.decode()
    )
    out = io.StringIO()
    call_command("promote", "second-approval", "--workspace", w["ws"].slug, "off", stdout=out)
    assert out.getvalue().strip() == "second approval into PROD: off"
    assert AuditEvent.objects.filter(action="workspace.prod_approval_changed").count() == 4


def test_a_prod_promotion_waits_and_its_requester_cannot_approve_it_through_the_services(
    w: dict[str, Any],
) -> None:
    asked = _ask(w)
    assert asked.status == "pending" and _in_prod(w) == []
    assert AuditEvent.objects.filter(action="promotion.requested", target_id=str(asked.pk)).count() == 1
    with pytest.raises(Forbidden, match="a second person must approve this promotion: its requester cannot"):
        promotion.promotion_approve(actor=w["people"]["admin"], promotion=asked)
    with pytest.raises(Forbidden):  # the Analyst may not promote into PROD at all
        promotion.promotion_approve(actor=w["people"]["analyst"], promotion=asked)
    assert Promotion.objects.get(pk=asked.pk).status == "pending" and _in_prod(w) == []


def test_a_second_person_approves_what_was_asked_for_signed_with_their_name(w: dict[str, Any]) -> None:
    asked = _ask(w)
    # TEST moves on after the request; the approval still promotes the version that was asked for.
    services.recipe_save(actor=w["people"]["admin"], recipe=w["sync"], definition=V2)
    promotion.promote(actor=w["people"]["admin"], source=w["copies"]["dev"], recipes=[w["sync"].pk])
    done = promotion.promotion_approve(actor=w["people"]["builder"], promotion=asked)
    assert (done.status, done.approved_by, done.requested_by) == (
        "done",
        w["people"]["builder"],
        w["people"]["admin"],
    )
    (live,) = _in_prod(w)
    version = live.current_version
    assert version.definition["steps"] == V1["steps"] and version.approved_by == w["people"]["builder"]
    assert signatures.version_refusal(version) is None
    event = AuditEvent.objects.get(action="project.promoted", target_id=str(w["copies"]["prod"].id))
    assert event.details["requested_by"] == w["people"]["admin"].email
    assert event.details["approved_by"] == w["people"]["builder"].email
    with pytest.raises(Exception, match="this promotion is done, not waiting for approval"):
        promotion.promotion_approve(actor=w["people"]["admin"], promotion=asked)


def test_the_requester_cannot_approve_through_the_api(w: dict[str, Any]) -> None:
    api = https_client(**bearer(w["people"]["admin"]))
    made = api.post(
        f"/api/v1/workspaces/{w['ws'].id}/projects/{w['copies']['test'].id}/promotions",
        json.dumps({"recipes": [str(w["tried"].id)]}),
        content_type="application/json",
    )
    assert made.status_code == 201 and made.json()["status"] == "pending"
    approve = f"/api/v1/workspaces/{w['ws'].id}/promotions/{made.json()['id']}/approve"
    refused = api.post(approve)
    assert refused.status_code == 403 and "its requester cannot" in refused.content.decode()
    assert _in_prod(w) == []
    other = https_client(**bearer(w["people"]["builder"])).post(approve)
    assert other.status_code == 200 and other.json()["status"] == "done"
    assert other.json()["approved_label"] == w["people"]["builder"].email
    assert len(_in_prod(w)) == 1


def test_the_requester_cannot_approve_on_the_migrate_page(w: dict[str, Any]) -> None:
    ws, test = w["ws"], w["copies"]["test"]
    page = sign_in(https_client(), w["people"]["builder"])
    asked = page.post(f"/w/{ws.slug}/projects/{test.id}/migrate", {"recipes": [str(w["tried"].id)]})
    assert asked.status_code == 302
    waiting = Promotion.objects.get(status="pending")
    shown = page.get(f"/w/{ws.slug}/projects/{test.id}/migrate").content.decode()
    assert 'id="pending-promotions"' in shown and "yours: another person approves it" in shown
    assert f"/w/{ws.slug}/promotions/{waiting.id}/approve" not in shown
    refused = page.post(f"/w/{ws.slug}/promotions/{waiting.id}/approve")
    assert refused.status_code == 403 and _in_prod(w) == []
    admin = sign_in(https_client(), w["people"]["admin"])
    offered = admin.get(f"/w/{ws.slug}/projects/{test.id}/migrate").content.decode()
    assert f"/w/{ws.slug}/promotions/{waiting.id}/approve" in offered
    approved = admin.post(f"/w/{ws.slug}/promotions/{waiting.id}/approve")
    assert approved.status_code == 302 and len(_in_prod(w)) == 1
    again = admin.post(f"/w/{ws.slug}/promotions/{waiting.id}/approve")
    assert again.status_code == 400 and "not waiting for approval" in again.content.decode()


def test_the_requester_cannot_approve_on_the_command_line_and_a_rejection_moves_nothing(
    w: dict[str, Any],
) -> None:
    ws, test = w["ws"], w["copies"]["test"]
    out = io.StringIO()
    call_command(
        "promote",
        "run",
        "--workspace",
        ws.slug,
        "--project",
        str(test.id),
        "--recipe",
        str(w["tried"].id),
        stdout=out,
    )
    assert out.getvalue().startswith("Waiting for a second person's approval into PROD: Sync v1")
    waiting = Promotion.objects.get(status="pending")
    assert waiting.requested_by is None and waiting.requested_label.startswith("cli")
    with pytest.raises(CommandError, match="its requester cannot"):
        call_command(
            "promote", "approve", "--workspace", ws.slug, "--promotion", str(waiting.id), stdout=io.StringIO()
        )
    assert _in_prod(w) == []
    decided = io.StringIO()
    call_command("promote", "reject", "--workspace", ws.slug, "--promotion", str(waiting.id), stdout=decided)
    assert decided.getvalue().strip() == f"Promotion {waiting.id} is rejected."
    assert _in_prod(w) == [] and AuditEvent.objects.filter(action="promotion.rejected").count() == 1
    # A promotion a person asked for, the command line's operator may approve: another person.
    asked = _ask(w)
    approved = io.StringIO()
    call_command("promote", "approve", "--workspace", ws.slug, "--promotion", str(asked.id), stdout=approved)
    assert approved.getvalue().strip() == f"Promotion {asked.id} is done." and len(_in_prod(w)) == 1


def test_another_workspaces_promotion_is_not_found(w: dict[str, Any]) -> None:
    asked = _ask(w)
    other = cast("admin", workspace="Elsewhere", domain="elsewhere.example").people()["admin"]
    api = https_client(**bearer(other))
    from causeway.workspaces.models import Workspace

    theirs = Workspace.objects.get(name="Elsewhere")
    assert api.post(f"/api/v1/workspaces/{theirs.id}/promotions/{asked.id}/approve").status_code == 404
    assert api.post(f"/api/v1/workspaces/{w['ws'].id}/promotions/{asked.id}/approve").status_code == 404
    assert Promotion.objects.get(pk=asked.pk).status == "pending"
