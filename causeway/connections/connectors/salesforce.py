"""Salesforce: SOQL queries with bound values, creating, updating, upserting and reading records through
Salesforce's REST API, and a trigger polling for records changed since the last poll.

Follows Salesforce's REST API Developer Guide, API version 62.0: sign-in with OAuth 2.0 (authorization
code with PKCE) at `login.salesforce.com/services/oauth2/...`, whose token answer names the org's
`instance_url`, where every request then goes (`/services/data/v62.0/...`) with the token as a bearer
header. `query` answers `{"totalSize", "done", "records", "nextRecordsUrl"}`, followed page after page;
errors are arrays of `{"message", "errorCode", "fields"}`; a spent API allowance is answered 403
`REQUEST_LIMIT_EXCEEDED` and a dead session 401 `INVALID_SESSION_ID`.

SOQL is never built from data: the query's text is taken as the recipe wrote it (`Action.literal`), and
its `:name` placeholders are replaced by the typed values given apart from it, each written as a SOQL
literal by this module (strings quoted and escaped, numbers, booleans, dates and times in their own
syntax), so a value can never end a string and add a condition.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

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

LOGIN = "https://login.salesforce.com"
VERSION = "v62.0"
# Salesforce's API allowance is counted over a rolling day and its refusal says nothing of when it comes
# back: the connection is paused this long (the longest pause a connection takes), then tried again.
LIMIT_PAUSE_SECONDS = 3_600
MAX_ITEMS = 50_000
SOBJECT = r"^[A-Za-z][A-Za-z0-9_]{0,79}$"
FIELD = r"^[A-Za-z][A-Za-z0-9_]{0,79}(\.[A-Za-z][A-Za-z0-9_]{0,79}){0,4}$"
RECORD_ID = r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$"
PLACEHOLDER = re.compile(r":([A-Za-z_][A-Za-z0-9_]{0,39})")
# SOQL's escape sequences inside a quoted string (the SOQL and SOSL Reference, "Quoted String Escape
# Sequences"); any other control character is refused.
ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_version: str = Field(
        default=VERSION,
        pattern=r"^v[1-9][0-9]\.0$",
        title="REST API version",
        description="such as v62.0, the version this connector follows",
    )


def _instance(call: Call) -> str:
    url = call.credentials.get("instance_url", "")
    if not url:
        raise ActionFailed("the connection has no Salesforce instance: sign in again")
    return url.rstrip("/")


def _data(call: Call) -> str:
    settings = call.settings
    assert isinstance(settings, Settings)
    return f"{_instance(call)}/services/data/{settings.api_version}"


def _errors(answer: Any) -> list[tuple[str, str]]:
    """Salesforce's error array (or an object with `errors`, as a create answers) as (code, message)."""
    found = answer.get("errors") if isinstance(answer, dict) else answer
    if not isinstance(found, list):
        return []
    return [
        (str(e.get("errorCode") or e.get("statusCode") or "")[:100], str(e.get("message") or "")[:300])
        for e in found
        if isinstance(e, dict)
    ]


def _checked(response: httpx.Response, what: str) -> Any:
    """Salesforce's answer, or ActionFailed naming its error codes and messages."""
    status = response.status_code
    try:
        answer = response.json() if response.content else None
    except ValueError:
        answer = None
    if status < 400:
        return answer
    errors = _errors(answer)
    detail = "; ".join(f"{code}: {message}" if code else message for code, message in errors)
    detail = detail or f"HTTP {status}"
    codes = {code for code, _ in errors}
    if "REQUEST_LIMIT_EXCEEDED" in codes or status == 429:
        waited = retry_after_seconds(response.headers.get("retry-after"))
        raise ActionFailed(
            f"Salesforce refused {what}: {detail}",
            transient=True,
            retry_after=waited if waited is not None else LIMIT_PAUSE_SECONDS,
        )
    raise ActionFailed(
        f"Salesforce refused {what}: {detail}",
        transient=status >= 500 or "SERVER_UNAVAILABLE" in codes,
        output={"errors": [{"errorCode": c, "message": m} for c, m in errors]},
    )


