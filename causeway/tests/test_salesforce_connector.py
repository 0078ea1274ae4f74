"""The Salesforce connector against a local Salesforce org (`causeway.connections.tests.salesforce_server`):
its sign-in through Causeway's pages, whose token answer names the instance every call then goes to; SOQL
with bound values (and an injection that stays a value); pages followed through `nextRecordsUrl`;
records created, updated, upserted and read; error arrays named; `REQUEST_LIMIT_EXCEEDED` pausing the
connection; an expired session refreshed; a scope not granted refused before any call; and the
LastModifiedDate polling trigger."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.utils import timezone

from causeway.connections.models import Connection
from causeway.connections.tests.salesforce_server import Salesforce, salesforce_org
from causeway.runs.models import Job
from causeway.runs.tests.trigger_helpers import started_recipe
from causeway.runs.triggers import poll_tick, trigger_status
from causeway.tests.catalogue_kit import Catalogue, catalogue, output, redirect_uris, surfaces_nowhere

pytestmark = pytest.mark.django_db

CLIENT_SECRET = f"sf-cnry/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def kit() -> Catalogue:
    return catalogue("salesforce")


@pytest.fixture
def org(kit: Catalogue) -> Iterator[Salesforce]:
    with salesforce_org(client_secret=CLIENT_SECRET, redirect_uris=redirect_uris(kit.workspace)) as made:
        yield made


@pytest.fixture
def signed_in(kit: Catalogue, org: Salesforce) -> Connection:
    profile = kit.profile(org.provider, CLIENT_SECRET, ["api", "refresh_token"])
    return kit.sign_in(profile, ["api", "refresh_token"])


def sent_queries(org: Salesforce) -> list[str]:
    assert org.server is not None
    found = []
    for got in org.server.received:
        query = parse_qs(urlsplit(got.path).query)
        if "q" in query:
            found.append(query["q"][0])
    return found


def test_salesforce_sign_in_keeps_the_instance_url_from_the_token_answer(
    kit: Catalogue, org: Salesforce, signed_in: Connection
) -> None:
    [asked] = org.provider.provider.authorize_queries
    assert asked["code_challenge_method"] == "S256" and asked["code_challenge"]
    assert asked["scope"] == "api refresh_token"
    assert signed_in.granted_scopes == ["api", "refresh_token"]
    assert signed_in.credentials["instance_url"] == org.url
    job = kit.run(signed_in, "query", {"soql": "SELECT Id FROM Account"})
    assert job.status == "succeeded", job.error
    assert org.server is not None
    [sent] = org.server.received
    assert sent.path.startswith("/services/data/v62.0/query?q=")
    assert sent.headers["Authorization"] == f"Bearer {signed_in.credentials['access_token']}"


def test_salesforce_query_binds_values_and_an_injection_stays_a_value(
    kit: Catalogue, org: Salesforce, signed_in: Connection
) -> None:
    org.add("Account", {"Name": "Acme", "Industry": "Energy", "Employees": 120})
    org.add("Account", {"Name": "O'Brien & Sons", "Industry": "Retail", "Employees": 8})
    soql = "SELECT Id, Name FROM Account WHERE Name = :name AND Employees >= :least"
    found = kit.run(signed_in, "query", {"soql": soql, "values": {"name": "O'Brien & Sons", "least": 5}})
    assert found.status == "succeeded", found.error
    assert [r["Name"] for r in output(found)["records"]] == ["O'Brien & Sons"]
    # A value that would end the string and add a condition, were it spliced: it stays one string.
    evil = "x' OR Name != '"
    injected = kit.run(signed_in, "query", {"soql": soql, "values": {"name": evil, "least": 0}})
    assert injected.status == "succeeded", injected.error
    assert output(injected)["records"] == [] and output(injected)["total_size"] == 0
    assert sent_queries(org)[-1] == (
        "SELECT Id, Name FROM Account WHERE Name = 'x\\' OR Name != \\'' AND Employees >= 0"
    )
    # Lists for IN, dates in SOQL's own syntax; a name with no value, or a value with no name, is named.
    listed = kit.run(
        signed_in,
        "query",
        {
            "soql": "SELECT Name FROM Account WHERE Industry IN :kinds AND LastModifiedDate > :after",
            "values": {"kinds": ["Energy", "Retail"], "after": {"datetime": "2020-01-01T00:00:00+01:00"}},
        },
    )
    assert listed.status == "succeeded", listed.error
    assert len(output(listed)["records"]) == 2
    assert sent_queries(org)[-1].endswith(
        "IN ('Energy', 'Retail') AND LastModifiedDate > 2019-12-31T23:00:00Z"
    )
    missing = kit.run(signed_in, "query", {"soql": "SELECT Id FROM Account WHERE Name = :nme", "values": {}})
    assert missing.status == "failed" and ":nme, which has no value" in (missing.error or "")
    # The SOQL is not a template: what a trigger or an earlier step gives cannot reach its text.
    sent_before = len(sent_queries(org))
    templated = kit.run(signed_in, "query", {"soql": "SELECT Id FROM Account WHERE Name = '{{ trigger }}'"})
    assert templated.status == "failed" and "taken as written" in (templated.error or "")
    assert len(sent_queries(org)) == sent_before


def test_salesforce_query_follows_next_records_url_to_the_end_or_the_cap(
    kit: Catalogue, org: Salesforce, signed_in: Connection
) -> None:
    for n in range(1, 6):
        org.add("Contact", {"LastName": f"Person {n}"})
    job = kit.run(signed_in, "query", {"soql": "SELECT Id, LastName FROM Contact ORDER BY LastName"})
    assert job.status == "succeeded", job.error
    assert org.server is not None
    paths = [r.path for r in org.server.received]
    assert len(paths) == 3 and "/query/01g" in paths[1] and paths[2].endswith("-4")
    got = output(job)
    assert [r["LastName"] for r in got["records"]] == [f"Person {n}" for n in range(1, 6)]
    assert (got["total_size"], got["complete"]) == (5, True)
    assert "attributes" not in got["records"][0]
    org.server.recorder.received.clear()
    capped = kit.run(signed_in, "query", {"soql": "SELECT Id FROM Contact", "max_items": 3})
    assert (len(output(capped)["records"]), output(capped)["complete"]) == (3, False)
    assert len(org.server.received) == 2


def test_salesforce_create_update_upsert_and_get_record(
    kit: Catalogue, org: Salesforce, signed_in: Connection
) -> None:
    created = kit.run(signed_in, "create", {"sobject": "Account", "fields": {"Name": "Globex"}})
    assert created.status == "succeeded", created.error
    new_id = output(created)["id"]
    assert org.server is not None
    sent = org.server.received[-1]
    assert (sent.method, sent.path) == ("POST", "/services/data/v62.0/sobjects/Account/")
    assert json.loads(sent.body) == {"Name": "Globex"}
    changed = kit.run(
        signed_in, "update", {"sobject": "Account", "id": new_id, "fields": {"Industry": "Chemicals"}}
    )
    assert changed.status == "succeeded", changed.error
    assert org.server.received[-1].path == f"/services/data/v62.0/sobjects/Account/{new_id}"
    read = kit.run(
        signed_in, "get_record", {"sobject": "Account", "id": new_id, "fields": ["Name", "Industry"]}
    )
    assert output(read)["record"] == {"Name": "Globex", "Industry": "Chemicals"}
    given = {
        "sobject": "Account",
        "external_id_field": "Ext_Id__c",
        "external_id": "E/1 ?",
        "fields": {"Name": "I"},
    }
    first = kit.run(signed_in, "upsert", given)
    assert first.status == "succeeded", first.error
    assert org.server.received[-1].path == "/services/data/v62.0/sobjects/Account/Ext_Id__c/E%2F1%20%3F"
    again = kit.run(signed_in, "upsert", {**given, "fields": {"Name": "Initech"}})
    assert (output(first)["created"], output(again)["created"]) == (True, False)
    assert output(first)["id"] == output(again)["id"]
    assert [r["Name"] for r in org.objects["Account"] if r.get("Ext_Id__c") == "E/1 ?"] == ["Initech"]


def test_salesforce_error_arrays_become_step_errors_naming_code_and_message(
    kit: Catalogue, org: Salesforce, signed_in: Connection
) -> None:
    missing = kit.run(signed_in, "create", {"sobject": "Account", "fields": {"Phone": "1"}})
    assert missing.status == "failed"
    assert "REQUIRED_FIELD_MISSING: Required fields are missing: [Name]" in (missing.error or "")
    gone = kit.run(signed_in, "get_record", {"sobject": "Account", "id": "001000000000999AAA"})
    assert "NOT_FOUND: The requested resource does not exist" in (gone.error or "")
    malformed = kit.run(signed_in, "query", {"soql": "SELECT FROM Account"})
    assert "MALFORMED_QUERY" in (malformed.error or "")
    bad_name = kit.run(signed_in, "create", {"sobject": "Account; DROP", "fields": {"Name": "x"}})
    assert bad_name.status == "failed" and "sobject" in (bad_name.error or "")


def test_salesforce_request_limit_exceeded_pauses_the_connection(
    kit: Catalogue, org: Salesforce, signed_in: Connection
) -> None:
    org.limited = True
    limited = kit.run(signed_in, "query", {"soql": "SELECT Id FROM Account"})
    assert limited.status == "failed"
    assert "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded." in (limited.error or "")
    signed_in.refresh_from_db()
    assert signed_in.paused_until is not None
    assert signed_in.paused_until > timezone.now() + timedelta(minutes=55)


def test_salesforce_expired_session_is_refreshed_and_the_instance_kept(
    kit: Catalogue, org: Salesforce, signed_in: Connection
) -> None:
    old = signed_in.credentials["access_token"]
    org.provider.provider.expire_all()
    job = kit.run(signed_in, "query", {"soql": "SELECT Id FROM Account"})
    assert job.status == "succeeded", job.error
    assert org.provider.provider.refreshes == 1
    signed_in.refresh_from_db()
    assert signed_in.credentials["access_token"] != old
    assert signed_in.credentials["instance_url"] == org.url
    assert org.server is not None
    statuses = [r.headers["Authorization"] == f"Bearer {old}" for r in org.server.received]
    assert statuses == [True, False]
    assert old not in (job.error or "") and CLIENT_SECRET not in json.dumps(output(job))


def test_rule_07_salesforce_without_the_api_scope_sends_nothing(kit: Catalogue, org: Salesforce) -> None:
    profile = kit.profile(org.provider, CLIENT_SECRET, ["refresh_token"])
    made = kit.sign_in(profile, ["refresh_token"])
    assert made.granted_scopes == ["refresh_token"]
    job = kit.run(made, "query", {"soql": "SELECT Id FROM Account"})
    assert job.status == "failed" and "api" in (job.error or "")
    assert org.server is not None and org.server.received == []


class Ticks:
    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> list[Job]:
        self.now += timedelta(seconds=61)
        return poll_tick(self.now)


def test_salesforce_changed_records_trigger_never_starts_a_change_twice(
    kit: Catalogue, org: Salesforce, signed_in: Connection
) -> None:
    base = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
    org.add("Account", {"Name": "Before"}, at=base)
    trigger = {
        "type": "connector",
        "connection": str(signed_in.id),
        "trigger": "changed_records",
        "input": {"sobject": "Account", "fields": ["Name"], "batch": 2},
        "interval_seconds": 60,
    }
    recipe = started_recipe(kit.owner, kit.workspace, trigger, name="Accounts changed")
    tick = Ticks()
    assert tick() == []  # the first poll starts from now: what is there starts nothing
    same_second = base + timedelta(seconds=10)
    a = org.add("Account", {"Name": "A"}, at=same_second)
    org.add("Account", {"Name": "B"}, at=same_second)
    org.add("Account", {"Name": "C"}, at=same_second + timedelta(milliseconds=500))
    started = tick()
    # A batch of two ending in a second takes the whole second: all three, once each.
    assert [job.trigger_payload["Name"] for job in started] == ["A", "B", "C"]
    assert tick() == []
    # Changed again later: a new change, one more job.
    a["LastModifiedDate"] = "2026-12-01T09:00:30.000+0000"
    a["Name"] = "A2"
    assert [job.trigger_payload["Name"] for job in tick()] == ["A2"]
    assert tick() == []
    assert Job.objects.filter(recipe=recipe).count() == 4
    # Every poll compared LastModifiedDate with a time bound as a SOQL literal.
    assert not any(":since" in q or ":until" in q for q in sent_queries(org))
    assert any("WHERE LastModifiedDate >= 2026-12-01T09:00:10Z" in q for q in sent_queries(org))
    assert "Before" not in [job.trigger_payload["Name"] for job in Job.objects.filter(recipe=recipe)]


@pytest.mark.django_db(transaction=True)
def test_rule_13_salesforce_tokens_echoed_in_an_error_surface_nowhere(
    transactional_db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    kit = catalogue("salesforce")
    with salesforce_org(client_secret=CLIENT_SECRET, redirect_uris=redirect_uris(kit.workspace)) as org:
        profile = kit.profile(org.provider, CLIENT_SECRET, ["api", "refresh_token"])
        made = kit.sign_in(profile, ["api", "refresh_token"])
        issued = org.provider.provider.tokens[-1]
        org.careless = True
        failed = kit.run(made, "query", {"soql": "SELECT Id FROM Account"})
    assert failed.status == "failed" and "INVALID_INPUT: bad request from" in (failed.error or "")
    surfaces_nowhere(failed, [issued.access_token, str(issued.refresh_token), CLIENT_SECRET], caplog)


def test_connectors_list_shows_salesforce_and_google_sheets_with_their_triggers(kit: Catalogue) -> None:
    installed = StringIO()
    call_command("connectors", "list", stdout=installed)
    lines = {line.split("\t")[0]: line for line in installed.getvalue().splitlines()}
    assert "changed_records(poll)" in lines["salesforce"] and "new_rows(poll)" in lines["google_sheets"]
    listed = StringIO()
    call_command("connectors", "list", "--workspace", kit.workspace.slug, stdout=listed)
    states = {line.split("\t")[0]: line.split("\t")[-1] for line in listed.getvalue().splitlines()}
    assert (states["salesforce"], states["google_sheets"]) == ("enabled", "disabled")


def test_salesforce_request_limit_exceeded_in_a_poll_pauses_the_polls_too(
    kit: Catalogue, org: Salesforce, signed_in: Connection
) -> None:
    trigger = {
        "type": "connector",
        "connection": str(signed_in.id),
        "trigger": "changed_records",
        "input": {"sobject": "Account"},
        "interval_seconds": 60,
    }
    recipe = started_recipe(kit.owner, kit.workspace, trigger, name="Accounts while limited")
    tick = Ticks()
    org.limited = True
    assert tick() == []
    signed_in.refresh_from_db()
    assert signed_in.paused_until is not None and signed_in.paused_until > tick.now + timedelta(minutes=55)
    status = trigger_status(actor=kit.owner, recipe=recipe)
    assert "REQUEST_LIMIT_EXCEEDED" in (status.last_error or "")
    assert org.server is not None
    asked = len(org.server.received)
    org.limited = False
    # A minute later the pause still holds: nothing is sent, and the status says until when.
    assert tick() == []
    assert len(org.server.received) == asked
    assert "not polled" in (trigger_status(actor=kit.owner, recipe=recipe).last_error or "")
    # Once the pause has passed the polls go on.
    Connection.objects.filter(pk=signed_in.pk).update(paused_until=timezone.now() - timedelta(seconds=1))
    assert tick() == []
    assert len(org.server.received) > asked
    assert trigger_status(actor=kit.owner, recipe=recipe).last_error is None
