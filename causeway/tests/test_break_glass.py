"""Break-glass: PROD job data is hidden from people until an Admin approves a named person's
time-limited request (or the workspace lets it approve itself, flagged); every view meanwhile is
audited, and access ends at its time, checked at each request with no scheduled task: the first
request after it is 403, and audited."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from causeway.access.errors import Forbidden, NotFound
from causeway.audit.models import AuditEvent
from causeway.recipes import promotion, services
from causeway.recipes.models import Project, Recipe
from causeway.runs import breakglass, history
from causeway.runs.models import BreakGlass, Job
from causeway.workspaces.tests.helpers import bearer, sign_in
from testkit.factories import ProjectFactory
from testkit.personas import cast
from testkit.support import https_client

pytestmark = pytest.mark.django_db

SECRET_ORDER = "order-4711-for-acme"


@pytest.fixture
def w() -> dict[str, Any]:
    acme = cast("admin", "analyst", "operator")
    ws, people = acme.workspace, acme.people()
    admin = people["admin"]
    dev = ProjectFactory.create(workspace=ws, name="Orders")
    definition = {"trigger": {"type": "manual"}, "steps": [{"id": "m", "type": "map", "fields": {"a": "1"}}]}
    built = services.recipe_create(actor=admin, workspace=ws, project=dev, name="Sync", definition=definition)
    promotion.promote(actor=admin, source=dev, recipes=[built.pk])
    test = Project.objects.get(family=dev.family, environment="test")
    promotion.promote(actor=admin, source=test, recipes=[Recipe.objects.get(project=test).pk])
    live = Recipe.objects.get(project__family=dev.family, project__environment="prod")
    job = Job.objects.create(
        workspace=ws,
        recipe=live,
        version=live.current_version,
        environment="prod",
        trigger_type="webhook",
        status="succeeded",
        trigger_payload={"order": SECRET_ORDER},
    )
    return {"ws": ws, "people": people, "job": job}


def _data(w: dict[str, Any], who: str) -> Any:
    return breakglass.job_data(actor=w["people"][who], workspace=w["ws"], job_id=w["job"].pk)


def test_prod_job_data_is_hidden_without_a_session_and_refused_and_audited(w: dict[str, Any]) -> None:
    view = history.job_view(actor=w["people"]["analyst"], workspace=w["ws"], job_id=w["job"].pk)
    assert view.payload == history.PROD_HIDDEN
    with pytest.raises(Forbidden, match="needs a break-glass session in force"):
        _data(w, "analyst")
    page = sign_in(https_client(), w["people"]["analyst"])
    job_page = page.get(f"/w/{w['ws'].slug}/jobs/{w['job'].pk}").content.decode()
    assert SECRET_ORDER not in job_page and 'id="job-data-link"' in job_page
    refused = page.get(f"/w/{w['ws'].slug}/jobs/{w['job'].pk}/data")
    assert refused.status_code == 403 and SECRET_ORDER not in refused.content.decode()
    denied = AuditEvent.objects.filter(action="access.denied", workspace_id=w["ws"].id).latest("seq")
    assert denied.details["permission"] == "break_glass" and denied.outcome == "denied"


def test_an_admin_approves_a_request_every_view_is_audited_and_it_ends_at_its_time(w: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        breakglass.break_glass_request(
            actor=w["people"]["analyst"], workspace=w["ws"], reason="why", minutes=30
        )
    with pytest.raises(ValidationError, match="from 1 to 240"):
        breakglass.break_glass_request(
            actor=w["people"]["analyst"], workspace=w["ws"], reason="incident 42: orders lost", minutes=241
        )
    asked = breakglass.break_glass_request(
        actor=w["people"]["analyst"], workspace=w["ws"], reason="incident 42: orders lost", minutes=30
    )
    assert asked.status == "requested"
    with pytest.raises(Forbidden):  # requested is not approved
        _data(w, "analyst")
    with pytest.raises(Forbidden):  # only an Admin approves
        breakglass.break_glass_approve(actor=w["people"]["operator"], session=asked)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        approved = breakglass.break_glass_approve(actor=w["people"]["admin"], session=asked)
        assert approved.expires_at == start + timedelta(minutes=30) and not approved.self_approved
        assert _data(w, "analyst").payload == {"order": SECRET_ORDER}
        with pytest.raises(Forbidden):  # the session is the analyst's, not the operator's
            _data(w, "operator")
    with time_machine.travel(start + timedelta(minutes=29), tick=False):
        api = https_client(**bearer(w["people"]["analyst"]))
        seen = api.get(f"/api/v1/workspaces/{w['ws'].id}/jobs/{w['job'].pk}/data")
        assert seen.status_code == 200 and seen.json()["trigger_payload"] == {"order": SECRET_ORDER}
    assert AuditEvent.objects.filter(action="job.data_viewed", target_id=str(w["job"].pk)).count() == 2
    with time_machine.travel(start + timedelta(minutes=30, seconds=1), tick=False):
        late = https_client(**bearer(w["people"]["analyst"])).get(
            f"/api/v1/workspaces/{w['ws'].id}/jobs/{w['job'].pk}/data"
        )
        assert late.status_code == 403 and SECRET_ORDER not in late.content.decode()
        page = sign_in(https_client(), w["people"]["analyst"])
        assert page.get(f"/w/{w['ws'].slug}/jobs/{w['job'].pk}/data").status_code == 403
    denials = [
        e
        for e in AuditEvent.objects.filter(action="access.denied")
        if e.details["permission"] == "break_glass"
    ]
    assert len(denials) == 2
    assert AuditEvent.objects.filter(action="job.data_viewed").count() == 2


def test_self_approval_only_where_the_workspace_allows_and_flagged(w: dict[str, Any]) -> None:
    admin = w["people"]["admin"]
    own = breakglass.break_glass_request(
        actor=admin, workspace=w["ws"], reason="checking a PROD failure", minutes=5
    )
    with pytest.raises(Forbidden, match="allows no self-approval"):
        breakglass.break_glass_approve(actor=admin, session=own)
    with pytest.raises(Forbidden):
        breakglass.break_glass_self_approval_set(
            actor=w["people"]["analyst"], workspace=w["ws"], allowed=True
        )
    breakglass.break_glass_self_approval_set(actor=admin, workspace=w["ws"], allowed=True)
    mine = breakglass.break_glass_request(
        actor=w["people"]["operator"], workspace=w["ws"], reason="the customer asked what we sent", minutes=10
    )
    assert mine.status == "approved" and mine.self_approved and mine.approved_by == w["people"]["operator"]
    flagged = AuditEvent.objects.get(action="break_glass.approved", target_id=str(mine.pk))
    assert flagged.details["self_approved"] is True
    assert _data(w, "operator").payload == {"order": SECRET_ORDER}


def test_admins_see_every_session_on_one_page_and_others_their_own(w: dict[str, Any]) -> None:
    for who in ("analyst", "operator"):
        breakglass.break_glass_request(
            actor=w["people"][who], workspace=w["ws"], reason=f"{who} needs it now", minutes=15
        )
    admin_page = sign_in(https_client(), w["people"]["admin"]).get(f"/w/{w['ws'].slug}/break-glass")
    shown = admin_page.content.decode()
    assert "analyst needs it now" in shown and "operator needs it now" in shown and "Approve" in shown
    own = (
        sign_in(https_client(), w["people"]["analyst"]).get(f"/w/{w['ws'].slug}/break-glass").content.decode()
    )
    assert (
        "analyst needs it now" in own and "operator needs it now" not in own and "Approve</button>" not in own
    )
    api = https_client(**bearer(w["people"]["operator"]))
    base = f"/api/v1/workspaces/{w['ws'].id}/break-glass"
    assert [s["reason"] for s in api.get(base).json()] == ["operator needs it now"]
    bad = api.post(base, json.dumps({"reason": "short", "minutes": 10}), content_type="application/json")
    # The schema says what a reason is, so a short one is refused before the service sees it.
    assert bad.status_code == 422 and "reason" in bad.content.decode()
    page = sign_in(https_client(), w["people"]["analyst"])
    asked = page.post(f"/w/{w['ws'].slug}/break-glass", {"reason": "incident 7 in PROD", "minutes": "20"})
    assert asked.status_code == 302
    waiting = next(s for s in BreakGlass.objects.all() if s.reason == "incident 7 in PROD")
    approved = https_client(**bearer(w["people"]["admin"])).post(f"{base}/{waiting.pk}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"


def test_the_command_line_lists_sessions_and_sets_self_approval(w: dict[str, Any]) -> None:
    import io

    from django.core.management import call_command

    waiting = breakglass.break_glass_request(
        actor=w["people"]["analyst"], workspace=w["ws"], reason="incident 9: wrong totals", minutes=45
    )
    out = io.StringIO()
    call_command("break-glass", "self-approval", "--workspace", w["ws"].slug, "on", stdout=out)
    assert out.getvalue().strip() == "self-approval: on"
    mine = breakglass.break_glass_request(
        actor=w["people"]["operator"], workspace=w["ws"], reason="customer asked about 4711", minutes=10
    )
    listed = io.StringIO()
    call_command("break-glass", "list", "--workspace", w["ws"].slug, stdout=listed)
    lines = listed.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith(str(mine.pk)) and "\tself-approved\t" in lines[0]
    assert lines[1].startswith(str(waiting.pk)) and "\trequested\t" in lines[1]
    active = io.StringIO()
    call_command("break-glass", "list", "--workspace", w["ws"].slug, "--active", stdout=active)
    assert [line.split("\t")[0] for line in active.getvalue().splitlines()] == [str(mine.pk)]


def _events(action: str, session: BreakGlass) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action=action, target_id=str(session.pk)).order_by(
            "occurred_at", "chain", "seq"
        )
    )


def test_the_requester_withdraws_a_waiting_request_and_no_one_else_can(w: dict[str, Any]) -> None:
    people, ws = w["people"], w["ws"]
    asked = breakglass.break_glass_request(
        actor=people["analyst"], workspace=ws, reason="incident 51: orders stuck", minutes=30
    )
    with pytest.raises(Forbidden, match="only its requester withdraws"):
        breakglass.break_glass_withdraw(actor=people["admin"], session=asked)
    base = f"/api/v1/workspaces/{ws.id}/break-glass/{asked.pk}"
    # Another member does not even learn that the request exists (rule 9).
    assert https_client(**bearer(people["operator"])).post(f"{base}/withdraw").status_code == 404
    page = sign_in(https_client(), people["analyst"])
    shown = page.get(f"/w/{ws.slug}/break-glass").content.decode()
    assert f"/break-glass/{asked.pk}/withdraw" in shown and "Refuse</button>" not in shown
    done = page.post(f"/w/{ws.slug}/break-glass/{asked.pk}/withdraw")
    assert done.status_code == 302
    asked.refresh_from_db()
    assert (asked.status, asked.closed_by, asked.expires_at) == ("withdrawn", people["analyst"], None)
    [event] = _events("break_glass.withdrawn", asked)
    assert event.actor_id == str(people["analyst"].pk) and event.details["by"] == people["analyst"].email
    # Withdrawn is final: it can be neither withdrawn again nor approved (a state, so 409).
    again = https_client(**bearer(people["analyst"])).post(f"{base}/withdraw")
    assert again.status_code == 409 and "this request is withdrawn" in again.json()["detail"]
    with pytest.raises(ValidationError, match="this request is withdrawn"):
        breakglass.break_glass_approve(actor=people["admin"], session=asked)
    with pytest.raises(Forbidden):
        _data(w, "analyst")


def test_an_admin_refuses_a_waiting_request_on_every_interface(w: dict[str, Any]) -> None:
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    people, ws = w["people"], w["ws"]
    asks = [
        breakglass.break_glass_request(
            actor=people["operator"], workspace=ws, reason=f"incident {n}: totals wrong", minutes=20
        )
        for n in (61, 62, 63)
    ]
    with pytest.raises(Forbidden):  # refusing is an Admin's
        breakglass.break_glass_refuse(actor=people["analyst"], session=asks[0])
    operator_api = https_client(**bearer(people["operator"]))
    refused_own = operator_api.post(f"/api/v1/workspaces/{ws.id}/break-glass/{asks[0].pk}/refuse")
    assert refused_own.status_code == 403
    admin_page = sign_in(https_client(), people["admin"])
    assert "Refuse</button>" in admin_page.get(f"/w/{ws.slug}/break-glass").content.decode()
    assert admin_page.post(f"/w/{ws.slug}/break-glass/{asks[0].pk}/refuse").status_code == 302
    admin_api = https_client(**bearer(people["admin"]))
    answer = admin_api.post(f"/api/v1/workspaces/{ws.id}/break-glass/{asks[1].pk}/refuse")
    assert answer.status_code == 200 and answer.json()["status"] == "refused"
    assert answer.json()["closed_by"] == people["admin"].email
    out = io.StringIO()
    call_command("break-glass", "refuse", "--workspace", ws.slug, str(asks[2].pk), stdout=out)
    assert out.getvalue().strip() == f"{asks[2].pk}\t{people['operator'].email}\trefused"
    with pytest.raises(CommandError, match="this request is refused"):
        call_command("break-glass", "refuse", "--workspace", ws.slug, str(asks[2].pk), stdout=io.StringIO())
    with pytest.raises(CommandError, match="break-glass session: not found"):
        call_command("break-glass", "refuse", "--workspace", ws.slug, "not-an-id", stdout=io.StringIO())
    for ask in asks:
        ask.refresh_from_db()
        assert ask.status == "refused" and ask.expires_at is None
        assert len(_events("break_glass.refused", ask)) == 1
    late = admin_api.post(f"/api/v1/workspaces/{ws.id}/break-glass/{asks[0].pk}/approve")
    assert late.status_code == 409 and "this request is refused" in late.json()["detail"]
    with pytest.raises(Forbidden):
        _data(w, "operator")


def test_a_session_is_ended_early_by_its_holder_or_an_admin_and_data_hides_at_once(w: dict[str, Any]) -> None:
    import io

    from django.core.management import call_command

    people, ws = w["people"], w["ws"]

    def opened(who: str) -> BreakGlass:
        asked = breakglass.break_glass_request(
            actor=people[who], workspace=ws, reason="incident 77: refunds doubled", minutes=120
        )
        return breakglass.break_glass_approve(actor=people["admin"], session=asked)

    mine = opened("analyst")
    assert _data(w, "analyst").payload == {"order": SECRET_ORDER}
    with pytest.raises(NotFound):  # another member does not see the session at all
        breakglass.break_glass_get(people["operator"], ws, mine.pk)
    with pytest.raises(Forbidden):  # nor may end it, were it found
        breakglass.break_glass_end(actor=people["operator"], session=mine)
    page = sign_in(https_client(), people["analyst"])
    assert f"/break-glass/{mine.pk}/end" in page.get(f"/w/{ws.slug}/break-glass").content.decode()
    before = timezone.now()
    assert page.post(f"/w/{ws.slug}/break-glass/{mine.pk}/end").status_code == 302
    mine.refresh_from_db()
    assert mine.status == "ended" and mine.closed_by == people["analyst"]
    assert mine.expires_at is not None and before <= mine.expires_at <= timezone.now()
    assert len(_events("break_glass.ended", mine)) == 1
    refused = page.get(f"/w/{ws.slug}/jobs/{w['job'].pk}/data")
    assert refused.status_code == 403 and SECRET_ORDER not in refused.content.decode()
    again = page.post(f"/w/{ws.slug}/break-glass/{mine.pk}/end")
    assert again.status_code == 409 and "this session is ended" in again.content.decode()

    theirs = opened("operator")
    ended = https_client(**bearer(people["admin"])).post(
        f"/api/v1/workspaces/{ws.id}/break-glass/{theirs.pk}/end"
    )
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    with pytest.raises(Forbidden):
        _data(w, "operator")

    third = opened("operator")
    out = io.StringIO()
    call_command("break-glass", "end", "--workspace", ws.slug, str(third.pk), stdout=out)
    assert out.getvalue().strip().endswith("\tended")
    third.refresh_from_db()
    assert third.status == "ended" and third.closed_by is None and third.closed_label

    # A session over by its own time is not ended again: 409, it is expired.
    fourth = opened("analyst")
    with time_machine.travel(fourth.expires_at + timedelta(seconds=1), tick=False):
        late = https_client(**bearer(people["analyst"])).post(
            f"/api/v1/workspaces/{ws.id}/break-glass/{fourth.pk}/end"
        )
        assert late.status_code == 409 and "this session is expired" in late.json()["detail"]


def test_the_reason_is_stored_sealed_not_in_clear(w: dict[str, Any]) -> None:
    from django.db import connection

    secret_reason = "customer Zorblax-9317 asked what we sent"
    asked = breakglass.break_glass_request(
        actor=w["people"]["analyst"], workspace=w["ws"], reason=secret_reason, minutes=10
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reason FROM runs_breakglass WHERE id = %s",
            [asked.pk.hex if connection.vendor == "sqlite" else asked.pk],
        )
        [(stored,)] = cursor.fetchall()
    raw = bytes(stored)
    assert b"Zorblax" not in raw and b"Zorblax".hex().encode() not in raw and len(raw) > len(secret_reason)
    assert BreakGlass.objects.get(pk=asked.pk).reason == secret_reason


def test_approving_and_refusing_ask_for_the_workspace_settings_before_any_session_is_looked_up(
    w: dict[str, Any],
) -> None:
    import uuid

    people, ws = w["people"], w["ws"]
    ask = breakglass.break_glass_request(
        actor=people["operator"], workspace=ws, reason="incident 64: totals wrong", minutes=20
    )
    analyst_api = https_client(**bearer(people["analyst"]))
    analyst_page = sign_in(https_client(), people["analyst"])
    for decision in ("approve", "refuse"):
        for ref in (ask.pk, uuid.uuid4()):
            answer = analyst_api.post(f"/api/v1/workspaces/{ws.id}/break-glass/{ref}/{decision}")
            assert answer.status_code == 403 and answer.json()["permission"] == "workspace:settings"
            assert analyst_page.post(f"/w/{ws.slug}/break-glass/{ref}/{decision}").status_code == 403
    denied = AuditEvent.objects.filter(action="access.denied", actor_id=str(people["analyst"].pk))
    assert {e.details["permission"] for e in denied} == {"workspace:settings"} and denied.count() == 8
    ask.refresh_from_db()
    assert ask.status == "requested" and not _events("break_glass.refused", ask)
