"""Every page and API operation answers a malformed or out-of-range parameter with 4xx, never 500.

The walk covers every URL pattern (from `get_resolver()`) and every API operation (from the OpenAPI
document). Each path parameter, and each query parameter the view or operation reads, gets in turn
each value of `MALFORMED` while the others stay valid, from the workspace's Admin, so that access is
not what refuses. The query parameters of a page are found by watching which ones the page reads on a
plain call; those of an operation are the ones its schema declares. Every call runs in a transaction
that is rolled back, so each meets the same world.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.db import transaction
from django.http import QueryDict
from django.urls import URLPattern, URLResolver, get_resolver

from causeway.tests.access_personas import World, build_world
from causeway.tests.test_permission_matrix import PARAMS
from testkit.support import https_client

pytestmark = pytest.mark.django_db

MALFORMED = [
    "abc",
    "0",
    "-1",
    "2147483648",
    "9" * 40,
    "1.5",
    " ",
    "00000000-0000-0000-0000-000000000000",
    "x" * 3000,
    "\u202e\u0301é",
    "\x00",
    "\U0001f4a5",
    "..",
    "%",
]

# A page's URL keyword -> the world's valid value, where PARAMS names it otherwise.
PAGE_VALUES: dict[str, Callable[[World], Any]] = {
    "member": lambda w: w.operator_membership.id,
    "token": lambda w: "not-a-live-invitation",
    "token_id": lambda w: w.robot_token.id,
    "grant": lambda w: w.group_grant.id,
    "format": lambda w: "csv",
    "session": lambda w: w.ids["break_glass_request"],
    "provider": lambda w: w.ids["identity_provider"],
}


def _routes(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _routes(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), f"{namespace}{entry.name}"


_PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def _fill(route: str, values: dict[str, str]) -> str:
    """The route with each parameter replaced by its value, URL-quoted."""
    path = route.replace("^", "").replace("$", "").replace("\\.", ".")
    return "/" + _PARAM.sub(lambda m: quote(values[m[1] or m[2]], safe=""), path)


def _page_params(route: str) -> list[str]:
    return [a or b for a, b in _PARAM.findall(route)]


def _valid(name: str, world: World) -> str:
    chosen = PAGE_VALUES.get(name) or PARAMS[name]
    return str(chosen(world))


def _rolled_back(call: Callable[[], Any]) -> Any:
    from causeway.vault.keysets import forget_cached_keysets

    with transaction.atomic():
        response = call()
        transaction.set_rollback(True)
    forget_cached_keysets()
    return response


class _Watched(QueryDict):
    read: set[str] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        _Watched.read.add(key)
        return super().get(key, default)

    def getlist(self, key: Any, default: Any = None) -> Any:
        _Watched.read.add(key)
        return super().getlist(key, default)

    def __getitem__(self, key: Any) -> Any:
        _Watched.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: Any) -> bool:
        _Watched.read.add(key)
        return super().__contains__(key)


def _query_read(client: Any, path: str, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The query parameters a page reads, found by calling it with none and watching."""
    _Watched.read = set()
    with monkeypatch.context() as patch:
        patch.setattr(
            WSGIRequest,
            "GET",
            property(lambda request: _Watched(request.environ.get("QUERY_STRING", ""))),
        )
        _rolled_back(lambda: client.get(path))
    return {key for key in _Watched.read if isinstance(key, str)}


def test_every_page_answers_malformed_parameters_with_4xx(monkeypatch: pytest.MonkeyPatch) -> None:
    world = build_world()
    client = https_client(raise_request_exception=False)
    client.force_login(world.people["admin"])
    failures = []
    routes = [(route, name) for route, name in _routes(get_resolver()) if not name.startswith("api:")]
    assert len(routes) > 50
    for route, name in routes:
        params = _page_params(route)
        valid = {p: _valid(p, world) for p in params}
        path = _fill(route, valid)
        for method in ("GET", "POST"):
            calls: list[tuple[str, str]] = []
            for param in params:
                calls += [(f"path {param}={bad!r}", _fill(route, {**valid, param: bad})) for bad in MALFORMED]
            if method == "GET":
                for key in sorted(_query_read(client, path, monkeypatch) - {"next"}):
                    calls += [
                        (f"query {key}={bad!r}", f"{path}?{urlencode({key: bad})}") for bad in MALFORMED
                    ]
            for label, url in calls:
                response = _rolled_back(lambda url=url, method=method: client.generic(method, url))
                if response.status_code >= 500:
                    failures.append(f"{method} {name} {label[:60]}: {response.status_code}")
    assert failures == [], "pages that failed on a malformed parameter:\n" + "\n".join(failures)


def test_every_api_operation_answers_malformed_parameters_with_4xx() -> None:
    from causeway.api.api import api

    world = build_world()
    client = https_client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {world.tokens['admin']}")
    document = api.get_openapi_schema(path_prefix="/api/v1")
    failures = []
    operations = [
        (path, method, spec) for path, item in document["paths"].items() for method, spec in item.items()
    ]
    assert len(operations) > 50
    for path, method, spec in operations:
        parameters = [p for p in spec.get("parameters", []) if p["in"] in ("path", "query")]
        valid = {p["name"]: _api_valid(p["name"], path, world) for p in parameters if p["in"] == "path"}
        body = "{}" if "requestBody" in spec else ""
        for parameter in parameters:
            for bad in MALFORMED:
                values = dict(valid)
                query = ""
                if parameter["in"] == "path":
                    values[parameter["name"]] = bad
                else:
                    query = "?" + urlencode({parameter["name"]: bad})
                url = re.sub(r"{(\w+)}", lambda m, v=values: quote(v[m[1]], safe=""), path) + query
                response = _rolled_back(
                    lambda url=url, method=method, body=body: client.generic(
                        method.upper(), url, body, content_type="application/json"
                    )
                )
                if response.status_code >= 500:
                    label = f"{parameter['in']} {parameter['name']}={bad[:20]!r}"
                    failures.append(f"{method.upper()} {path} {label}: {response.status_code}")
    assert failures == [], "operations that failed on a malformed parameter:\n" + "\n".join(failures)


def _api_valid(name: str, path: str, world: World) -> str:
    if name == "member_id":
        return str(world.group_member.id if "/groups/" in path else world.operator_membership.id)
    if name == "token_id":
        return str(world.robot_token.id)
    if name == "account_id":
        return str(world.robot.id)
    if name == "session_id":
        return str(world.ids["break_glass_request"])
    if name == "provider_id":
        return str(world.ids["identity_provider"])
    return str(PARAMS[name](world))
