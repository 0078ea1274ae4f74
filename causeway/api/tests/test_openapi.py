"""The OpenAPI document: for signed-in callers only, and honest about every answer and every bound."""

from __future__ import annotations

from typing import Any

import pytest

from causeway.workspaces.tests.helpers import bearer, fast_hashing  # noqa: F401
from testkit.support import https_client, make_user, make_workspace

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

API = "/api/v1"
ERRORS = {"400", "401", "403", "404", "422", "429"}


@pytest.fixture
def member() -> Any:
    user = make_user("reader@example.com")
    make_workspace("Acme", members={user: "operator"})
    return user


@pytest.fixture
def document(member: Any) -> dict[str, Any]:
    answer = https_client(**bearer(member)).get(f"{API}/openapi.json")
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_anonymous_callers_get_no_api_reference() -> None:
    client = https_client()
    answer = client.get(f"{API}/openapi.json")
    assert answer.status_code == 401 and answer.json() == {"detail": "Authentication required"}
    page = client.get(f"{API}/docs")
    assert page.status_code == 302 and page["Location"].startswith("/login")
    revoked = https_client(HTTP_AUTHORIZATION="Bearer cw_not-a-token")
    assert revoked.get(f"{API}/openapi.json").status_code == 401


def test_signed_in_members_read_the_api_reference_by_token_or_session(member: Any) -> None:
    assert https_client(**bearer(member)).get(f"{API}/openapi.json").status_code == 200
    browser = https_client()
    browser.force_login(member)
    assert browser.get(f"{API}/openapi.json").status_code == 200
    page = browser.get(f"{API}/docs")
    assert page.status_code == 200 and b"swagger-ui" in page.content
    # Every page's navigation leads to it.
    assert f'href="{API}/docs"'.encode() in browser.get("/").content


def test_every_authenticated_operation_documents_its_error_answers(document: dict[str, Any]) -> None:
    missing = []
    for path, method, op in _operations(document):
        if path == f"{API}/health":
            continue
        undocumented = ERRORS - set(op["responses"])
        if undocumented:
            missing.append(f"{method.upper()} {path}: {sorted(undocumented)}")
        for code in ERRORS & set(op["responses"]):
            content = op["responses"][code].get("content", {})
            assert "application/json" in content, (path, method, code)
        assert "Retry-After" in op["responses"]["429"]["headers"], (path, method)
    assert missing == []


def test_every_body_schema_forbids_additional_properties(document: dict[str, Any]) -> None:
    bodies = []
    for path, method, op in _operations(document):
        if "requestBody" not in op:
            continue
        schema = _resolve(document, op["requestBody"]["content"]["application/json"]["schema"])
        bodies.append(schema)
        assert schema.get("additionalProperties") is False, f"{method.upper()} {path} accepts unknown fields"
        for field in schema.get("properties", {}).values():
            nested = _resolve(document, field) if "$ref" in field else field
            if nested.get("type") == "object" and "properties" in nested:
                assert nested.get("additionalProperties") is False, f"{method.upper()} {path}: nested body"
    assert len(bodies) > 30


def test_the_services_bounds_are_in_the_schema(document: dict[str, Any]) -> None:
    def body(path: str, method: str) -> dict[str, Any]:
        op = document["paths"][f"{API}{path}"][method]
        return _resolve(document, op["requestBody"]["content"]["application/json"]["schema"])["properties"]

    token = body("/me/tokens", "post")["expires_in_days"]
    assert (token["minimum"], token["maximum"]) == (1, 365)
    robot_token = body("/workspaces/{workspace_id}/service-accounts/{account_id}/tokens", "post")
    assert robot_token["expires_in_days"]["minimum"] == 1
    assert body("/workspaces/{workspace_id}/job-retention", "put")["days"]["minimum"] == 1
    assert body("/workspaces/{workspace_id}/secrets/{name}", "put")["value"]["minLength"] == 1
    timeout = body("/workspaces/{workspace_id}", "patch")["session_timeout_minutes"]
    assert (timeout["minimum"], timeout["maximum"]) == (15, 20160)
    assert body("/workspaces/{workspace_id}/projects", "post")["name"]["minLength"] == 1


def test_the_access_review_documents_its_csv_answer(document: dict[str, Any]) -> None:
    op = document["paths"][f"{API}/workspaces/{{workspace_id}}/access-review"]["get"]
    assert set(op["responses"]["200"]["content"]) == {"application/json", "text/csv"}


def test_a_conflict_is_409_and_documented(member: Any, document: dict[str, Any]) -> None:
    admin = make_user("owner@example.com")
    acme = make_workspace("Blue", members={admin: "admin"})
    client = https_client(**bearer(admin))
    path = f"{API}/workspaces/{acme.id}/projects"
    assert client.post(path, {"name": "Sales"}, content_type="application/json").status_code == 201
    again = client.post(path, {"name": "Sales"}, content_type="application/json")
    assert again.status_code == 409 and again.json()["detail"].startswith("name: ")
    assert "409" in document["paths"][f"{API}/workspaces/{{workspace_id}}/projects"]["post"]["responses"]


def test_the_document_is_built_once_and_each_caller_gets_its_own_copy(member: Any) -> None:
    from causeway.api.api import api

    first = api.get_openapi_schema(path_prefix=API)
    assert api.get_openapi_schema(path_prefix=API) == first
    first["paths"].clear()
    first["info"]["title"] = "changed by one caller"
    again = api.get_openapi_schema(path_prefix=API)
    assert again["info"]["title"] == "Causeway"
    assert f"{API}/me" in again["paths"]
    served = https_client(**bearer(member)).get(f"{API}/openapi.json").json()
    assert served["info"]["title"] == "Causeway"
    assert set(served["paths"]) == set(again["paths"])
