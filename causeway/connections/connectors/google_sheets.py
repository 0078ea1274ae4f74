"""Google Sheets: read a range, append rows, update a range and find rows by a column's value through the
Sheets API v4, and a trigger polling for rows added below the last one seen.

Follows Google's Sheets v4 discovery document (`sheets.v4.json`): values under
`https://sheets.googleapis.com/v4/spreadsheets/{spreadsheetId}/values/{range}` (`GET` to read, `PUT` to
update, `POST ...:append` to append), the range in A1 notation fully percent-encoded in the path
(`fullyEncodeReservedExpansion`), `valueInputOption` `RAW` or `USER_ENTERED` on writes, and
`valueRenderOption` on reads; errors as `{"error": {"code", "message", "status"}}`, a spent quota as
429 `RESOURCE_EXHAUSTED`. Sign-in is Google's OAuth 2.0 with offline access (`access_type=offline`,
`prompt=consent`, so a refresh token comes with every consent), and the scopes are Google's own URLs.

The Sheets API answers a range whole, without pages; the actions that walk a sheet (find rows, the
trigger) read it in blocks of rows, block after block, until a block comes back short: the end of the
sheet's data.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from causeway.connections.connectors.http import base_url
from causeway.connections.sdk import (
    OAUTH2_CODE,
    Action,
    ActionFailed,
    ActionInput,
    ActionOutput,
    Call,
    Connector,
    Cursor,
    Found,
    OAuth,
    Polled,
    Scope,
    Trigger,
    retry_after_seconds,
)

API = "https://sheets.googleapis.com"
AUTHORIZE = "https://accounts.google.com/o/oauth2/v2/auth"
TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"  # noqa: S105 - an endpoint's URL, not a secret
REVOKE = "https://oauth2.googleapis.com/revoke"
READ = "https://www.googleapis.com/auth/spreadsheets.readonly"
WRITE = "https://www.googleapis.com/auth/spreadsheets"
# Google's per-minute quotas refill within a minute; a 429 without Retry-After pauses this long.
QUOTA_PAUSE_SECONDS = 60
MAX_ROWS = 50_000
SPREADSHEET_ID = r"^[A-Za-z0-9_-]{10,100}$"
COLUMNS = r"^[A-Z]{1,3}:[A-Z]{1,3}$"

ValueInput = Literal["RAW", "USER_ENTERED"]
ValueRender = Literal["FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"]
Cell = str | int | float | bool | None


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(default=API, title="API URL", description="https://sheets.googleapis.com")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return base_url(value)


def _values_url(call: Call, spreadsheet_id: str, a1: str, method: str = "") -> str:
    settings = call.settings
    assert isinstance(settings, Settings)
    # Every reserved character of the range is encoded (`!`, `:`, `'`), as the discovery document says.
    return f"{settings.base_url}/v4/spreadsheets/{spreadsheet_id}/values/{quote(a1, safe='')}{method}"


def _checked(response: httpx.Response, what: str) -> Any:
    """The answer, or ActionFailed naming Google's status, code and message."""
    status = response.status_code
    try:
        answer = response.json() if response.content else None
    except ValueError:
        answer = None
    if status < 400:
        return answer
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        detail = f"{str(error.get('status') or '')[:60]} ({status}): {str(error.get('message') or '')[:300]}"
    else:
        detail = f"HTTP {status}"
    if status == 429:
        waited = retry_after_seconds(response.headers.get("retry-after"))
        raise ActionFailed(
            f"Google Sheets refused {what}: {detail}",
            transient=True,
            retry_after=waited if waited is not None else QUOTA_PAUSE_SECONDS,
        )
    raise ActionFailed(f"Google Sheets refused {what}: {detail}", transient=status >= 500)


def sheet_range(sheet: str, cells: str) -> str:
    """A1 notation for cells of a sheet: the sheet's name quoted, its quotes doubled (`'Q1 ''24'!A1:C9`)."""
    return "'" + sheet.replace("'", "''") + "'!" + cells


