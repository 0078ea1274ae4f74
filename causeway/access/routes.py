"""Every page and API operation is built through `page` or `operation`, which declare and enforce access.

A route without a declaration is refused at request time (pages) or at start-up (API),
and a test walks every URL pattern and API operation to find one.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from causeway.access import policy
from causeway.access.errors import Forbidden, MfaRequired, NotFound, StepUpRequired
from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.accounts.services import recently_authenticated
from causeway.audit.models import Outcome
from causeway.audit.services import audit_record
from causeway.vault.masking import mask
from causeway.workspaces.models import ServiceAccount

ATTRIBUTE = "causeway_access"

# Changing these asks a browser session for a recent proof of identity (step-up): keys, secrets,
# members, roles, connectors, debugging and the workspace's settings (rule 3's Admin-only powers).
STEP_UP_PERMS: frozenset[Perm] = frozenset(
    {
        Perm.VAULT_KEY_MANAGE,
        Perm.VAULT_SECRET_MANAGE,
        Perm.MEMBER_MANAGE,
        Perm.ROLE_MANAGE,
        Perm.CONNECTOR_MANAGE,
        Perm.DEBUG_MANAGE,
        Perm.WORKSPACE_SETTINGS,
    }
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthenticatedRequest(HttpRequest):
    """A request to a page that `page` has checked is signed in: its user is a person."""

    user: User


def request_actor(request: HttpRequest) -> Actor:
    """Who calls an API operation (its declaration has checked there is someone)."""
    found = policy.actor_of(getattr(request, "auth", None))
    if found is None:
        raise NotFound("workspace")
    return found


F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Declaration:
    """What a route needs: nothing (public), a signed-in actor, staff, or a workspace permission."""

    kind: str
    perm: Perm | None = None
    # API only: a service account may call it (rule 8 keeps this to running recipes and reading jobs).
    service_accounts: bool = False
    # A write through it needs a recent proof of identity from a browser session.
    step_up: bool = False

    def describe(self) -> str:
        return f"{self.kind}:{self.perm}" if self.perm else self.kind


def _declaration(
    public: bool, authenticated: bool, staff: bool, need: Perm | None, step_up: bool = False
) -> Declaration:
    chosen = [
        name
        for name, on in (
            ("public", public),
            ("authenticated", authenticated),
            ("staff", staff),
            ("workspace", need is not None),
        )
        if on
    ]
    if len(chosen) != 1:
        raise TypeError("declare exactly one of public=, authenticated=, staff= or need=")
    return Declaration(kind=chosen[0], perm=need, step_up=step_up or need in STEP_UP_PERMS)


API_DELEGATED = Declaration(kind="api")


def delegate_to_operations(view: Any) -> Any:
    """Mark an API router's URL view: each operation behind it declares and enforces its own access."""
    setattr(view, ATTRIBUTE, API_DELEGATED)
    return view


def declaration_of(view: Any) -> Declaration | None:
    found = getattr(view, ATTRIBUTE, None)
    return found if isinstance(found, Declaration) else None


def record_denial(actor: Actor | None, error: Forbidden, path: str) -> None:
    workspace = error.workspace
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="access.denied",
            target=workspace,
            workspace_id=workspace.id if workspace is not None else None,
            outcome=Outcome.DENIED,
            # A path may carry a pasted secret (a name typed as a value); the audit log never holds one.
            details={"permission": str(error.perm), "path": mask(path)},
        )


def refused_form_errors(request: HttpRequest, error: Forbidden, field: str) -> dict[str, list[str]]:
    """A refusal met by a form (giving what one does not hold), on record like every denial and
    shown under the form's field rather than as a page of its own."""
    record_denial(policy.actor_of(request.user), error, request.path)
    return {field: [str(error)]}


def forbidden_page(request: HttpRequest, error: Forbidden) -> HttpResponse:
    record_denial(policy.actor_of(request.user), error, request.path)
    return TemplateResponse(request, "web/forbidden.html", {"permission": error.perm}, status=403).render()


