"""Calls to the API collections a workspace publishes (`/apis/<workspace>/<environment>/<collection>/...`)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from causeway.access.routes import page
from causeway.apiplat import calls


# Public: a machine calls it, with an API client's key and no session (so no CSRF token either); the
# key, the client's collections and its allow-list decide, in `calls.api_call`.
@page(public=True)
@csrf_exempt
@never_cache
def call(request: HttpRequest, owner: str, environment: str, collection: str, rest: str = "") -> HttpResponse:
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > calls.MAX_BODY_BYTES:
        return JsonResponse({"detail": f"the body is larger than {calls.MAX_BODY_BYTES} bytes"}, status=413)
    body = request.read(calls.MAX_BODY_BYTES + 1)
    if len(body) > calls.MAX_BODY_BYTES:
        return JsonResponse({"detail": f"the body is larger than {calls.MAX_BODY_BYTES} bytes"}, status=413)
    reply = calls.api_call(
        workspace_slug=owner,
        environment=environment,
        collection_slug=collection,
        path="/" + rest,
        method=request.method or "GET",
        query={key: request.GET.getlist(key) for key in request.GET},
        headers={name.lower(): value for name, value in request.headers.items()},
        body=body,
    )
    response = JsonResponse(reply.body, status=reply.status, safe=False)
    for name, value in reply.headers.items():
        response[name] = value
    return response
