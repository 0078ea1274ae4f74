"""The Google Sheets connector against a local Sheets API (`causeway.connections.tests.sheets_server`): its
sign-in through Causeway's pages with offline access, ranges read, rows appended and ranges updated
with each value input option, rows found block after block, Google's error shapes, a 429 pausing the
connection, an expired token refreshed, a scope not granted refused before any call, and the new rows
polling trigger."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from causeway.connections.connectors.google_sheets import READ, WRITE
from causeway.connections.models import Connection
from causeway.connections.tests.sheets_server import Sheets, sheets_api
from causeway.runs.models import Job
from causeway.runs.tests.trigger_helpers import started_recipe
from causeway.runs.triggers import poll_tick
from causeway.tests.catalogue_kit import Catalogue, catalogue, output, redirect_uris, surfaces_nowhere

pytestmark = pytest.mark.django_db

CLIENT_SECRET = f"gs-cnry/{uuid.uuid4().hex[:12]}"
BOOK = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"


@pytest.fixture
def kit() -> Catalogue:
    return catalogue("google_sheets")


@pytest.fixture
def sheets(kit: Catalogue) -> Iterator[Sheets]:
    with sheets_api(client_secret=CLIENT_SECRET, redirect_uris=redirect_uris(kit.workspace)) as made:
        made.books[BOOK] = {
            "Orders": [
                ["Order", "Customer", "Amount"],
                ["A-1", "Ada", 120],
                ["A-2", "Grace", 80],
            ],
            "Q1 '24": [["x"]],
        }
        yield made


def sign_in(kit: Catalogue, sheets: Sheets, scopes: list[str]) -> Connection:
    profile = kit.profile(sheets.provider, CLIENT_SECRET, scopes)
    return kit.sign_in(profile, scopes, base_url=sheets.url)


@pytest.fixture
def signed_in(kit: Catalogue, sheets: Sheets) -> Connection:
    return sign_in(kit, sheets, [READ, WRITE])


def paths(sheets: Sheets) -> list[str]:
    assert sheets.server is not None
    return [r.path for r in sheets.server.received]


def test_google_sheets_sign_in_asks_for_offline_access_with_googles_scopes(
    kit: Catalogue, sheets: Sheets, signed_in: Connection
) -> None:
    [asked] = sheets.provider.provider.authorize_queries
    assert (asked["access_type"], asked["prompt"], asked["code_challenge_method"]) == (
        "offline",
        "consent",
        "S256",
    )
    assert asked["scope"] == f"{READ} {WRITE}"
    assert signed_in.granted_scopes == [READ, WRITE]
    assert signed_in.credentials["refresh_token"]


def test_google_sheets_read_range_encodes_the_range_and_renders_as_asked(
    kit: Catalogue, sheets: Sheets, signed_in: Connection
) -> None:
    job = kit.run(signed_in, "read_range", {"spreadsheet_id": BOOK, "range": "Orders!A1:C3"})
    assert job.status == "succeeded", job.error
    assert output(job)["values"][1] == ["A-1", "Ada", "120"]
    assert paths(sheets)[-1].startswith(
        f"/v4/spreadsheets/{BOOK}/values/Orders%21A1%3AC3?majorDimension=ROWS&valueRenderOption=FORMATTED_VALUE"
    )
    raw = kit.run(
        signed_in,
        "read_range",
        {
            "spreadsheet_id": BOOK,
            "range": "Orders!C2:C3",
            "value_render_option": "UNFORMATTED_VALUE",
            "major_dimension": "COLUMNS",
        },
    )
    assert output(raw)["values"] == [[120, 80]]
    quoted = kit.run(signed_in, "read_range", {"spreadsheet_id": BOOK, "range": "'Q1 ''24'!A1"})
    assert quoted.status == "succeeded", quoted.error
    assert output(quoted)["values"] == [["x"]]


def test_google_sheets_append_and_update_with_each_value_input_option(
    kit: Catalogue, sheets: Sheets, signed_in: Connection
) -> None:
    raw = kit.run(
        signed_in,
        "append_rows",
        {"spreadsheet_id": BOOK, "range": "Orders!A:C", "values": [["A-3", "Alan", "15"]]},
    )
    assert raw.status == "succeeded", raw.error
    assert output(raw)["updated_range"] == "'Orders'!A4:C4" and output(raw)["table_range"] == "'Orders'!A1:C3"
    assert sheets.server is not None
    sent = sheets.server.received[-1]
    assert sent.method == "POST"
    assert sent.path.startswith(f"/v4/spreadsheets/{BOOK}/values/Orders%21A%3AC:append?")
    assert "valueInputOption=RAW" in sent.path and "insertDataOption=INSERT_ROWS" in sent.path
    assert json.loads(sent.body)["values"] == [["A-3", "Alan", "15"]]
    typed = kit.run(
        signed_in,
        "append_rows",
        {
            "spreadsheet_id": BOOK,
            "range": "Orders!A:C",
            "values": [["A-4", "Edsger", "42"]],
            "value_input_option": "USER_ENTERED",
        },
    )
    assert typed.status == "succeeded", typed.error
    # RAW keeps text as text; USER_ENTERED reads it as typed.
    assert sheets.books[BOOK]["Orders"][3:] == [["A-3", "Alan", "15"], ["A-4", "Edsger", 42]]
    updated = kit.run(
        signed_in,
        "update_range",
        {"spreadsheet_id": BOOK, "range": "Orders!B2", "values": [["Ada L."]]},
    )
    assert updated.status == "succeeded", updated.error
    assert (output(updated)["updated_cells"], sheets.books[BOOK]["Orders"][1][1]) == (1, "Ada L.")
    assert sheets.server.received[-1].method == "PUT"


def test_google_sheets_errors_name_googles_status_and_message(
    kit: Catalogue, sheets: Sheets, signed_in: Connection
) -> None:
    unknown = kit.run(signed_in, "read_range", {"spreadsheet_id": BOOK, "range": "Nope!A1"})
    assert unknown.status == "failed"
    assert "INVALID_ARGUMENT (400): Unable to parse range: Nope!A1" in (unknown.error or "")
    missing = kit.run(signed_in, "read_range", {"spreadsheet_id": "x" * 20, "range": "Orders!A1"})
    assert "NOT_FOUND (404): Requested entity was not found." in (missing.error or "")


def test_google_sheets_find_rows_reads_block_after_block(
    kit: Catalogue, sheets: Sheets, signed_in: Connection
) -> None:
    rows = sheets.books[BOOK]["Orders"]
    rows += [["A-3", "ada", 5], ["A-4", "Linus", 7], ["A-5", "Ada", 9]]
    given = {"spreadsheet_id": BOOK, "sheet": "Orders", "columns": "A:C", "page_rows": 2}
    job = kit.run(signed_in, "find_rows", {**given, "column": "Customer", "value": "Ada"})
    assert job.status == "succeeded", job.error
    found = output(job)
    assert [(r["_row"], r["Order"]) for r in found["rows"]] == [(2, "A-1"), (6, "A-5")]
    assert found["rows"][0] == {"_row": 2, "Order": "A-1", "Customer": "Ada", "Amount": "120"}
    reads = [p for p in paths(sheets) if "%27Orders%27%21A" in p]
    # The header, then rows 2-3, 4-5, 6-7: the last block came back short, the end of the data.
    assert [p.split("/values/")[1].split("?")[0] for p in reads] == [
        "%27Orders%27%21A1%3AC1",
        "%27Orders%27%21A2%3AC3",
        "%27Orders%27%21A4%3AC5",
        "%27Orders%27%21A6%3AC7",
    ]
    loose = kit.run(signed_in, "find_rows", {**given, "column": "B", "value": "ADA", "match_case": False})
    assert [r["_row"] for r in output(loose)["rows"]] == [2, 4, 6]
    capped = kit.run(
        signed_in, "find_rows", {**given, "column": "B", "value": "ada", "match_case": False, "max_items": 1}
    )
    assert (len(output(capped)["rows"]), output(capped)["complete"]) == (1, False)
    nameless = kit.run(signed_in, "find_rows", {**given, "column": "Colour", "value": "red"})
    assert nameless.status == "failed" and "no column 'Colour'" in (nameless.error or "")


def test_google_sheets_quota_429_pauses_the_connection(
    kit: Catalogue, sheets: Sheets, signed_in: Connection
) -> None:
    sheets.limited = True
    job = kit.run(signed_in, "read_range", {"spreadsheet_id": BOOK, "range": "Orders!A1"})
    assert job.status == "failed" and "RESOURCE_EXHAUSTED (429): Quota exceeded" in (job.error or "")
    signed_in.refresh_from_db()
    assert signed_in.paused_until is not None
    assert (
        timezone.now() + timedelta(seconds=20)
        < signed_in.paused_until
        < timezone.now() + timedelta(seconds=31)
    )


def test_google_sheets_expired_token_is_refreshed(
    kit: Catalogue, sheets: Sheets, signed_in: Connection
) -> None:
    old = signed_in.credentials["access_token"]
    sheets.provider.provider.expire_all()
    job = kit.run(signed_in, "read_range", {"spreadsheet_id": BOOK, "range": "Orders!A1"})
    assert job.status == "succeeded", job.error
    assert sheets.provider.provider.refreshes == 1
    signed_in.refresh_from_db()
    assert signed_in.credentials["access_token"] != old
    assert old not in json.dumps(output(job)) and CLIENT_SECRET not in (job.error or "")


def test_rule_07_google_sheets_read_only_connection_writes_nothing(kit: Catalogue, sheets: Sheets) -> None:
    made = sign_in(kit, sheets, [READ])
    job = kit.run(made, "append_rows", {"spreadsheet_id": BOOK, "range": "Orders!A:C", "values": [["x"]]})
    assert job.status == "failed" and WRITE in (job.error or "")
    assert paths(sheets) == []
    # The read-write scope covers reading, as it does at Google.
    writer = sign_in(kit, sheets, [WRITE])
    read = kit.run(writer, "read_range", {"spreadsheet_id": BOOK, "range": "Orders!A1"})
    assert read.status == "succeeded", read.error


def test_google_sheets_new_rows_trigger_starts_each_row_once(
    kit: Catalogue, sheets: Sheets, signed_in: Connection
) -> None:
    trigger = {
        "type": "connector",
        "connection": str(signed_in.id),
        "trigger": "new_rows",
        "input": {"spreadsheet_id": BOOK, "sheet": "Orders", "columns": "A:C", "page_rows": 2},
        "interval_seconds": 60,
    }
    recipe = started_recipe(kit.owner, kit.workspace, trigger, name="New orders")
    now = timezone.now()

    def tick() -> list[Job]:
        nonlocal now
        now += timedelta(seconds=61)
        return poll_tick(now)

    assert tick() == []  # the first poll starts below the last row with data
    rows = sheets.books[BOOK]["Orders"]
    rows += [["A-3", "Alan", 15], ["A-4", "Edsger", 42], ["A-5", "Barbara", 7]]
    started = tick()
    assert [job.trigger_payload["Order"] for job in started] == ["A-3", "A-4"]
    assert started[0].trigger_payload == {"_row": 4, "Order": "A-3", "Customer": "Alan", "Amount": "15"}
    assert [job.trigger_payload["Order"] for job in tick()] == ["A-5"]
    assert tick() == []
    rows.append(["A-6", "Niklaus", 3])
    assert [job.trigger_payload["Order"] for job in tick()] == ["A-6"]
    assert tick() == []
    assert Job.objects.filter(recipe=recipe).count() == 4


@pytest.mark.django_db(transaction=True)
def test_rule_13_google_tokens_echoed_in_an_error_surface_nowhere(
    transactional_db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    kit = catalogue("google_sheets")
    with sheets_api(client_secret=CLIENT_SECRET, redirect_uris=redirect_uris(kit.workspace)) as sheets:
        made = sign_in(kit, sheets, [READ])
        issued = sheets.provider.provider.tokens[-1]
        sheets.careless = True
        failed = kit.run(made, "read_range", {"spreadsheet_id": BOOK, "range": "Orders!A1"})
    assert failed.status == "failed" and "INVALID_ARGUMENT (400): bad request from" in (failed.error or "")
    surfaces_nowhere(failed, [issued.access_token, str(issued.refresh_token), CLIENT_SECRET], caplog)