def page(
    *,
    public: bool = False,
    authenticated: bool = False,
    staff: bool = False,
    need: Perm | None = None,
    step_up: bool = False,
) -> Callable[[F], F]:
    """Declare a page's access. With `need`, the URL carries `workspace` (a slug) and the view
    receives the Workspace object instead, already checked. With `step_up` (implied by the sensitive
    permissions of `STEP_UP_PERMS`), a posted form needs a recent proof of identity."""
    declared = _declaration(public, authenticated, staff, need, step_up)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if declared.kind != "public":
                if not request.user.is_authenticated:
                    return redirect_to_login(request.get_full_path())
            try:
                if declared.kind == "staff":
                    policy.require_staff(request.user)
                if declared.perm is not None:
                    kwargs["workspace"] = policy.workspace_get(
                        policy.actor_of(request.user), kwargs.pop("workspace"), need=declared.perm
                    )
                if _stale(declared, request):
                    return step_up_asked(request)
                response: HttpResponse = view(request, *args, **kwargs)
                return response
            except NotFound:
                raise Http404 from None
            except MfaRequired as error:
                # Not a page of refusal: the member is sent where the missing second factor is set up.
                record_denial(policy.actor_of(request.user), error, request.path)
                messages.warning(request, str(error).capitalize() + ".")
                return redirect("web:mfa")
            except Forbidden as error:
                return forbidden_page(request, error)

        setattr(guarded, ATTRIBUTE, declared)
        return guarded  # type: ignore[return-value]

    return decorate


def _stale(declared: Declaration, request: HttpRequest) -> bool:
    """A write that needs step-up, from a browser session whose proof of identity is too old."""
    if not declared.step_up or request.method in SAFE_METHODS:
        return False
    return proof_is_stale(request)


def proof_is_stale(request: HttpRequest) -> bool:
    """Whether this request comes from a browser session whose last proof of identity is older than the
    step-up window: what a sensitive act that only some requests make (an email change) asks."""
    if getattr(request, "api_token", None) is not None or not isinstance(request.user, User):
        # Tokens are credentials of their own: made only after a step-up, bounded, and revocable.
        return False
    return not recently_authenticated(request.session)


def step_up_asked(request: HttpRequest) -> HttpResponse:
    """A page's answer to a sensitive act without a recent proof: the refusal recorded, then on to the
    page that asks for the password or a code, and back."""
    actor = policy.actor_of(request.user)
    record_denial(actor, StepUpRequired(actor), request.path)
    return _to_reauthentication(request)


def _to_reauthentication(request: HttpRequest) -> HttpResponse:
    """To the page that asks for the password again, then back to the page the form was on."""
    back = request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=True):
        back = "/"
    messages.warning(
        request, "Confirm who you are to continue: enter your password or a code, then try again."
    )
    return redirect(f"{reverse('web:reauthenticate')}?{urlencode({'next': back})}")


SERVICE_ACCOUNT_REFUSED = "service_account:api"


def operation(
    *,
    public: bool = False,
    authenticated: bool = False,
    staff: bool = False,
    need: Perm | None = None,
    service_accounts: bool = False,
    step_up: bool = False,
) -> Callable[[F], F]:
    """Declare an API operation's access. With `need`, the path carries `workspace_id` and the
    checked Workspace is available to the handler as `request.workspace`.

    Service accounts are refused (403) unless the operation says `service_accounts=True`: rule 8 lets
    them execute recipes and read their own jobs, nothing else, so every other operation is closed to
    them by default, whatever its handler would do.
    """
    declared = _declaration(public, authenticated, staff, need, step_up)
    if service_accounts and declared.kind != "workspace":
        raise TypeError("service_accounts=True goes with need=: a service account acts in its workspace only")

    def decorate(handler: F) -> F:
        @functools.wraps(handler)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            actor = getattr(request, "auth", None)
            if isinstance(actor, ServiceAccount) and declared.kind != "public":
                if not actor.is_active:
                    raise NotFound("workspace")
                if not service_accounts:
                    workspace = actor.workspace if declared.kind == "workspace" else None
                    raise Forbidden(SERVICE_ACCOUNT_REFUSED, workspace=workspace, actor=actor)
            if declared.kind == "staff":
                policy.require_staff(actor)
            if declared.perm is not None:
                request.workspace = policy.workspace_get(  # type: ignore[attr-defined]
                    actor, kwargs["workspace_id"], need=declared.perm
                )
            if isinstance(actor, User) and _stale(declared, request):
                raise StepUpRequired(actor)
            return handler(request, *args, **kwargs)

        # Ninja reads the signature of the function it is given and would resolve string
        # annotations against this module; hand it the handler's own, already resolved.
        hints = typing.get_type_hints(handler, include_extras=True)
        guarded.__annotations__ = hints
        signature = inspect.signature(handler)
        guarded.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[
                p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
            ],
            return_annotation=hints.get("return", signature.return_annotation),
        )
        setattr(
            guarded, ATTRIBUTE, Declaration(declared.kind, declared.perm, service_accounts, declared.step_up)
        )
        return guarded  # type: ignore[return-value]

    return decorate