def _send(call: Call, method: str, url: str, what: str, **extra: Any) -> Any:
    return _checked(call.request(method, url, **extra), what)


# Bound values: what a query's placeholders may stand for.


class DateValue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: date


class DateTimeValue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    datetime: datetime


Scalar = str | bool | int | float | None | DateValue | DateTimeValue
Bound = Scalar | list[str | bool | int | float | DateValue | DateTimeValue]


def soql_literal(value: Any) -> str:
    """One typed value as a SOQL literal. Strings are quoted with every quote and backslash escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a number must be finite")
        return repr(value)
    if isinstance(value, DateValue):
        return value.date.isoformat()
    if isinstance(value, DateTimeValue):
        return soql_datetime(value.datetime)
    if isinstance(value, str):
        if any(ord(ch) < 32 and ch not in ESCAPES for ch in value):
            raise ValueError("a text value may not hold control characters")
        return "'" + "".join(ESCAPES.get(ch, ch) for ch in value) + "'"
    if isinstance(value, list):
        if not value:
            raise ValueError("a list for IN needs at least one value")
        return "(" + ", ".join(soql_literal(each) for each in value) + ")"
    raise ValueError(f"a {type(value).__name__} cannot be a SOQL value")


def soql_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("a date and time needs its offset, such as 2026-01-31T09:00:00Z")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bind(soql: str, values: dict[str, Any]) -> str:
    """The query with each `:name` outside a quoted string replaced by its value's SOQL literal. Every
    placeholder needs a value and every value a placeholder, so a typo is named rather than ignored."""
    pieces: list[str] = []
    used: set[str] = set()
    position, quoted = 0, False
    segment_start = 0
    while position < len(soql):
        ch = soql[position]
        if quoted:
            if ch == "\\":
                position += 2
                continue
            if ch == "'":
                quoted = False
            position += 1
            continue
        if ch == "'":
            quoted = True
            position += 1
            continue
        found = PLACEHOLDER.match(soql, position) if ch == ":" else None
        if found is None:
            position += 1
            continue
        name = found.group(1)
        if name not in values:
            raise ValueError(f"the query uses :{name}, which has no value")
        pieces += [soql[segment_start:position], soql_literal(values[name])]
        used.add(name)
        position = segment_start = found.end()
    if quoted:
        raise ValueError("the query has a quoted string that does not end")
    unused = sorted(set(values) - used)
    if unused:
        raise ValueError(f"no :{unused[0]} in the query for its value")
    return "".join([*pieces, soql[segment_start:]])


def _records(call: Call, soql: str, cap: int, what: str) -> tuple[list[dict[str, Any]], int, bool]:
    """A query's records, page after page through `nextRecordsUrl` (only under the connection's own
    instance), until the end or `cap`; with the total Salesforce counted and whether every page came."""
    base = _data(call)
    url = f"{base}/query"
    params: dict[str, Any] | None = {"q": soql}
    headers = {"Sforce-Query-Options": f"batchSize={max(200, min(2000, cap))}"}
    found: list[dict[str, Any]] = []
    total = 0
    while True:
        answer = _send(call, "GET", url, what, params=params, headers=headers)
        if not isinstance(answer, dict):
            raise ActionFailed(f"Salesforce answered {what} with something other than a query result")
        total = int(answer.get("totalSize") or 0)
        for record in answer.get("records") or []:
            if isinstance(record, dict):
                found.append({k: v for k, v in record.items() if k != "attributes"})
        following = str(answer.get("nextRecordsUrl") or "")
        done = bool(answer.get("done", True)) or not following
        if len(found) >= cap:
            return found[:cap], total, done and len(found) <= cap
        if done:
            return found, total, True
        # The next page's path comes from the answer: it is followed only under this instance's API.
        if not following.startswith("/services/data/") or ".." in following:
            raise ActionFailed(f"Salesforce answered {what} with a next page outside its REST API")
        url, params = _instance(call) + following, None


class Query(ActionInput):
    soql: str = Field(
        min_length=1,
        max_length=100_000,
        title="SOQL",
        description="such as SELECT Id, Name FROM Account WHERE Industry = :industry; values go in Values",
    )
    values: dict[str, Bound] = Field(
        default_factory=dict,
        title="Values",
        description='by placeholder name: text, numbers, true/false, null, {"date": "2026-01-31"}, '
        '{"datetime": "2026-01-31T09:00:00Z"}, or a list for IN',
    )
    max_items: int = Field(default=2000, ge=1, le=MAX_ITEMS, title="At most this many records")

    @field_validator("values")
    @classmethod
    def _names(cls, value: dict[str, Bound]) -> dict[str, Bound]:
        for name in value:
            if not PLACEHOLDER.fullmatch(f":{name}"):
                raise ValueError(f"{name!r}: a value's name is letters, digits and _, as in :name")
        return value


class Records(ActionOutput):
    records: list[dict[str, JsonValue]]
    total_size: int
    complete: bool = Field(description="false when max_items stopped the query before its last page")


def query(call: Call, given: Query) -> Records:
    try:
        soql = bind(given.soql, given.values)
    except ValueError as exc:
        raise ActionFailed(f"query: {exc}") from None
    records, total, complete = _records(call, soql, given.max_items, "query")
    return Records(records=records, total_size=total, complete=complete)


class Fields(ActionInput):
    sobject: str = Field(pattern=SOBJECT, title="Object", description="such as Account or Invoice__c")
    fields: dict[str, JsonValue] = Field(min_length=1, max_length=800, title="Fields")

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        for name in value:
            if not re.match(SOBJECT, name):
                raise ValueError(f"{name!r} is not a field name")
        return value


class Saved(ActionOutput):
    id: str
    created: bool


def create(call: Call, given: Fields) -> Saved:
    url = f"{_data(call)}/sobjects/{given.sobject}/"
    answer = _send(call, "POST", url, f"create {given.sobject}", json=given.fields)
    if not isinstance(answer, dict) or not answer.get("success", True) or not answer.get("id"):
        detail = "; ".join(f"{c}: {m}" for c, m in _errors(answer)) or "no id in its answer"
        raise ActionFailed(f"Salesforce refused create {given.sobject}: {detail}")
    return Saved(id=str(answer["id"]), created=True)


class Update(Fields):
    id: str = Field(pattern=RECORD_ID, title="Record id")


def update(call: Call, given: Update) -> Saved:
    url = f"{_data(call)}/sobjects/{given.sobject}/{given.id}"
    _send(call, "PATCH", url, f"update {given.sobject}", json=given.fields)
    return Saved(id=given.id, created=False)


class Upsert(Fields):
    external_id_field: str = Field(
        pattern=SOBJECT, title="External id field", description="such as Ext_Id__c"
    )
    external_id: str = Field(min_length=1, max_length=255, title="External id value")


def upsert(call: Call, given: Upsert) -> Saved:
    where = f"{given.external_id_field}/{quote(given.external_id, safe='')}"
    url = f"{_data(call)}/sobjects/{given.sobject}/{where}"
    response = call.request("PATCH", url, json=given.fields)
    answer = _checked(response, f"upsert {given.sobject}")
    # 201: created; 200 with the record's id: updated (older versions answer an update 204, no body).
    found = str(answer.get("id", "")) if isinstance(answer, dict) else ""
    return Saved(id=found, created=response.status_code == 201)


class RecordRef(ActionInput):
    sobject: str = Field(pattern=SOBJECT, title="Object")
    id: str = Field(pattern=RECORD_ID, title="Record id")
    fields: list[str] = Field(
        default_factory=list, max_length=800, title="Fields", description="empty: every field"
    )

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(FIELD, name):
                raise ValueError(f"{name!r} is not a field name")
        return value


class Record(ActionOutput):
    record: dict[str, JsonValue]


def get_record(call: Call, given: RecordRef) -> Record:
    url = f"{_data(call)}/sobjects/{given.sobject}/{given.id}"
    params = {"fields": ",".join(given.fields)} if given.fields else None
    answer = _send(call, "GET", url, f"get {given.sobject}", params=params)
    if not isinstance(answer, dict):
        raise ActionFailed(f"Salesforce answered get {given.sobject} with something other than a record")
    return Record(record={k: v for k, v in answer.items() if k != "attributes"})


def _test(call: Call) -> str:
    answer = _send(call, "GET", f"{_data(call)}/limits", "test")
    daily = (answer or {}).get("DailyApiRequests") if isinstance(answer, dict) else None
    if isinstance(daily, dict) and "Remaining" in daily:
        return f"signed in; {daily['Remaining']} of {daily.get('Max', '?')} API requests left today"
    return "signed in"


# The trigger: records changed since the last poll, by LastModifiedDate.


class Changed(ActionInput):
    sobject: str = Field(pattern=SOBJECT, title="Object", description="such as Account or Invoice__c")
    fields: list[str] = Field(
        default_factory=list, max_length=200, title="Fields", description="besides Id and LastModifiedDate"
    )
    batch: int = Field(default=200, ge=1, le=2000, title="Records per poll")
    since: datetime | None = Field(
        default=None,
        title="Start at",
        description="records changed at or after this time start jobs on the first poll; empty: only "
        "changes after the recipe is started",
    )

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(FIELD, name):
                raise ValueError(f"{name!r} is not a field name")
        return value

    @field_validator("since")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("a date and time needs its offset, such as 2026-01-31T09:00:00Z")
        return value


def _select(given: Changed, condition: str, *, newest: bool = False, limit: int | None = None) -> str:
    """The trigger's query: the object and field names are checked against their patterns by `Changed`,
    and the times it compares with are bound (`:since`, `:until`), never spliced."""
    chosen = ", ".join(dict.fromkeys(["Id", "LastModifiedDate", *given.fields]))
    order = "LastModifiedDate DESC" if newest else "LastModifiedDate, Id"
    words = ["SELECT", chosen, "FROM", given.sobject, condition, "ORDER BY", order]
    if limit is not None:
        words += ["LIMIT", str(limit)]
    return " ".join(word for word in words if word)


def _moment(value: Any) -> datetime:
    """A record's LastModifiedDate (`2026-12-07T10:00:00.000+0000`), in UTC."""
    text = str(value)
    try:
        when = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ActionFailed(
                f"Salesforce answered a LastModifiedDate that is not a time: {text[:40]}"
            ) from None
    if when.tzinfo is None:
        raise ActionFailed(f"Salesforce answered a LastModifiedDate without its offset: {text[:40]}")
    return when.astimezone(UTC)


