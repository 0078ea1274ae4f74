"""The workspace audit log page and its "verify now" button, for workspace Admins."""

from __future__ import annotations

import json
import logging
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from causeway.access.perms import Perm
from causeway.access.routes import AuthenticatedRequest, page
from causeway.audit.models import Outcome
from causeway.audit.selectors import audit_action_names, audit_chain_verify, audit_event_list
from causeway.audit.verify import VerificationError
from causeway.workspaces.models import Workspace

PER_PAGE = 50
logger = logging.getLogger(__name__)


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=100, help_text='or its start, e.g. "user."')
    actor = forms.CharField(required=False, max_length=320, help_text="email, name or id")
    outcome = forms.ChoiceField(required=False, choices=[("", "any"), *Outcome.choices])
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", "must not be before the first day")
        return cleaned


def _log_context(request: AuthenticatedRequest, workspace: Workspace) -> dict[str, Any]:
    form = AuditFilterForm(request.GET or None)
    valid = form.is_valid()
    events = audit_event_list(workspace_id=workspace.id, **(form.cleaned_data if valid else {}))
    if form.is_bound and not valid:
        events = events.none()
    listing = Paginator(events, PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "workspace": workspace,
        "form": form,
        "page_obj": listing,
        "rows": [(event, json.dumps(event.details, indent=1, sort_keys=True)) for event in listing],
        "query": query.urlencode(),
        "actions": audit_action_names(workspace_id=workspace.id),
    }


@page(need=Perm.AUDIT_VIEW)
@require_GET
def audit_log(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    return render(request, "web/audit/log.html", _log_context(request, workspace))


@page(need=Perm.AUDIT_VIEW)
@require_POST
def audit_verify(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    try:
        report = audit_chain_verify(workspace_id=workspace.id)
    except VerificationError as exc:
        # The cause names files and keys that are the operator's business, not the tenant's.
        logger.error("audit verify for workspace %s could not run: %s", workspace.id, exc)
        return render(request, "web/audit/verify.html", {"workspace": workspace, "report": None}, status=503)
    return render(request, "web/audit/verify.html", {"workspace": workspace, "report": report})
