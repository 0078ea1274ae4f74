"""The Ninja API object, its error answers, and the start-up check that every operation declares access.

Every error answer, whichever handler made it (ours or Ninja's), is masked before it is sent: a
caller's input echoed in a message must not carry a known secret or token value back out (rule 13).
"""

from __future__ import annotations

import copy
import functools
import logging
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.openapi.views import openapi_view

from causeway.access import policy
from causeway.access.errors import Forbidden, NotFound
from causeway.access.routes import (
    ATTRIBUTE,
    SERVICE_ACCOUNT_REFUSED,
    Declaration,
    declaration_of,
    delegate_to_operations,
    page,
    record_denial,
)
from causeway.api import access as access_api
from causeway.api import accounts as accounts_api
from causeway.api import apiplat as apiplat_api
from causeway.api import audit as audit_api
from causeway.api import connections as connections_api
from causeway.api import connections_oauth as connections_oauth_api
from causeway.api import core as core_api
from causeway.api import environments as environments_api
from causeway.api import hooks as hooks_api
from causeway.api import recipes as recipes_api
from causeway.api import runs as runs_api
from causeway.api import runs_admin as runs_admin_api
from causeway.api import sso as sso_api
from causeway.api import vault as vault_api
from causeway.api import watches as watches_api
from causeway.api import workspaces as workspaces_api
from causeway.api.auth import BearerToken, BrowserSession
from causeway.api.schemas import ERROR_DESCRIPTIONS
from causeway.audit import context
from causeway.audit.refusals import Throttled
from causeway.db import is_conflict
from causeway.vault.masking import mask_text
from causeway.workspaces.models import ServiceAccount

logger = logging.getLogger(__name__)


class CausewayAPI(NinjaAPI):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._documents: dict[str, Any] = {}

    def on_exception(self, request: HttpRequest, exc: Any) -> HttpResponse:
        response = super().on_exception(request, exc)
        return masked(response)

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: Any = None) -> Any:
        """The document, with each error answer described and 429's `Retry-After` header stated.

        Built once per process and path prefix (the operations are fixed once the URLs are loaded, and
        building takes seconds of CPU); each caller gets its own copy.
        """
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        built = self._documents.get(path_prefix)
        if built is None:
            built = self._documents[path_prefix] = self._build_openapi_schema(path_prefix)
        return copy.deepcopy(built)

    def _build_openapi_schema(self, path_prefix: str) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix)
        for path_item in schema["paths"].values():
            for operation_ in path_item.values():
                for code, answer in operation_.get("responses", {}).items():
                    described = ERROR_DESCRIPTIONS.get(int(code))
                    if described is not None:
                        answer["description"] = described
                    if code == "429" or code == 429:
                        answer["headers"] = {
                            "Retry-After": {
                                "description": "seconds to wait before trying again",
                                "schema": {"type": "integer", "minimum": 0},
                            }
                        }
        return schema


def _signed_in_only(view: Any) -> Any:
    """The API reference, for signed-in callers only: it maps every operation, which is an attacker's
    first read. The page takes the browser's session (anonymous: to the login page); the document also
    a personal token (anonymous: 401). A service account may only run recipes and read its jobs
    (rule 8): it is refused both."""
    if getattr(view, "func", None) is openapi_view:
        return page(authenticated=True)(view)

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        by_token = "authorization" in request.headers
        actor = BearerToken()(request) if by_token else BrowserSession()(request)
        if actor is None:
            return JsonResponse({"detail": "Authentication required"}, status=401)
        if isinstance(actor, ServiceAccount):
            error = Forbidden(SERVICE_ACCOUNT_REFUSED, workspace=actor.workspace, actor=actor)
            record_denial(actor, error, request.path)
            return JsonResponse({"detail": str(error), "permission": error.perm}, status=403)
        response: HttpResponse = view(request, *args, **kwargs)
        return response

    setattr(guarded, ATTRIBUTE, Declaration(kind="authenticated"))
    return guarded


def masked(response: HttpResponse) -> HttpResponse:
    """The answer with every known secret value in its body replaced by `[masked:NAME]`.

    Masking the rendered JSON finds values also where the encoder escaped them; the replacement holds
    no character JSON would need to escape, so the body stays valid JSON.
    """
    charset = response.charset or "utf-8"
    text = response.content.decode(charset, errors="replace")
    cleaned = mask_text(text)
    if cleaned != text:
        response.content = cleaned.encode(charset)
    return response


api = CausewayAPI(
    title="Causeway",
    version="1",
    description=(
        "Causeway's REST API. Authenticate with a personal API token: `Authorization: Bearer <token>`."
    ),
    auth=[BearerToken(), BrowserSession()],
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    docs_decorator=_signed_in_only,
)
api.add_router("", core_api.router)
api.add_router("", accounts_api.router)
api.add_router("", workspaces_api.router)
api.add_router("", sso_api.router)
api.add_router("", audit_api.router)
api.add_router("", vault_api.router)
api.add_router("", connections_api.router)
api.add_router("", connections_oauth_api.router)
api.add_router("", recipes_api.router)
api.add_router("", environments_api.router)
api.add_router("", apiplat_api.router)
api.add_router("", access_api.router)
api.add_router("", runs_admin_api.router)
api.add_router("", hooks_api.router)
api.add_router("", runs_api.router)
api.add_router("", watches_api.router)


@api.exception_handler(NotFound)
def not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
    return api.create_response(request, {"detail": "Not found"}, status=404)


@api.exception_handler(Forbidden)
def forbidden(request: HttpRequest, exc: Forbidden) -> HttpResponse:
    record_denial(policy.actor_of(getattr(request, "auth", None)), exc, request.path)
    return api.create_response(request, {"detail": str(exc), "permission": str(exc.perm)}, status=403)


@api.exception_handler(ValidationError)
def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors: dict[str, Any] = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    first = next(iter(errors.items()))
    return api.create_response(
        request,
        {"detail": f"{first[0]}: {'; '.join(first[1])}", "errors": errors},
        status=409 if is_conflict(exc) else 400,
    )


@api.exception_handler(Exception)
def internal_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The cause goes to the operator's log; the caller gets the request id to quote, nothing more.
    logger.exception("API request %s failed", request.path)
    return api.create_response(
        request,
        {"detail": "Internal error; nothing was changed", "request_id": context.current().request_id},
        status=500,
    )


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(request, {"detail": "Authentication required"}, status=401)


@api.exception_handler(Throttled)
def throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    response = api.create_response(request, {"detail": exc.detail}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


def undeclared_operations() -> list[str]:
    """Every operation whose handler was not built with `access.routes.operation`."""
    missing = []
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for op in path_view.operations:
                if declaration_of(op.view_func) is None:
                    missing.append(f"{','.join(op.methods)} {prefix}{path} ({op.view_func.__name__})")
    return missing


def api_urls() -> Any:
    missing = undeclared_operations()
    if missing:
        raise ImproperlyConfigured(f"API operations without an access declaration: {', '.join(missing)}")
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if declaration_of(pattern.callback) is None:
            delegate_to_operations(pattern.callback)
    return (patterns, app_name, namespace)