def _second(when: datetime) -> datetime:
    return when.replace(microsecond=0)


def _changes(call: Call, given: Changed, condition: str, values: dict[str, Any], **extra: Any) -> list[Any]:
    soql = bind(_select(given, condition, **extra), values)
    return _records(call, soql, MAX_ITEMS, "poll")[0]


WINDOW = "WHERE LastModifiedDate >= :since AND LastModifiedDate < :until"


def _window(second: datetime) -> dict[str, Any]:
    return {
        "since": DateTimeValue(datetime=second),
        "until": DateTimeValue(datetime=second + timedelta(seconds=1)),
    }


def poll_changed(call: Call, given: Changed, after: Cursor | None) -> Polled:
    """Records whose LastModifiedDate is past the cursor (a time, to the millisecond), oldest first.

    SOQL compares times to the second, so a poll asks for the cursor's whole second and keeps the records
    past the cursor. Once the cursor has moved to a change's time it is inclusive: records changed at that
    very time are read again, and the key of each change (the record's id and its LastModifiedDate)
    starts no second job; a record changed again later is a new change. A full batch ending in one second
    takes every record of that second, so a batch never splits them and the cursor always moves on."""
    if after is None and given.since is None:
        # The first poll starts from now: past the newest change there is, or from the beginning.
        newest = _changes(call, given, "", {}, newest=True, limit=1)
        start = _moment(newest[0]["LastModifiedDate"]).isoformat() if newest else None
        return Polled(items=[], cursor=Cursor(start))
    if after is not None:
        start, inclusive = after.value, after.inclusive
    else:
        assert given.since is not None
        start, inclusive = given.since.astimezone(UTC).isoformat(), True
    floor = None if start is None else datetime.fromisoformat(str(start))
    records: list[Any] = []
    later: dict[str, Any] = {}
    condition = ""
    if floor is not None:
        # The cursor's own second first, whole, then a batch of the seconds after it.
        records += _changes(call, given, WINDOW, _window(_second(floor)))
        later = {"since": DateTimeValue(datetime=_second(floor) + timedelta(seconds=1))}
        condition = "WHERE LastModifiedDate >= :since"
    batch = _changes(call, given, condition, later, limit=given.batch)
    if len(batch) == given.batch:
        # A full batch ends with every record of its last second, so a batch never splits a second.
        last = _second(_moment(batch[-1]["LastModifiedDate"]))
        batch = [r for r in batch if _second(_moment(r["LastModifiedDate"])) != last]
        batch += _changes(call, given, WINDOW, _window(last))
    records += batch
    found: list[Found] = []
    for record in records:
        when = _moment(record["LastModifiedDate"])
        if floor is not None and (when < floor or (when == floor and not inclusive)):
            continue
        key = f"{record.get('Id')}@{when.isoformat()}"
        found.append(Found(key=key, cursor=when.isoformat(), data=record))
    if not found:
        return Polled(items=[], cursor=after or Cursor(start, inclusive=inclusive))
    return Polled(items=found, cursor=Cursor(found[-1].cursor, inclusive=True))


ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" fill="none" '
    'stroke="currentColor" stroke-width="2"><path d="M7 18a4 4 0 0 1-1-7.9A5 5 0 0 1 15 7a4 4 0 0 1 '
    '4 6 3 3 0 0 1-2 5z"/></svg>'
)