def column_letters(index: int) -> str:
    """The column letters of a zero-based index: 0 is A, 26 is AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


class SpreadsheetInput(ActionInput):
    spreadsheet_id: str = Field(
        pattern=SPREADSHEET_ID, title="Spreadsheet id", description="from its URL: /spreadsheets/d/<id>/edit"
    )


class RangeInput(SpreadsheetInput):
    range: str = Field(
        min_length=1, max_length=500, title="Range", description="in A1 notation, such as Sheet1!A1:D20"
    )


class ReadRange(RangeInput):
    major_dimension: Literal["ROWS", "COLUMNS"] = Field(default="ROWS", title="Major dimension")
    value_render_option: ValueRender = Field(default="FORMATTED_VALUE", title="Values as")


class Values(ActionOutput):
    range: str
    values: list[list[JsonValue]]


def read_range(call: Call, given: ReadRange) -> Values:
    params = {"majorDimension": given.major_dimension, "valueRenderOption": given.value_render_option}
    url = _values_url(call, given.spreadsheet_id, given.range)
    answer = _checked(call.request("GET", url, params=params), "read range")
    answer = answer if isinstance(answer, dict) else {}
    return Values(range=str(answer.get("range", "")), values=answer.get("values") or [])


class Write(RangeInput):
    values: list[list[Cell]] = Field(min_length=1, max_length=10_000, title="Rows")
    value_input_option: ValueInput = Field(
        default="RAW",
        title="Values are",
        description="RAW: stored as given; USER_ENTERED: read as if typed (numbers, dates, formulas)",
    )


class AppendRows(Write):
    insert_data_option: Literal["INSERT_ROWS", "OVERWRITE"] = Field(default="INSERT_ROWS", title="Insert as")


class Updated(ActionOutput):
    updated_range: str
    updated_rows: int
    updated_cells: int
    table_range: str = ""


def append_rows(call: Call, given: AppendRows) -> Updated:
    params = {"valueInputOption": given.value_input_option, "insertDataOption": given.insert_data_option}
    url = _values_url(call, given.spreadsheet_id, given.range, ":append")
    body = {"range": given.range, "majorDimension": "ROWS", "values": given.values}
    answer = _checked(call.request("POST", url, params=params, json=body), "append rows")
    answer = answer if isinstance(answer, dict) else {}
    given_updates = answer.get("updates")
    updates: dict[str, Any] = given_updates if isinstance(given_updates, dict) else {}
    return Updated(
        updated_range=str(updates.get("updatedRange", "")),
        updated_rows=int(updates.get("updatedRows") or 0),
        updated_cells=int(updates.get("updatedCells") or 0),
        table_range=str(answer.get("tableRange", "")),
    )


def update_range(call: Call, given: Write) -> Updated:
    url = _values_url(call, given.spreadsheet_id, given.range)
    body = {"range": given.range, "majorDimension": "ROWS", "values": given.values}
    params = {"valueInputOption": given.value_input_option}
    answer = _checked(call.request("PUT", url, params=params, json=body), "update range")
    answer = answer if isinstance(answer, dict) else {}
    return Updated(
        updated_range=str(answer.get("updatedRange", "")),
        updated_rows=int(answer.get("updatedRows") or 0),
        updated_cells=int(answer.get("updatedCells") or 0),
    )


class SheetInput(SpreadsheetInput):
    sheet: str = Field(
        min_length=1, max_length=100, title="Sheet", description="the tab's name, such as Sheet1"
    )
    columns: str = Field(default="A:Z", pattern=COLUMNS, title="Columns", description="such as A:F")
    header_row: bool = Field(default=True, title="First row holds the column names")
    page_rows: int = Field(default=1000, ge=1, le=10_000, title="Rows read per request")


def _rows(call: Call, given: SheetInput, start: int, what: str) -> Any:
    """(row number, cells) from `start` down, block after block, until a block comes back short."""
    first, last = given.columns.split(":")
    row = start
    while True:
        cells = f"{first}{row}:{last}{row + given.page_rows - 1}"
        url = _values_url(call, given.spreadsheet_id, sheet_range(given.sheet, cells))
        answer = _checked(call.request("GET", url, params={"majorDimension": "ROWS"}), what)
        block = (answer or {}).get("values") or [] if isinstance(answer, dict) else []
        for offset, cells_of_row in enumerate(block):
            yield row + offset, cells_of_row if isinstance(cells_of_row, list) else []
        if len(block) < given.page_rows:
            return
        row += given.page_rows


def _header(call: Call, given: SheetInput, what: str) -> list[str]:
    if not given.header_row:
        return []
    first, last = given.columns.split(":")
    url = _values_url(call, given.spreadsheet_id, sheet_range(given.sheet, f"{first}1:{last}1"))
    answer = _checked(call.request("GET", url, params={"majorDimension": "ROWS"}), what)
    values = (answer or {}).get("values") or [[]] if isinstance(answer, dict) else [[]]
    return [str(name) for name in values[0]]


def _record(given: SheetInput, header: list[str], number: int, cells: list[Any]) -> dict[str, Any]:
    offset = _column_index(given.columns.split(":")[0])
    record: dict[str, Any] = {"_row": number}
    for index, value in enumerate(cells):
        name = header[index] if index < len(header) and header[index] else column_letters(offset + index)
        record[name] = value
    return record


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


class FindRows(SheetInput):
    column: str = Field(
        min_length=1, max_length=200, title="Column", description="its name in the first row, or its letter"
    )
    value: str = Field(max_length=50_000, title="Value", description="the cell's text, as the sheet shows it")
    match_case: bool = Field(default=True, title="Match case")
    max_items: int = Field(default=500, ge=1, le=MAX_ROWS, title="At most this many rows")


class Rows(ActionOutput):
    rows: list[dict[str, JsonValue]]
    complete: bool = Field(description="false when max_items stopped the search before the sheet's end")


def find_rows(call: Call, given: FindRows) -> Rows:
    header = _header(call, given, "find rows")
    offset = _column_index(given.columns.split(":")[0])
    if given.column in header:
        position = header.index(given.column)
    elif re.fullmatch(r"[A-Z]{1,3}", given.column):
        position = _column_index(given.column) - offset
    else:
        raise ActionFailed(f"find rows: no column {given.column!r} in the first row of {given.sheet}")
    wanted = given.value if given.match_case else given.value.casefold()
    found: list[dict[str, Any]] = []
    for number, cells in _rows(call, given, 2 if given.header_row else 1, "find rows"):
        cell = str(cells[position]) if 0 <= position < len(cells) else ""
        if (cell if given.match_case else cell.casefold()) == wanted:
            if len(found) == given.max_items:
                return Rows(rows=found, complete=False)
            found.append(_record(given, header, number, cells))
    return Rows(rows=found, complete=True)


def _test(call: Call) -> str:
    return "signed in (Google checks a spreadsheet's sharing on each call)"


# The trigger: rows added below the last one seen.


class NewRows(SheetInput):
    start_row: int | None = Field(
        default=None,
        ge=1,
        title="Start at row",
        description="rows from this one start jobs on the first poll; empty: only rows added after the "
        "recipe is started",
    )


def poll_new_rows(call: Call, given: NewRows, after: Cursor | None) -> Polled:
    """Rows below the last row seen (the cursor, a row number), top to bottom; blank rows are passed
    over but not past, so a row filled in later is still found. A row is known by its number: a row
    deleted above the cursor shifts the rows below it, which are not read again."""
    first_data = 2 if given.header_row else 1
    if after is None and given.start_row is None:
        # The first poll starts from now: below the last row with data.
        last = first_data - 1
        for number, cells in _rows(call, given, first_data, "poll"):
            if any(cell not in ("", None) for cell in cells):
                last = number
        return Polled(items=[], cursor=Cursor(last))
    if after is not None:
        start = int(after.value) + 1
    else:
        assert given.start_row is not None
        start = max(given.start_row, first_data)
    header = _header(call, given, "poll")
    found: list[Found] = []
    for number, cells in _rows(call, given, start, "poll"):
        if len(found) >= given.page_rows:
            break
        if any(cell not in ("", None) for cell in cells):
            found.append(Found(key=str(number), cursor=number, data=_record(given, header, number, cells)))
    if not found:
        return Polled(items=[], cursor=after or Cursor(start - 1))
    return Polled(items=found, cursor=Cursor(found[-1].cursor))


ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" fill="none" '
    'stroke="currentColor" stroke-width="2"><rect x="4" y="3" width="16" height="18" rx="2"/>'
    '<path d="M4 9h16M4 15h16M10 9v12"/></svg>'
)

connector = Connector(
    key="google_sheets",
    name="Google Sheets",
    description="Rows and ranges of Google Sheets spreadsheets, and rows added to them.",
    icon=ICON,
    auth_methods=(OAUTH2_CODE,),
    settings=Settings,
    scopes=(
        Scope(READ, "See your Google Sheets spreadsheets."),
        Scope(WRITE, "See, edit, create and delete all your Google Sheets spreadsheets.", implies=(READ,)),
    ),
    actions=(
        Action(
            "read_range",
            "Read a range",
            "The values of a range, row by row or column by column.",
            ReadRange,
            Values,
            read_range,
            frozenset({READ}),
        ),
        Action(
            "append_rows",
            "Append rows",
            "Add rows below the table a range holds.",
            AppendRows,
            Updated,
            append_rows,
            frozenset({WRITE}),
            side_effects=True,
        ),
        Action(
            "update_range",
            "Update a range",
            "Write values into a range.",
            Write,
            Updated,
            update_range,
            frozenset({WRITE}),
            side_effects=True,
        ),
        Action(
            "find_rows",
            "Find rows",
            "The rows whose cell in a column holds a value, read block after block, up to a limit.",
            FindRows,
            Rows,
            find_rows,
            frozenset({READ}),
        ),
    ),
    triggers=(
        Trigger(
            "new_rows",
            "New rows",
            "A job for each row added to a sheet since the last poll.",
            "poll",
            scopes=frozenset({READ}),
            input=NewRows,
            poll=poll_new_rows,
        ),
    ),
    test=_test,
    oauth=OAuth(
        authorize_url=AUTHORIZE,
        token_url=TOKEN_ENDPOINT,
        revoke_url=REVOKE,
        authorize_params=(("access_type", "offline"), ("prompt", "consent")),
    ),
)
