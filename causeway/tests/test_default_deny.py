"""Every page and API operation declares the access it needs; anything undeclared is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, path

from causeway.access.routes import declaration_of
from causeway.api.api import api, undeclared_operations

# The second-factor step is public: its visitor is not signed in yet, only holds a password just checked.
PUBLIC_PAGES = {
    "web:login",
    "web:login_mfa",
    "web:login_mfa_passkey",
    "web:sso_login",
    "web:sso_callback",
    "web:saml_login",
    "web:saml_acs",
    "web:saml_metadata",
    "web:password_reset",
    "web:password_reset_confirm",
    "web:health",
    "web:invitation",
    "web:hook",
    "web:connector_hook",
    "web:api_call",
    "web:api_call_root",
}


def walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, Any]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), f"{namespace}{entry.name}", entry.callback


def test_every_url_pattern_declares_its_access() -> None:
    routes = list(walk(get_resolver()))
    assert len(routes) > 3
    undeclared = [route for route, _, callback in routes if declaration_of(callback) is None]
    assert undeclared == []


def test_every_api_operation_declares_its_access() -> None:
    assert undeclared_operations() == []
    operations = [
        op for _, router in api._routers for pv in router.path_operations.values() for op in pv.operations
    ]
    assert operations, "the API has operations"
    for op in operations:
        assert declaration_of(op.view_func) is not None, op.view_func.__name__


def test_only_login_and_health_pages_are_public() -> None:
    public = {
        name
        for _, name, callback in walk(get_resolver())
        if (d := declaration_of(callback)) is not None and d.kind == "public"
    }
    assert public == PUBLIC_PAGES


def test_api_public_operations_are_only_health() -> None:
    public = [
        op.view_func.__name__
        for _, router in api._routers
        for pv in router.path_operations.values()
        for op in pv.operations
        if declaration_of(op.view_func).kind == "public"  # type: ignore[union-attr]
    ]
    assert public == ["health"]


def _undeclared_view(request: Any) -> HttpResponse:
    return HttpResponse("secret data")


urlpatterns = [path("undeclared", _undeclared_view)]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__)
def test_a_view_that_declares_nothing_is_refused(client: Any) -> None:
    response = client.get("/undeclared")
    assert response.status_code == 404
    assert b"secret data" not in response.content


def test_an_api_operation_without_declaration_stops_start_up() -> None:
    from django.core.exceptions import ImproperlyConfigured
    from ninja import Router

    import causeway.api.api as module

    router = Router()

    @router.get("/leaky")
    def leaky(request: Any) -> dict[str, str]:
        return {}

    module.api._routers.append(("/probe", router))
    try:
        with pytest.raises(ImproperlyConfigured, match="leaky"):
            module.api_urls()
    finally:
        module.api._routers.pop()


@pytest.mark.django_db
def test_anonymous_pages_redirect_to_login_and_api_answers_401(client: Any) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login")
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/health").json() == {"status": "ok"}