SOQL_TEXT = frozenset({"soql"})

connector = Connector(
    key="salesforce",
    name="Salesforce",
    description="Records in a Salesforce org: SOQL queries, creating, updating and upserting, and changes.",
    icon=ICON,
    auth_methods=(OAUTH2_CODE,),
    settings=Settings,
    scopes=(
        Scope("api", "Read and change the Salesforce data your user may reach, through the REST API."),
        Scope("refresh_token", "Stay connected while you are away (a refresh token, offline access)."),
    ),
    actions=(
        Action(
            "query",
            "Query (SOQL)",
            "Records a SOQL query selects, every page, up to a limit; values are bound, never spliced.",
            Query,
            Records,
            query,
            frozenset({"api"}),
            literal=SOQL_TEXT,
        ),
        Action(
            "create",
            "Create a record",
            "Create a record of an object.",
            Fields,
            Saved,
            create,
            frozenset({"api"}),
            side_effects=True,
        ),
        Action(
            "update",
            "Update a record",
            "Change fields of a record, by its id.",
            Update,
            Saved,
            update,
            frozenset({"api"}),
            side_effects=True,
        ),
        Action(
            "upsert",
            "Upsert by external id",
            "Update the record whose external id field holds a value, or create it.",
            Upsert,
            Saved,
            upsert,
            frozenset({"api"}),
            side_effects=True,
        ),
        Action(
            "get_record",
            "Get a record",
            "A record's fields, by its id.",
            RecordRef,
            Record,
            get_record,
            frozenset({"api"}),
        ),
    ),
    triggers=(
        Trigger(
            "changed_records",
            "Changed records",
            "A job for each record created or changed since the last poll, by LastModifiedDate.",
            "poll",
            scopes=frozenset({"api"}),
            input=Changed,
            poll=poll_changed,
        ),
    ),
    test=_test,
    oauth=OAuth(
        authorize_url=f"{LOGIN}/services/oauth2/authorize",
        token_url=f"{LOGIN}/services/oauth2/token",
        revoke_url=f"{LOGIN}/services/oauth2/revoke",
        token_urls=("instance_url",),
    ),
)
