"""Webhook calls (`POST /hooks/<token>`, signed, public) and the recipe's Webhook page for its editors."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from causeway.access.perms import Perm
from causeway.access.routes import AuthenticatedRequest, page
from causeway.audit.refusals import Throttled
from causeway.recipes import policy as access
from causeway.runs import connector_hooks, local, webhooks
from causeway.web.hooks_forms import WebhookSecretForm
from causeway.workspaces.models import Workspace


def _json(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


# Public: a machine calls it, with no session; the signature over its body is what lets it in, so there
# is no CSRF token to check either.
@page(public=True)
@csrf_exempt
@never_cache
@require_POST
def receive(request: HttpRequest, token: str) -> HttpResponse:
    try:
        webhooks.webhook_admit()
    except Throttled as throttled:
        response = _json(429, throttled.detail)
        response["Retry-After"] = str(throttled.retry_after)
        return response
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > webhooks.MAX_BODY_BYTES:
        return _json(413, f"the body is larger than {webhooks.MAX_BODY_BYTES} bytes")
    body = request.read(webhooks.MAX_BODY_BYTES + 1)
    if len(body) > webhooks.MAX_BODY_BYTES:
        return _json(413, f"the body is larger than {webhooks.MAX_BODY_BYTES} bytes")
    try:
        receipt = webhooks.webhook_receive(
            token=token,
            body=body,
            signature=request.headers.get(webhooks.SIGNATURE_HEADER),
            idempotency_key=request.headers.get(webhooks.IDEMPOTENCY_HEADER),
        )
    except webhooks.WebhookNotFound:
        return _json(404, "Not found")
    except webhooks.WebhookReplayed as replayed:
        return _json(409, replayed.reason)
    except webhooks.WebhookRefused as refused:
        return _json(401, refused.reason)
    except webhooks.BadPayload as bad:
        return _json(400, str(bad))
    if receipt.respond_within is not None:
        return _answer(receipt)
    # A repeat of an Idempotency-Key is answered with the job its first call started.
    return JsonResponse({"job": str(receipt.job.id)}, status=200 if receipt.repeated else 202)


# Public, like `receive`: the provider's signature, checked by the connector's own hook, lets a call in.
@page(public=True)
@csrf_exempt
@never_cache
@require_POST
def receive_connector(request: HttpRequest, token: str) -> HttpResponse:
    try:
        webhooks.webhook_admit()
    except Throttled as throttled:
        response = _json(429, throttled.detail)
        response["Retry-After"] = str(throttled.retry_after)
        return response
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > webhooks.MAX_BODY_BYTES:
        return _json(413, f"the body is larger than {webhooks.MAX_BODY_BYTES} bytes")
    body = request.read(webhooks.MAX_BODY_BYTES + 1)
    if len(body) > webhooks.MAX_BODY_BYTES:
        return _json(413, f"the body is larger than {webhooks.MAX_BODY_BYTES} bytes")
    try:
        receipt = connector_hooks.connector_webhook_receive(token=token, body=body, headers=request.headers)
    except webhooks.WebhookNotFound:
        return _json(404, "Not found")
    except connector_hooks.HookUnavailable:
        return _json(503, "the recipe cannot take calls now; its editors see why on its trigger status")
    except webhooks.WebhookReplayed as replayed:
        return _json(409, replayed.reason)
    except connector_hooks.HookRefused as refused:
        return _json(refused.status, refused.reason)
    except webhooks.BadPayload as bad:
        return _json(400, str(bad))
    if receipt.reply is not None:
        return JsonResponse(receipt.reply.body, status=receipt.reply.status, safe=False)
    assert receipt.job is not None
    return JsonResponse({"job": str(receipt.job.id)}, status=200 if receipt.repeated else 202)


def _answer(receipt: webhooks.WebhookReceipt) -> HttpResponse:
    """The job's answer when it comes within the recipe's time; 202 with the job's URL otherwise."""
    answer = local.wait(receipt.job.id, receipt.respond_within or 0)
    if answer is None:
        return JsonResponse({"job": str(receipt.job.id), "url": webhooks.job_url(receipt.job)}, status=202)
    response = JsonResponse(answer.body, status=answer.status, safe=False)
    for name, value in answer.headers.items():
        response[name] = value
    response["X-Causeway-Job"] = str(receipt.job.id)
    return response


def _page(
    request: AuthenticatedRequest,
    workspace: Workspace,
    recipe_id: uuid.UUID,
    secret: str = "",
    form: WebhookSecretForm | None = None,
    saved: bool = False,
) -> HttpResponse:
    recipe = access.recipe_get(request.user, workspace, recipe_id, need=Perm.RECIPE_EDIT)
    info = webhooks.webhook_info(actor=request.user, recipe=recipe)
    context = {
        "workspace": workspace,
        "recipe": recipe,
        "info": info,
        "secret": secret,
        "secret_form": form or WebhookSecretForm(),
        "secret_saved": saved,
        "header": webhooks.SIGNATURE_HEADER,
        "tolerance_minutes": webhooks.TOLERANCE_SECONDS // 60,
    }
    return render(request, "web/hooks/webhook.html", context, status=400 if form and form.errors else 200)


@page(need=Perm.WORKSPACE_VIEW)
@never_cache
@require_GET
def webhook(request: AuthenticatedRequest, workspace: Workspace, recipe: uuid.UUID) -> HttpResponse:
    return _page(request, workspace, recipe)


@page(need=Perm.WORKSPACE_VIEW)
@never_cache
@require_POST
def webhook_rotate(request: AuthenticatedRequest, workspace: Workspace, recipe: uuid.UUID) -> HttpResponse:
    found = access.recipe_get(request.user, workspace, recipe, need=Perm.RECIPE_EDIT)
    secret = webhooks.webhook_secret_rotate(actor=request.user, recipe=found)
    # Rendered, not redirected: the secret exists only in this one answer, never cached.
    return _page(request, workspace, recipe, secret=secret)


@page(need=Perm.WORKSPACE_VIEW)
@never_cache
@require_POST
def webhook_secret(request: AuthenticatedRequest, workspace: Workspace, recipe: uuid.UUID) -> HttpResponse:
    found = access.recipe_get(request.user, workspace, recipe, need=Perm.RECIPE_EDIT)
    form = WebhookSecretForm(request.POST)
    form.is_valid()
    try:
        connector_hooks.webhook_secret_set(
            actor=request.user, recipe=found, secret=form.cleaned_data["secret"]
        )
    except ValidationError as refused:
        return _page(request, workspace, recipe, form=form.refuse(refused))
    return _page(request, workspace, recipe, saved=True)
