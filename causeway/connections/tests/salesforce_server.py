"""A local Salesforce org for tests: its sign-in (`oauth_provider`, Authlib's server side, whose token
answers carry `instance_url`, as Salesforce's do) and its REST API at that instance, answering as
Salesforce's REST API Developer Guide (API version 62.0) says:

- `GET /services/data/v62.0/query?q=<SOQL>`: `{"totalSize", "done", "records", "nextRecordsUrl"}`, the
  records in pages (two at a time here, so pages are followed), each with its `attributes`; the next
  page at `/services/data/v62.0/query/<locator>-<offset>`. The SOQL is parsed as Salesforce parses it
  (quoted strings with backslash escapes, date and time literals, AND/OR/NOT, IN, LIKE, ORDER BY,
  LIMIT); a query it cannot parse is answered 400 `MALFORMED_QUERY`.
- `POST .../sobjects/<object>/` (201 `{"id", "success", "errors"}`; 400 `REQUIRED_FIELD_MISSING` for an
  Account without a Name), `PATCH .../sobjects/<object>/<id>` (204), `PATCH
  .../sobjects/<object>/<external id field>/<value>` (201 created or 200 updated, with `created`), `GET
  .../sobjects/<object>/<id>?fields=` (the record, or 404 `NOT_FOUND`), `GET .../limits`.
- Errors as arrays of `{"message", "errorCode", "fields"}`: 401 `INVALID_SESSION_ID` for a token the
  sign-in did not issue or that expired, 403 `REQUEST_LIMIT_EXCEEDED` when `limited`.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from causeway.connections.tests.oauth_provider import RunningProvider, oauth_provider
from causeway.connections.tests.servers import Answer, Received, Server, http_server

API = "/services/data/v62.0"
PAGE = 2
TOKEN = re.compile(
    r"""\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?"""
    r"""(?:Z|[+-]\d{2}:?\d{2}))|(?P<date>\d{4}-\d{2}-\d{2})|(?P<number>-?\d+(?:\.\d+)?)"""
    r"""|(?P<op><=|>=|!=|<>|=|<|>)|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"""
)
UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


class Malformed(Exception):
    pass


def sf_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _tokens(soql: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    position = 0
    while position < len(soql.rstrip()):
        match = TOKEN.match(soql, position)
        if match is None or match.end() == position:
            raise Malformed(f"unexpected token: '{soql[position:].strip()[:20]}'")
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "string":
            body = text[1:-1]
            value = re.sub(r"\\(.)", lambda m: UNESCAPE.get(m.group(1), "\\" + m.group(1)), body)
            found.append(("value", value))
        elif kind == "datetime":
            found.append(("value", datetime.fromisoformat(text.replace("Z", "+00:00"))))
        elif kind == "date":
            found.append(("value", date.fromisoformat(text)))
        elif kind == "number":
            found.append(("value", float(text) if "." in text else int(text)))
        elif kind == "word" and text.upper() in ("TRUE", "FALSE", "NULL"):
            found.append(("value", {"TRUE": True, "FALSE": False, "NULL": None}[text.upper()]))
        else:
            found.append((kind, text))
        position = match.end()
    return found


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: Any
    order: list[tuple[str, bool]]
    limit: int | None


class _Parser:
    def __init__(self, soql: str) -> None:
        self.tokens = _tokens(soql)
        self.at = 0

    def peek(self) -> tuple[str, Any]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def word(self, *wanted: str) -> bool:
        kind, text = self.peek()
        if kind == "word" and text.upper() in wanted:
            self.at += 1
            return True
        return False

    def take(self, kind: str) -> Any:
        got, text = self.peek()
        if got != kind:
            raise Malformed(f"unexpected token: '{text}'")
        self.at += 1
        return text

    def query(self) -> Query:
        if not self.word("SELECT"):
            raise Malformed("expected SELECT")
        fields = [self.take("word")]
        while self.peek()[0] == "punct" and self.peek()[1] == ",":
            self.at += 1
            fields.append(self.take("word"))
        if not self.word("FROM"):
            raise Malformed("expected FROM")
        sobject = self.take("word")
        where = self.condition() if self.word("WHERE") else None
        order: list[tuple[str, bool]] = []
        if self.word("ORDER"):
            if not self.word("BY"):
                raise Malformed("expected BY")
            while True:
                name = self.take("word")
                descending = self.word("DESC")
                self.word("ASC")
                order.append((name, descending))
                if not (self.peek()[0] == "punct" and self.peek()[1] == ","):
                    break
                self.at += 1
        limit = int(self.take("value")) if self.word("LIMIT") else None
        if self.peek()[0] != "end":
            raise Malformed(f"unexpected token: '{self.peek()[1]}'")
        return Query(fields, sobject, where, order, limit)

    def condition(self) -> Any:
        left = self.term()
        while self.word("OR"):
            left = ("or", left, self.term())
        return left

    def term(self) -> Any:
        left = self.factor()
        while self.word("AND"):
            left = ("and", left, self.factor())
        return left

    def factor(self) -> Any:
        if self.word("NOT"):
            return ("not", self.factor())
        if self.peek() == ("punct", "("):
            self.at += 1
            inner = self.condition()
            if self.take("punct") != ")":
                raise Malformed("expected )")
            return inner
        name = self.take("word")
        if self.word("IN"):
            if self.take("punct") != "(":
                raise Malformed("expected (")
            values = [self.take("value")]
            while self.peek() == ("punct", ","):
                self.at += 1
                values.append(self.take("value"))
            if self.take("punct") != ")":
                raise Malformed("expected )")
            return ("in", name, values)
        if self.word("LIKE"):
            return ("like", name, self.take("value"))
        return (self.take("op"), name, self.take("value"))


def _comparable(stored: Any, given: Any) -> tuple[Any, Any]:
    if isinstance(given, datetime) and isinstance(stored, str):
        return datetime.strptime(stored, "%Y-%m-%dT%H:%M:%S.%f%z"), given
    return stored, given


def _holds(where: Any, record: dict[str, Any]) -> bool:
    if where is None:
        return True
    kind = where[0]
    if kind == "or":
        return _holds(where[1], record) or _holds(where[2], record)
    if kind == "and":
        return _holds(where[1], record) and _holds(where[2], record)
    if kind == "not":
        return not _holds(where[1], record)
    stored = record.get(where[1])
    if kind == "in":
        return stored in where[2]
    if kind == "like":
        pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(where[2]))
        return re.fullmatch(pattern, str(stored or ""), re.IGNORECASE) is not None
    a, b = _comparable(stored, where[2])
    if kind == "=":
        return bool(a == b)
    if kind in ("!=", "<>"):
        return bool(a != b)
    if a is None or b is None:
        return False
    return bool({"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[kind])


@dataclass
class Salesforce:
    provider: RunningProvider
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    limited: bool = False
    # A careless org that repeats the credentials it was sent in its error messages.
    careless: bool = False
    server: Server | None = None
    queries: list[str] = field(default_factory=list)
    _cursors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: int = 0

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def add(self, sobject: str, fields: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
        with self._lock:
            self._ids += 1
            prefix = {"Account": "001", "Contact": "003"}.get(sobject, "a0B")
            record = {
                "Id": f"{prefix}{self._ids:012d}AAA",
                **fields,
                "LastModifiedDate": sf_time(at or datetime.now(UTC)),
            }
            self.objects.setdefault(sobject, []).append(record)
            return record

    def answer(self, got: Received) -> Answer:
        parts = urlsplit(got.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        auth = got.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not self.provider.provider.live(auth[7:]):
            return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        token = self.provider.provider.token_for(auth[7:])
        if token is None or "api" not in token.scope.split():
            return _error(403, "API_DISABLED_FOR_ORG", "The REST API is not enabled for this session")
        if self.limited:
            return _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if self.careless:
            return _error(400, "INVALID_INPUT", f"bad request from {auth} ({token.refresh_token})")
        if not parts.path.startswith(API + "/"):
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        rest = [unquote(s) for s in parts.path[len(API) + 1 :].split("/")]
        if rest == ["limits"]:
            return Answer(body={"DailyApiRequests": {"Max": 15000, "Remaining": 14998}})
        if rest == ["query"] and got.method == "GET":
            return self._query(query.get("q", ""))
        if len(rest) == 2 and rest[0] == "query":
            return self._page(rest[1])
        if rest[:1] == ["sobjects"] and len(rest) >= 2:
            return self._sobject(got, rest[1], [s for s in rest[2:] if s], query)
        return _error(404, "NOT_FOUND", "The requested resource does not exist")

    def _query(self, soql: str) -> Answer:
        self.queries.append(soql)
        try:
            parsed = _Parser(soql).query()
        except Malformed as exc:
            return _error(400, "MALFORMED_QUERY", str(exc))
        records = [r for r in self.objects.get(parsed.sobject, []) if _holds(parsed.where, r)]
        for name, descending in reversed(parsed.order):
            records.sort(key=lambda r, n=name: str(r.get(n) or ""), reverse=descending)
        if parsed.limit is not None:
            records = records[: parsed.limit]
        chosen = []
        for record in records:
            missing = [f for f in parsed.fields if f not in record and f not in ("Id", "LastModifiedDate")]
            if missing and not any(missing[0] in r for r in self.objects.get(parsed.sobject, [])):
                return _error(
                    400, "INVALID_FIELD", f"No such column '{missing[0]}' on entity '{parsed.sobject}'"
                )
            chosen.append(
                {
                    "attributes": {
                        "type": parsed.sobject,
                        "url": f"{API}/sobjects/{parsed.sobject}/{record['Id']}",
                    },
                    **{f: record.get(f) for f in parsed.fields},
                }
            )
        locator = "01g" + secrets.token_hex(6)
        self._cursors[locator] = chosen
        return self._page(f"{locator}-0", total=len(chosen))

    def _page(self, where: str, total: int | None = None) -> Answer:
        locator, _, offset_text = where.rpartition("-")
        records = self._cursors.get(locator)
        if records is None or not offset_text.isdigit():
            return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        offset = int(offset_text)
        page = records[offset : offset + PAGE]
        done = offset + PAGE >= len(records)
        body: dict[str, Any] = {
            "totalSize": len(records) if total is None else total,
            "done": done,
            "records": page,
        }
        if not done:
            body["nextRecordsUrl"] = f"{API}/query/{locator}-{offset + PAGE}"
        return Answer(body=body)

    def _sobject(self, got: Received, sobject: str, rest: list[str], query: dict[str, str]) -> Answer:
        body = json.loads(got.body) if got.body else {}
        stored = self.objects.setdefault(sobject, [])
        if got.method == "POST" and not rest:
            if sobject == "Account" and not body.get("Name"):
                return _error(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ["Name"])
            record = self.add(sobject, body)
            return Answer(status=201, body={"id": record["Id"], "success": True, "errors": []})
        if len(rest) == 1:
            found = next((r for r in stored if r["Id"] == rest[0]), None)
            if found is None:
                return _error(404, "NOT_FOUND", "The requested resource does not exist")
            if got.method == "PATCH":
                found.update(body)
                found["LastModifiedDate"] = sf_time(datetime.now(UTC))
                return Answer(status=204, body=b"")
            if got.method == "GET":
                wanted = query["fields"].split(",") if query.get("fields") else list(found)
                unknown = [f for f in wanted if f not in found]
                if unknown:
                    return _error(
                        400, "INVALID_FIELD", f"No such column '{unknown[0]}' on entity '{sobject}'"
                    )
                attributes = {"type": sobject, "url": f"{API}/sobjects/{sobject}/{found['Id']}"}
                return Answer(body={"attributes": attributes, **{f: found[f] for f in wanted}})
        if len(rest) == 2 and got.method == "PATCH":
            name, value = rest
            matches = [r for r in stored if str(r.get(name)) == value]
            if len(matches) > 1:
                return _error(300, "MULTIPLE_CHOICES", "more than one record has this external id")
            if matches:
                matches[0].update(body)
                matches[0]["LastModifiedDate"] = sf_time(datetime.now(UTC))
                return Answer(body={"id": matches[0]["Id"], "success": True, "errors": [], "created": False})
            record = self.add(sobject, {**body, name: value})
            return Answer(
                status=201, body={"id": record["Id"], "success": True, "errors": [], "created": True}
            )
        return _error(404, "NOT_FOUND", "The requested resource does not exist")


def _error(status: int, code: str, message: str, fields: list[str] | None = None) -> Answer:
    return Answer(status=status, body=[{"message": message, "errorCode": code, "fields": fields or []}])


@contextmanager
def salesforce_org(*, client_secret: str, redirect_uris: list[str]) -> Iterator[Salesforce]:
    """A Salesforce org: its sign-in and its REST API, each on a free local port."""
    with oauth_provider(
        client_secret=client_secret, redirect_uris=redirect_uris, scopes=("api", "refresh_token")
    ) as running:
        org = Salesforce(provider=running)
        with http_server(org.answer) as server:
            org.server = server
            running.provider.token_extra = {
                "instance_url": server.url,
                "id": f"{running.url}/id/00Dxx0000001gPFEAY/005xx000001SwiUAAS",
                "issued_at": "1733580000000",
                "signature": "c2lnbmF0dXJl",
            }
            yield org
