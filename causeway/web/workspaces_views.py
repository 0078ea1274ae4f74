"""Pages for a workspace, its members and settings, platform administration and accepting invitations."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from causeway.access import identity_providers, policy
from causeway.access import members as services
from causeway.access.errors import Forbidden, NotFound
from causeway.access.perms import Perm
from causeway.access.routes import AuthenticatedRequest, page, refused_form_errors
from causeway.connections import outbound
from causeway.recipes import promotion, signatures
from causeway.runs import history
from causeway.watches import selectors as watching
from causeway.watches import services as watches
from causeway.web import live
from causeway.web.recipes_forms import ProdApprovalForm, SigningKeyRotateForm
from causeway.web.workspaces_forms import (
    InvitationAcceptForm,
    InviteForm,
    NotificationsForm,
    OutboundHostsForm,
    PlatformInviteForm,
    RoleChoiceForm,
    SettingsSectionForm,
    WorkspaceCreateForm,
    WorkspaceSettingsForm,
)
from causeway.workspaces import selectors
from causeway.workspaces.models import Workspace


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"__all__": list(exc.messages)}


def _workspace_context(request: AuthenticatedRequest, workspace: Workspace) -> dict[str, Any]:
    """What the workspace pages show of the viewer: their role and the links they may use."""
    membership = policy.membership_of(request.user, workspace)
    perms = policy.workspace_perms(request.user, workspace)
    return {
        "workspace": workspace,
        "membership": membership,
        "can_view_members": Perm.MEMBER_VIEW in perms,
        "can_manage_members": Perm.MEMBER_MANAGE in perms,
        "can_settings": Perm.WORKSPACE_SETTINGS in perms,
    }


@page(need=Perm.WORKSPACE_VIEW)
@require_GET
def overview(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    """The Dashboard: recent jobs, recent failures, started recipes and counts, of what the viewer may see."""
    board = history.dashboard(actor=request.user, workspace=workspace)
    reasons = history.failure_reasons(actor=request.user, jobs=board.failures)
    context = {
        # The live part shows none of the viewer's role and links: its polling does not ask for them.
        **({"workspace": workspace} if live.is_fragment(request) else _workspace_context(request, workspace)),
        "board": board,
        "recent": [(job, history.run_by(job)) for job in board.recent],
        "failures": [(job, history.run_by(job), reasons.get(job.pk)) for job in board.failures],
        "poll": live.dashboard_seconds(board.counts),
    }
    return live.page_or_fragment(
        request, "web/workspaces/overview.html", "web/workspaces/_dashboard_live.html", context
    )


def _members_page(
    request: AuthenticatedRequest, workspace: Workspace, *, status: int = 200, **extra: Any
) -> HttpResponse:
    roles = list(policy.roles_assignable(workspace))
    context = {
        **_workspace_context(request, workspace),
        "members": policy.memberships_visible(request.user, workspace),
        "invitations": policy.invitations_visible(request.user, workspace),
        "roles": roles,
        "system_roles": [role for role in roles if role.is_system],
        "invite_form": InviteForm(initial={"role": "analyst"}),
        **extra,
    }
    return render(request, "web/workspaces/members.html", context, status=status)


@page(need=Perm.MEMBER_VIEW)
@require_GET
def members(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    return _members_page(request, workspace)


@page(need=Perm.MEMBER_MANAGE)
@never_cache
@require_POST
def member_invite(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    form = InviteForm(request.POST)
    try:
        form.is_valid()
        issued = services.workspace_invitation_create(
            actor=request.user, workspace=workspace, **form.cleaned_data
        )
    except ValidationError as exc:
        return _members_page(request, workspace, status=400, invite_form=form.refuse(exc))
    except Forbidden as exc:
        form.refuse(ValidationError(refused_form_errors(request, exc, "role")))
        return _members_page(request, workspace, status=403, invite_form=form)
    # Rendered, not redirected: the link holds the secret and must not travel through a message cookie.
    return _members_page(request, workspace, issued=issued)


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def member_role(request: AuthenticatedRequest, workspace: Workspace, member: Any) -> HttpResponse:
    membership = policy.membership_get(request.user, workspace, member, need=Perm.MEMBER_MANAGE)
    form = RoleChoiceForm(request.POST)
    try:
        form.is_valid()
        services.member_role_change(
            actor=request.user, workspace=workspace, membership=membership, role=form.cleaned_data["role"]
        )
    except ValidationError as exc:
        return _members_page(request, workspace, status=400, row_form=form.refuse(exc), row_pk=membership.pk)
    except Forbidden as exc:
        form.refuse(ValidationError(refused_form_errors(request, exc, "role")))
        return _members_page(request, workspace, status=403, row_form=form, row_pk=membership.pk)
    messages.success(request, f"{membership.user.email} is now {membership.role.name}.")
    return redirect("web:workspace_members", workspace=workspace.slug)


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def member_remove(request: AuthenticatedRequest, workspace: Workspace, member: Any) -> HttpResponse:
    membership = policy.membership_get(request.user, workspace, member, need=Perm.MEMBER_MANAGE)
    try:
        services.member_remove(actor=request.user, membership=membership)
    except ValidationError as exc:
        return _members_page(request, workspace, status=400, member_errors={membership.pk: _errors(exc)})
    messages.success(request, f"{membership.user.email} was removed from {workspace.name}.")
    if membership.user_id == request.user.pk:
        return redirect("web:home")
    return redirect("web:workspace_members", workspace=workspace.slug)


@page(need=Perm.MEMBER_MANAGE)
@require_POST
def workspace_invitation_revoke(
    request: AuthenticatedRequest, workspace: Workspace, invitation: Any
) -> HttpResponse:
    found = policy.invitation_get(request.user, invitation, workspace=workspace)
    try:
        services.invitation_revoke(actor=request.user, invitation=found)
    except ValidationError as exc:
        return _members_page(request, workspace, status=400, invitation_errors=_errors(exc))
    messages.success(request, f"The invitation for {found.email} was revoked.")
    return redirect("web:workspace_members", workspace=workspace.slug)


@page(need=Perm.WORKSPACE_SETTINGS)
@require_http_methods(["GET", "POST"])
def settings_page(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    current = {
        "name": workspace.name,
        "session_timeout": str(selectors.session_timeout_minutes(workspace)),
        "mfa_required": "yes" if workspace.mfa_required else "no",
    }
    form = WorkspaceSettingsForm(initial=current)
    hosts_form = OutboundHostsForm(
        initial={"outbound_hosts": "\n".join(workspace.outbound_allowed_hosts or [])}
    )
    approval_form = ProdApprovalForm(initial={"prod_second_approval": workspace.prod_second_approval})
    notify_form = NotificationsForm(initial={"interval_minutes": str(watching.interval_minutes(workspace))})
    section = SettingsSectionForm(request.POST)
    posted = section.cleaned_data["section"] if request.method == "POST" and section.is_valid() else None
    if posted == "notifications":
        notify_form = NotificationsForm(request.POST)
        notify_form.is_valid()
        try:
            minutes = watches.notification_interval_set(
                actor=request.user, workspace=workspace, minutes=notify_form.cleaned_data["interval_minutes"]
            )
        except ValidationError as exc:
            notify_form.refuse(exc)
        else:
            messages.success(request, f"Watchers get at most one message per recipe every {minutes} minutes.")
            return redirect("web:workspace_settings", workspace=workspace.slug)
    elif posted == "promotion":
        approval_form = ProdApprovalForm(request.POST)
        approval_form.is_valid()
        required = bool(approval_form.cleaned_data.get("prod_second_approval"))
        promotion.prod_approval_set(actor=request.user, workspace=workspace, required=required)
        messages.success(
            request,
            "Promotions into PROD " + ("wait for a second person." if required else "need no second person."),
        )
        return redirect("web:workspace_settings", workspace=workspace.slug)
    elif posted == "outbound":
        hosts_form = OutboundHostsForm(request.POST)
        try:
            hosts_form.is_valid()
            outbound.outbound_hosts_set(actor=request.user, workspace=workspace, hosts=hosts_form.hosts())
        except ValidationError as exc:
            hosts_form.refuse(exc)
        else:
            messages.success(request, "Outbound hosts saved.")
            return redirect("web:workspace_settings", workspace=workspace.slug)
    elif request.method == "POST":
        form = WorkspaceSettingsForm(request.POST, initial=current)
        if form.is_valid():
            try:
                # A field the page did not post keeps its current value.
                services.workspace_settings_update(
                    actor=request.user,
                    workspace=workspace,
                    name=form.posted("name", workspace.name),
                    session_timeout_minutes=form.posted(
                        "session_timeout", selectors.session_timeout_minutes(workspace)
                    ),
                    mfa_required=form.posted("mfa_required", workspace.mfa_required),
                )
            except ValidationError as exc:
                form.refuse(exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("web:workspace_settings", workspace=workspace.slug)
    refused = bool(form.errors or hosts_form.errors or notify_form.errors)
    context = {
        **_workspace_context(request, workspace),
        "form": form,
        "notify_form": notify_form,
        "hosts_form": hosts_form,
        "approval_form": approval_form,
        "signing": (
            signatures.signing_key_status(actor=request.user, workspace=workspace)
            if policy.may(request.user, Perm.VAULT_KEY_MANAGE, workspace)
            else None
        ),
    }
    return render(request, "web/workspaces/settings.html", context, status=400 if refused else 200)


@page(need=Perm.VAULT_KEY_MANAGE, step_up=True)
@require_POST
def signing_key_rotate(request: AuthenticatedRequest, workspace: Workspace) -> HttpResponse:
    SigningKeyRotateForm(request.POST).is_valid()
    done = signatures.signing_key_rotate(actor=request.user, workspace=workspace)
    messages.success(
        request,
        f"PROD versions are signed with key {done.new_key_id} from now on; "
        "versions signed with earlier keys still verify.",
    )
    return redirect("web:workspace_settings", workspace=workspace.slug)


def platform_page(request: AuthenticatedRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = {
        "users": policy.users_visible(request.user),
        "invitations": policy.invitations_visible(request.user, None),
        "identity_providers": identity_providers.identity_providers_visible(request.user),
        **extra,
    }
    return render(request, "web/workspaces/platform.html", context, status=status)


@page(staff=True)
@require_GET
def platform(request: AuthenticatedRequest) -> HttpResponse:
    return platform_page(request)


@page(staff=True)
@never_cache
@require_POST
def platform_invite(request: AuthenticatedRequest) -> HttpResponse:
    form = PlatformInviteForm(request.POST)
    try:
        form.is_valid()
        issued = services.platform_invitation_create(
            actor=request.user,
            email=form.cleaned_data["email"],
            user_type=form.cleaned_data["staff"],
        )
    except ValidationError as exc:
        return platform_page(request, status=400, invite_form=form.refuse(exc))
    return platform_page(request, issued=issued)


@page(staff=True)
@require_POST
def platform_workspace_create(request: AuthenticatedRequest) -> HttpResponse:
    form = WorkspaceCreateForm(request.POST)
    try:
        form.is_valid()
        workspace = services.workspace_create(actor=request.user, **form.cleaned_data)
    except ValidationError as exc:
        return platform_page(request, status=400, create_form=form.refuse(exc))
    messages.success(request, f"Workspace {workspace.name} created at /w/{workspace.slug}/.")
    return redirect("web:platform")


@page(staff=True)
@require_POST
def platform_invitation_revoke(request: AuthenticatedRequest, invitation: Any) -> HttpResponse:
    found = policy.invitation_get(request.user, invitation, workspace=None)
    try:
        services.invitation_revoke(actor=request.user, invitation=found)
    except ValidationError as exc:
        return platform_page(request, status=400, invitation_errors=_errors(exc))
    messages.success(request, f"The invitation for {found.email} was revoked.")
    return redirect("web:platform")


def _invitation_page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    # While the link is live its path holds the secret, and Django logs the path of every 4xx answer:
    # so a refusal of a live link (a form error, the wrong account) is said in the page, with a 200.
    # Only dead links get a 404, and a dead secret opens nothing.
    return render(request, "web/workspaces/invitation.html", context, status=status)


@page(public=True)
@never_cache
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        found = policy.invitation_by_token(token)
    except NotFound:
        # One answer for unknown, used, revoked and expired links alike.
        return _invitation_page(request, {"unusable": True}, status=404)
    view = selectors.invitation_next_step(found, request.user)
    signing_up = view.step == "sign_up"
    context: dict[str, Any] = {"step": view.step, "invitation": found}
    if request.method == "GET":
        return _invitation_page(request, {**context, "form": InvitationAcceptForm(signing_up=signing_up)})
    form = InvitationAcceptForm(request.POST, signing_up=signing_up)
    context["form"] = form
    if not form.is_valid():
        return _invitation_page(request, context)
    try:
        accepted = services.invitation_accept(actor=request.user, token=token, **form.values())
    except services.InvitationUnusable:
        return _invitation_page(request, {"unusable": True}, status=404)
    except services.InvitationWrongAccount as exc:
        return _invitation_page(request, {**context, "refusal": str(exc)})
    except ValidationError as exc:
        form.refuse(exc)
        return _invitation_page(request, context)
    target = f"/w/{found.workspace.slug}/" if found.workspace is not None else reverse("web:home")
    if accepted.account_created:
        messages.success(
            request, f"Your account is ready. Log in as {accepted.user.email} with your new password."
        )
        return redirect(f"{reverse('web:login')}?next={quote(target)}")
    messages.success(request, f"You joined {found.workspace.name if found.workspace else 'Causeway'}.")
    return redirect(target)
