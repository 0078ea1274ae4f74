"""The sessions page: a person's own sessions (browser, address, last seen), each of which they may
end; and an Admin ending every session of a member. Rules live in `accounts.sessions` and
`access.members`; these views parse and render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from causeway.access import members, policy
from causeway.access.perms import Perm
from causeway.access.routes import AuthenticatedRequest, page
from causeway.accounts import sessions
from causeway.workspaces.models import Workspace


@page(authenticated=True)
@never_cache
@require_GET
def sessions_view(request: AuthenticatedRequest) -> HttpResponse:
    current = request.session.session_key
    rows = [
        {"session": found, "handle": sessions.session_handle(found), "current": found.session_key == current}
        for found in sessions.session_list(user=request.user)
    ]
    return render(request, "web/accounts/sessions.html", {"rows": rows})


@page(authenticated=True, step_up=True)
@require_POST
def session_end_view(request: AuthenticatedRequest, handle: str) -> HttpResponse:
    found = sessions.session_by_handle(user=request.user, handle=handle)
    if found is None:
        raise Http404
    ending_this_one = found.session_key == request.session.session_key
    sessions.session_end(actor=request.user, session=found)
    if ending_this_one:
        logout(request)
        return redirect("web:login")
    messages.success(request, f"The session of {found.device} ended.")
    return redirect("web:sessions")


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def member_sessions_end_view(
    request: AuthenticatedRequest, workspace: Workspace, member: Any
) -> HttpResponse:
    membership = policy.membership_get(request.user, workspace, member, need=Perm.MEMBER_MANAGE)
    ended = members.member_sessions_end(actor=request.user, membership=membership)
    if membership.user_id == request.user.pk:
        logout(request)
        return redirect("web:login")
    messages.success(request, f"Ended {ended} session(s) of {membership.user.email}.")
    return redirect("web:workspace_members", workspace=workspace.slug)
