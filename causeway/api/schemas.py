"""What every API operation shares: the strict base of input schemas, the bounds of common values, the
error answers with their schemas, so the OpenAPI document states every answer an operation gives, and
`Shown` for answers that add a value to their object.

Answers are built from the objects themselves: each output schema reads its fields from the object's
attributes (`from_attributes`), a computed or masked field through the schema's `resolve_<field>`.

The bounds here are the services' own rules, stated where a caller can read them: a request the
schema calls valid is not refused by a rule the schema does not state.
"""

from __future__ import annotations

from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import ConfigDict, model_validator

# The largest id number or count a caller may send; past it the database could not store the value.
MAX_INT = 2**31 - 1
# The longest reference (an id, a slug, a name or a key) a path or query parameter may carry.
MAX_REF = 200

NUL_REFUSED = "text may not contain the NUL character (U+0000)"
# The characters of a name: the Basic Multilingual Plane without control and format characters, line or
# paragraph separators, surrogates and private use (names are shown on pages and written to the audit log
# as they are given). `_SOLID` is the same less every kind of space: a name holds one of those at least.
_NAME_CHARS = (
    "\u0020-\u007e\u00a0-\u00ac\u00ae-\u05ff\u0606-\u061b\u061d-\u06dc\u06de-\u070e"
    "\u0710-\u180d\u180f-\u200a\u2010-\u2027\u202f-\u205f\u2070-\ud7ff\uf900-\ufefe\uff00-\ufff8"
)
_SOLID = (
    "\u0021-\u007e\u00a1-\u00ac\u00ae-\u05ff\u0606-\u061b\u061d-\u06dc\u06de-\u070e"
    "\u0710-\u167f\u1681-\u180d\u180f-\u1fff\u2010-\u2027\u2030-\u205e\u2070-\u2fff"
    "\u3001-\ud7ff\uf900-\ufefe\uff00-\ufff8"
)
NAME_PATTERN = f"^[{_NAME_CHARS}]*[{_SOLID}][{_NAME_CHARS}]*$"
# A path segment: no NUL, and no slash (it would end the segment).
SEGMENT_PATTERN = r"^[^\x00/]+$"
SLUG_OR_ID_PATTERN = r"^[-a-zA-Z0-9_]+$"
# Addresses the service's check (Django's) accepts; a part of them, stated exactly.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9_+-]{1,32}(\.[A-Za-z0-9_+-]{1,32}){0,2}@([A-Za-z0-9]{1,20}\.){1,3}[A-Za-z]{2,10}$"
)
# Checked by the service (its message names the field); the schema states the rule.
Email = Annotated[str, Field(json_schema_extra={"format": "email", "maxLength": 254})]
# A host name, an IP address or "*." and a domain; checked by the service (whose message names the entry).
Host = Annotated[str, Field(json_schema_extra={"maxLength": 253})]


def stated(**rules: Any) -> dict[str, Any]:
    """A rule the service checks (and names the field in its 400), stated in the schema for callers."""
    return rules


WorkspaceRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_REF,
        pattern=SLUG_OR_ID_PATTERN,
        description="the workspace's id or its slug",
    ),
]
# An object's id. Its format is stated, and a malformed one is answered as a missing one (404, rule 9).
ObjectId = Annotated[str, Field(max_length=MAX_REF, json_schema_extra={"format": "uuid"})]
Ref = Annotated[
    str,
    Field(min_length=1, max_length=MAX_REF, pattern=SEGMENT_PATTERN, description="an id, or a name or key"),
]
Count = Annotated[int, Field(ge=1, le=MAX_INT)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


class StrictIn(Schema):
    """Every input body and query schema.

    Unknown fields are refused (422 naming the field), never dropped or applied: `workspace_id`,
    `created_by`, `is_staff` and the like cannot be set through a body (mass assignment). Text holding
    NUL is refused too: PostgreSQL cannot store it, and no name, key or value needs it.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError(NUL_REFUSED)
        return data


def name_field(description: str = "a name", *, max_length: int = 100, default: Any = ...) -> Any:
    return Field(
        default,
        min_length=1,
        max_length=max_length,
        pattern=NAME_PATTERN,
        description=f"{description}: at most {max_length} characters, one at least not a space; "
        "no control or format characters, line breaks or characters outside the Basic Multilingual Plane",
    )


# The error answers, one schema per shape.


class ErrorOut(Schema):
    detail: str


class InvalidOut(Schema):
    detail: str = Field(description="the first problem, naming its field")
    errors: dict[str, list[str]] = Field(
        default_factory=dict, description="every problem by field (`__all__`: not one field's)"
    )


class ForbiddenOut(Schema):
    detail: str
    permission: str = Field(description="the permission the caller does not hold")


class ValidationItemOut(Schema):
    model_config = ConfigDict(extra="allow")

    type: str
    loc: list[str | int] = Field(description="where: the part of the request, then the field")
    msg: str


class UnprocessableOut(Schema):
    detail: list[ValidationItemOut]


ERRORS: dict[int, Any] = {
    400: InvalidOut,
    401: ErrorOut,
    403: ForbiddenOut,
    404: ErrorOut,
    409: InvalidOut,
    422: UnprocessableOut,
    429: ErrorOut,
}
ERROR_DESCRIPTIONS = {
    400: "The request breaks a rule of the service (the message names the field), or its body is not JSON",
    401: "No valid token or session",
    403: "The caller lacks a permission (named); service accounts are refused all but running recipes "
    "and reading their own jobs",
    404: "The workspace or object does not exist, or the caller may not know it exists",
    409: "The request conflicts with what is stored (a name already taken, a pending invitation, ...)",
    422: "A parameter or a body field does not match this schema (the location is named)",
    429: "Too many failed attempts from this source; retry after the `Retry-After` seconds",
    503: "The service cannot answer this now; the operator's log says why",
}


def answers(ok: dict[int, Any], *, conflict: bool = False, also: tuple[int, ...] = ()) -> dict[int, Any]:
    """An authenticated operation's answers: its own successes, then every error it may give."""
    codes = [400, 401, 403, 404, *([409] if conflict else []), 422, 429]
    found = dict(ok)
    for code in codes:
        found[code] = ERRORS[code]
    for code in also:
        found[code] = ERRORS.get(code, ErrorOut)
    return found


class Shown:
    """An object with values an answer adds to it: a new token's secret, an invitation's link, shown in
    that answer only. The output schema reads these like the object's own attributes."""

    def __init__(self, obj: Any, **added: Any) -> None:
        self._obj = obj
        self.__dict__.update(added)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._obj, name)
