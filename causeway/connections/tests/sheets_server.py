"""A local Google Sheets API for tests, answering as the Sheets v4 discovery document says
(`googleapis/discovery-artifact-manager`, `discoveries/sheets.v4.json`), with its sign-in served by
`oauth_provider` (Authlib's server side) under Google's scope names:

- `GET /v4/spreadsheets/{id}/values/{range}`: a `ValueRange` (`range`, `majorDimension`, `values`, trailing
  empty cells and rows left out, no `values` at all for an empty range); `valueRenderOption`
  `FORMATTED_VALUE` gives every cell as text, `UNFORMATTED_VALUE` numbers as numbers.
- `PUT .../values/{range}?valueInputOption=`: an `UpdateValuesResponse`; `POST .../values/{range}:append`:
  an `AppendValuesResponse` (`tableRange`, `updates`), rows written below the range's table. `RAW` keeps
  text as text; `USER_ENTERED` reads text as typed (numbers become numbers). Without `valueInputOption`:
  400 `INVALID_ARGUMENT`.
- The range comes percent-encoded in the path; a range naming no sheet of the spreadsheet is 400
  `INVALID_ARGUMENT` "Unable to parse range"; an unknown spreadsheet 404 `NOT_FOUND`.
- Errors as `{"error": {"code", "message", "status"}}`: 401 `UNAUTHENTICATED` for a token the sign-in did
  not issue or that expired, 403 `PERMISSION_DENIED` for a token without the method's scope, 429
  `RESOURCE_EXHAUSTED` (with `Retry-After`) when `limited`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from causeway.connections.tests.oauth_provider import RunningProvider, oauth_provider
from causeway.connections.tests.servers import Answer, Received, Server, http_server

READ = "https://www.googleapis.com/auth/spreadsheets.readonly"
WRITE = "https://www.googleapis.com/auth/spreadsheets"
RANGE = re.compile(r"^(?:'((?:[^']|'')+)'|([^!']+))(?:!([A-Z]+)?(\d+)?(?::([A-Z]+)?(\d+)?)?)?$")


def _col(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _letters(index: int) -> str:
    out, index = "", index + 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(65 + rest) + out
    return out


def _error(code: int, status: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(
        status=code,
        body={"error": {"code": code, "message": message, "status": status}},
        headers=headers or {},
    )


@dataclass
class Sheets:
    provider: RunningProvider
    # spreadsheet id -> sheet name -> rows of cells
    books: dict[str, dict[str, list[list[Any]]]] = field(default_factory=dict)
    limited: bool = False
    # A careless API that repeats the credentials it was sent in its error messages.
    careless: bool = False
    server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def answer(self, got: Received) -> Answer:
        parts = urlsplit(got.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        auth = got.headers.get("Authorization", "")
        token = self.provider.provider.token_for(auth[7:]) if auth.startswith("Bearer ") else None
        if token is None or not self.provider.provider.live(token.access_token):
            return _error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
                "cookie or other valid authentication credential.",
            )
        if self.limited:
            return _error(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per "
                "user' of service 'sheets.googleapis.com'.",
                {"Retry-After": "30"},
            )
        if self.careless:
            return _error(400, "INVALID_ARGUMENT", f"bad request from {auth} ({token.refresh_token})")
        segments = parts.path.split("/")
        # ['', 'v4', 'spreadsheets', id, 'values', range(:method)]
        if len(segments) != 6 or segments[1:3] != ["v4", "spreadsheets"] or segments[4] != "values":
            return _error(404, "NOT_FOUND", "Requested entity was not found.")
        book = self.books.get(segments[3])
        raw_range, _, method = segments[5].partition(":")
        granted = set(token.scope.split())
        writes = got.method in ("PUT", "POST")
        if not (granted & ({WRITE} if writes else {READ, WRITE})):
            return _error(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
        if book is None:
            return _error(404, "NOT_FOUND", "Requested entity was not found.")
        a1 = unquote(raw_range)
        parsed = RANGE.match(a1)
        sheet = (parsed.group(1).replace("''", "'") if parsed.group(1) else parsed.group(2)) if parsed else ""
        if parsed is None or sheet not in book:
            return _error(400, "INVALID_ARGUMENT", f"Unable to parse range: {a1}")
        grid = book[sheet]
        c1 = _col(parsed.group(3)) if parsed.group(3) else 0
        r1 = int(parsed.group(4)) - 1 if parsed.group(4) else 0
        c2 = (
            _col(parsed.group(5))
            if parsed.group(5)
            else (c1 if parsed.group(3) and not parsed.group(6) and ":" not in a1 else 25)
        )
        r2 = (
            int(parsed.group(6)) - 1
            if parsed.group(6)
            else (r1 if parsed.group(4) and ":" not in a1 else 999_999)
        )
        body = json.loads(got.body) if got.body else {}
        if got.method == "GET" and not method:
            return self._get(sheet, grid, c1, r1, c2, r2, query)
        if writes and query.get("valueInputOption") not in ("RAW", "USER_ENTERED"):
            return _error(400, "INVALID_ARGUMENT", "'valueInputOption' is required but not specified")
        rows = [
            [self._typed(cell, query["valueInputOption"]) for cell in row] for row in body.get("values", [])
        ]
        if got.method == "PUT" and not method:
            self._write(grid, r1, c1, rows)
            return Answer(body=self._updated(segments[3], sheet, r1, c1, rows))
        if got.method == "POST" and method == "append":
            last = -1
            for index, row in enumerate(grid):
                if any(cell not in ("", None) for cell in row[c1 : c2 + 1]):
                    last = index
            table = f"'{sheet}'!{_letters(c1)}{r1 + 1}:{_letters(c2)}{last + 1}" if last >= 0 else ""
            start = max(last + 1, r1)
            self._write(grid, start, c1, rows)
            body_out: dict[str, Any] = {
                "spreadsheetId": segments[3],
                "updates": self._updated(segments[3], sheet, start, c1, rows),
            }
            if table:
                body_out["tableRange"] = table
            return Answer(body=body_out)
        return _error(404, "NOT_FOUND", "Requested entity was not found.")

    @staticmethod
    def _typed(cell: Any, option: str) -> Any:
        if option == "USER_ENTERED" and isinstance(cell, str) and re.fullmatch(r"-?\d+(\.\d+)?", cell):
            return float(cell) if "." in cell else int(cell)
        return cell

    @staticmethod
    def _write(grid: list[list[Any]], row: int, col: int, rows: list[list[Any]]) -> None:
        for offset, values in enumerate(rows):
            while len(grid) <= row + offset:
                grid.append([])
            target = grid[row + offset]
            while len(target) < col + len(values):
                target.append("")
            target[col : col + len(values)] = values

    @staticmethod
    def _updated(book: str, sheet: str, row: int, col: int, rows: list[list[Any]]) -> dict[str, Any]:
        width = max((len(r) for r in rows), default=0)
        last = f"{_letters(col + width - 1)}{row + len(rows)}"
        return {
            "spreadsheetId": book,
            "updatedRange": f"'{sheet}'!{_letters(col)}{row + 1}:{last}",
            "updatedRows": len(rows),
            "updatedColumns": width,
            "updatedCells": sum(len(r) for r in rows),
        }

    @staticmethod
    def _get(
        sheet: str, grid: list[list[Any]], c1: int, r1: int, c2: int, r2: int, query: dict[str, str]
    ) -> Answer:
        formatted = query.get("valueRenderOption", "FORMATTED_VALUE") == "FORMATTED_VALUE"
        rows = []
        for row in grid[r1 : r2 + 1]:
            cells = [("" if c is None else str(c)) if formatted else c for c in row[c1 : c2 + 1]]
            while cells and cells[-1] in ("", None):
                cells.pop()
            rows.append(cells)
        while rows and not rows[-1]:
            rows.pop()
        if query.get("majorDimension") == "COLUMNS":
            width = max((len(r) for r in rows), default=0)
            rows = [[r[i] if i < len(r) else "" for r in rows] for i in range(width)]
        end_row = min(r2, r1 + max(len(rows), 1) - 1) + 1
        body: dict[str, Any] = {
            "range": f"'{sheet}'!{_letters(c1)}{r1 + 1}:{_letters(c2)}{end_row}",
            "majorDimension": query.get("majorDimension", "ROWS"),
        }
        if rows:
            body["values"] = rows
        return Answer(body=body)


@contextmanager
def sheets_api(*, client_secret: str, redirect_uris: list[str]) -> Iterator[Sheets]:
    """Google's sign-in and the Sheets API, each on a free local port."""
    with oauth_provider(
        client_secret=client_secret, redirect_uris=redirect_uris, scopes=(READ, WRITE)
    ) as running:
        sheets = Sheets(provider=running)
        with http_server(sheets.answer) as server:
            sheets.server = server
            yield sheets
