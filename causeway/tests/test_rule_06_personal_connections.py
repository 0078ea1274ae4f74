"""Rule 6: a personal connection is used only in jobs run on behalf of its owner. Nobody else (an Admin,
staff, a re-run by someone else, a member of another workspace) uses it or sees what it fetched, and a
refused attempt sends nothing: the real local server records every request it receives."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as database
from django.test.utils import CaptureQueriesContext

from causeway.access.errors import NotFound
from causeway.connections import selectors
from causeway.connections import services as connections
from causeway.connections.models import ConnectionUse
from causeway.connections.tests.servers import Answer, Received, http_server
from causeway.recipes.services import recipe_save
from causeway.runs.history import PRIVATE, failure_reasons, job_view
from causeway.runs.services import job_rerun
from causeway.runs.tests.factories import make_job
from causeway.tests.connections_kit import COMPANY_PASSWORD, TOKEN, Kit, build, recipe, run, step, triggered
from causeway.tests.oauth_kit import oauth_kit
from causeway.workspaces.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def server() -> Iterator[Any]:
    def answer(got: Received) -> Answer:
        return Answer(body={"items": [{"id": 1, "private": "olive's data"}], "path": got.path})

    with http_server(answer) as running:
        yield running


@pytest.fixture
def kit(server: Any) -> Kit:
    return build(server.url + "/v1")


def test_rule_06_the_owner_runs_a_recipe_with_their_personal_connection(kit: Kit, server: Any) -> None:
    assert kit.personal is not None
    job = run(kit.owner, recipe(kit, kit.owner, [step(kit.personal)]))
    assert job.status == "succeeded", job.error
    (got,) = server.received
    assert got.path == "/v1/items"
    assert got.headers["Authorization"] == f"Bearer {TOKEN}"
    assert got.headers["Idempotency-Key"] == f"{job.id}:call"
    view = job_view(actor=kit.owner, workspace=kit.workspace, job_id=job.id)
    assert view.steps[0].output["body"]["items"][0]["private"] == "olive's data"
    assert TOKEN not in str(view.steps[0].input)
    use = ConnectionUse.objects.get()
    assert (use.outcome, use.host, use.on_behalf_of, use.job_id) == (
        "succeeded",
        "127.0.0.1",
        kit.owner,
        job.id,
    )


def test_rule_06_a_recipe_run_by_an_admin_is_refused_before_any_request(kit: Kit, server: Any) -> None:
    assert kit.personal is not None
    job = run(kit.admin, recipe(kit, kit.owner, [step(kit.personal)]))
    assert job.status == "failed"
    assert "someone else's personal connection" in (job.error or "")
    assert server.received == []
    assert ConnectionUse.objects.get().outcome == "refused"


def test_rule_06_a_version_saved_by_someone_else_does_not_run_on_the_owners_behalf(
    kit: Kit, server: Any
) -> None:
    assert kit.personal is not None
    found = recipe(kit, kit.owner, [step(kit.personal)])
    # The owner's own version fires on their behalf from a schedule...
    assert triggered(found).status == "succeeded"
    assert len(server.received) == 1
    # ...but once an Admin saves a version, it runs on the Admin's behalf, and is refused.
    recipe_save(actor=kit.admin, recipe=found, definition=found.current_version.definition)
    found.refresh_from_db()
    job = triggered(found, "webhook")
    assert job.status == "failed" and "someone else's personal connection" in (job.error or "")
    assert len(server.received) == 1


def test_rule_06_a_rerun_by_someone_else_is_refused_and_sends_nothing(kit: Kit, server: Any) -> None:
    assert kit.personal is not None
    found = recipe(kit, kit.owner, [step(kit.personal, path="/fail")])

    def failing(got: Received) -> Answer:
        return Answer(status=400, body={"error": "bad"})

    server.recorder.responder = failing
    first = run(kit.owner, found)
    assert first.status == "failed" and len(server.received) == 1
    again = job_rerun(actor=kit.analyst, job=first)
    from causeway.runs import runtime

    runtime.run(again.pk)
    again.refresh_from_db()
    assert again.status == "failed" and "someone else's personal connection" in (again.error or "")
    assert len(server.received) == 1


def test_rule_06_why_a_job_failed_is_the_owners_alone_on_run_history_and_the_dashboard(
    kit: Kit, server: Any
) -> None:
    assert kit.personal is not None
    found = recipe(kit, kit.owner, [step(kit.personal, path="/fail")])

    def failing(got: Received) -> Answer:
        return Answer(status=400, body={"error": "olive's account is locked"})

    server.recorder.responder = failing
    failed = run(kit.owner, found)
    assert failed.status == "failed" and failed.error
    mine = failure_reasons(actor=kit.owner, jobs=[failed])
    assert mine == {failed.pk: job_view(actor=kit.owner, workspace=kit.workspace, job_id=failed.pk).error}
    assert mine[failed.pk] != PRIVATE
    for viewer in (kit.admin, kit.analyst, kit.operator):
        assert failure_reasons(actor=viewer, jobs=[failed]) == {failed.pk: PRIVATE}


def test_rule_06_failure_reasons_cost_the_same_queries_for_one_failed_job_or_ten(
    kit: Kit, server: Any
) -> None:
    assert kit.personal is not None
    found = recipe(kit, kit.owner, [step(kit.personal, path="/fail")])
    server.recorder.responder = lambda got: Answer(status=400, body={"error": "olive's account is locked"})
    first = run(kit.owner, found)
    use = ConnectionUse.objects.get(job_id=first.pk)
    failed = [first]
    for _ in range(9):
        another = make_job(found, by=kit.owner, status="failed", error="HTTP 400 from the API")
        ConnectionUse.objects.create(
            workspace=kit.workspace,
            connection=use.connection,
            action=use.action,
            job_id=another.pk,
            on_behalf_of=kit.owner,
            outcome=use.outcome,
        )
        failed.append(another)
    # A job that used none of them: its reason is shown to everyone.
    failed.append(make_job(found, by=kit.analyst, status="failed", error="the API said no"))

    def counted(jobs: list[Any]) -> tuple[int, dict[Any, str]]:
        with CaptureQueriesContext(database) as queries:
            reasons = failure_reasons(actor=kit.admin, jobs=jobs)
        return len(queries), reasons

    one, reasons = counted(failed[:1])
    assert reasons == {first.pk: PRIVATE}
    eleven, reasons = counted(failed)
    assert eleven == one == 1
    assert reasons == {**{job.pk: PRIVATE for job in failed[:10]}, failed[10].pk: "the API said no"}


def test_rule_06_job_history_keeps_what_it_fetched_from_everyone_but_the_owner(kit: Kit, server: Any) -> None:
    assert kit.personal is not None
    job = run(
        kit.owner,
        recipe(
            kit,
            kit.owner,
            [step(kit.personal), {"id": "copy", "type": "map", "fields": {"x": "{{ steps.call.body }}"}}],
        ),
    )
    assert job.status == "succeeded"
    for viewer in (kit.admin, kit.analyst, kit.operator):
        view = job_view(actor=viewer, workspace=kit.workspace, job_id=job.id)
        assert [s.output for s in view.steps] == [PRIVATE, PRIVATE]
        assert [s.input for s in view.steps] == [PRIVATE, PRIVATE]
        assert "olive's data" not in repr(view)
    for stranger in (kit.staff, kit.outsider):
        with pytest.raises(NotFound):
            job_view(actor=stranger, workspace=kit.workspace, job_id=job.id)


def test_rule_06_staff_and_other_workspaces_neither_see_nor_use_it(kit: Kit, server: Any) -> None:
    assert kit.personal is not None
    for stranger in (kit.staff, kit.outsider):
        with pytest.raises(NotFound):
            selectors.connection_detail(
                actor=stranger, workspace=kit.workspace, connection_id=kit.personal.id
            )
        with pytest.raises(NotFound):
            connections.connection_test(
                actor=stranger, workspace=kit.workspace, connection_id=kit.personal.id
            )
        with pytest.raises(NotFound):
            connections.connection_revoke(
                actor=stranger, workspace=kit.workspace, connection_id=kit.personal.id
            )
    assert server.received == []


def test_rule_06_leaving_the_workspace_ends_use_at_once(kit: Kit, server: Any) -> None:
    assert kit.personal is not None
    found = recipe(kit, kit.owner, [step(kit.personal)])
    found.active, found.active_version = True, found.current_version
    found.save(update_fields=["active", "active_version"])
    Membership.objects.filter(user=kit.owner, workspace=kit.workspace).delete()
    job = triggered(found)
    assert job.status == "failed" and "not a member" in (job.error or "")
    assert server.received == []


def test_rule_06_a_company_connection_needs_a_link_by_the_person_the_job_runs_for(
    kit: Kit, server: Any
) -> None:
    assert kit.company is not None
    found = recipe(kit, kit.analyst, [step(kit.company)])
    job = run(kit.analyst, found)
    assert job.status == "failed" and "is not linked by analyst@example.com" in (job.error or "")
    assert server.received == []
    connections.connection_link(actor=kit.analyst, workspace=kit.workspace, connection_id=kit.company.id)
    assert run(kit.analyst, found).status == "succeeded"
    (got,) = server.received
    assert (
        got.headers["Authorization"]
        == "Basic " + base64.b64encode(f"acme:{COMPANY_PASSWORD}".encode()).decode()
    )
    # Linked by the analyst, not by the operator: the operator's run is refused.
    assert run(kit.operator, found).status == "failed"
    connections.connection_unlink(actor=kit.analyst, workspace=kit.workspace, connection_id=kit.company.id)
    assert run(kit.analyst, found).status == "failed"
    assert len(server.received) == 1


def test_rule_06_the_operators_command_line_runs_on_behalf_of_no_one(kit: Kit, server: Any) -> None:
    from causeway.accounts.actors import SYSTEM

    assert kit.personal is not None
    job = run(SYSTEM, recipe(kit, kit.owner, [step(kit.personal)]))
    assert job.status == "failed" and "on behalf of no one" in (job.error or "")
    assert server.received == []


# Every interface: the API, the pages and the command line answer the same, and send nothing.


def _api(client: Any, user: Any, method: str, path: str, **body: Any) -> Any:
    from causeway.workspaces.tokens import token_create

    _, token = token_create(actor=user, name="t", expires_in_days=1)
    call = getattr(client, method.lower())
    kwargs: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if body:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return call(f"/api/v1/workspaces/{{ws}}{path}".replace("{ws}", "acme"), **kwargs)


def test_rule_06_the_api_shows_admins_only_that_it_exists_and_lets_no_one_else_use_it(
    kit: Kit, server: Any, client: Any
) -> None:
    assert kit.personal is not None
    path = f"/connections/{kit.personal.id}"
    seen = _api(client, kit.admin, "GET", path)
    assert seen.status_code == 200
    assert seen.json()["owner"] == "owner@example.com"
    assert seen.json()["settings"] == {} and seen.json()["credentials"] == {}
    assert _api(client, kit.admin, "POST", path + "/test").status_code == 403
    assert _api(client, kit.admin, "PATCH", path, scopes=["read", "write"]).status_code == 403
    assert _api(client, kit.admin, "GET", path + "/uses").status_code == 403
    for stranger in (kit.operator, kit.analyst):
        assert _api(client, stranger, "GET", path).status_code == 404
        assert _api(client, stranger, "POST", path + "/test").status_code == 404
    mine = _api(client, kit.owner, "GET", path).json()
    assert mine["credentials"] == {"Token": selectors.MASK}
    assert TOKEN not in json.dumps(mine)
    assert server.received == []


def test_rule_06_the_pages_show_admins_only_that_it_exists(kit: Kit, server: Any, client: Any) -> None:
    assert kit.personal is not None
    url = f"/w/acme/connections/{kit.personal.id}"
    client.force_login(kit.admin)
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "owner@example.com" in text and kit.base_url not in text and TOKEN not in text
    assert 'id="test-form"' not in text and 'id="revoke-form"' in text
    assert client.post(url + "/test").status_code == 403
    client.force_login(kit.operator)
    assert client.get(url).status_code == 404
    assert client.post(url + "/test").status_code == 404
    assert kit.personal.name not in client.get("/w/acme/connections").content.decode()
    client.force_login(kit.staff)
    assert client.get(url).status_code == 404
    assert server.received == []


def test_rule_06_the_command_line_neither_tests_nor_reads_it(kit: Kit, server: Any) -> None:
    assert kit.personal is not None
    out = io.StringIO()
    call_command("connections", "list", "--workspace", "acme", stdout=out)
    assert "Olive's API" in out.getvalue() and TOKEN not in out.getvalue()
    with pytest.raises(CommandError, match="connection:edit"):
        call_command("connections", "test", "--workspace", "acme", str(kit.personal.id), stdout=io.StringIO())
    with pytest.raises(CommandError, match="connection:edit"):
        call_command(
            "connections",
            "scopes",
            "--workspace",
            "acme",
            str(kit.personal.id),
            "--scopes",
            "read,write",
            stdout=io.StringIO(),
        )
    assert server.received == []


def test_rule_06_nobody_but_its_owner_signs_a_personal_oauth_connection_in_again_or_uses_its_tokens() -> None:
    with oauth_kit() as signed:
        connection = signed.sign_in(scopes=["read"])
        exchanged = len(signed.provider.token_requests)
        path = f"/w/{signed.workspace.slug}/oauth/start"
        # The Admin sees that it exists but may not sign it in again (and so swap in their own account).
        assert signed.browser(signed.admin).post(path, {"connection": str(connection.id)}).status_code == 403
        # Another member, and an Admin of another workspace, are told nothing about it.
        assert (
            signed.browser(signed.analyst).post(path, {"connection": str(connection.id)}).status_code == 404
        )
        outsider = signed.browser(signed.outsider)
        assert outsider.post(path, {"connection": str(connection.id)}).status_code == 404
        # A job run by the Admin that names it is refused before any request; the provider sees nothing.
        job = run(signed.admin, recipe(signed.as_kit(), signed.admin, [step(connection, "get")]))
        assert job.status == "failed" and "someone else's personal connection" in (job.error or "")
        assert signed.provider.resource_calls == []
        assert len(signed.provider.token_requests) == exchanged
