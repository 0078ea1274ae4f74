"""Which values of an identity provider's group claim put a workspace's members into which of its groups,
chosen by the workspace's Admins, and applying them at each sign-in through that provider.

A mapping names a provider, a claim (an OpenID Connect ID token claim such as `groups`, or a SAML
attribute), one value of it, and a group of the workspace. At each sign-in through the provider, for each
workspace the person is a member of: they join every mapped group whose mapping's value the claim
names, and leave every mapped group that no mapping's value in the claim names any more (a claim the
provider did not send names nothing). Groups with no mapping for the provider are never touched, and
nobody who is not a member of a workspace is put into its groups.

A group may never confer the Admin role (rule 3): a mapping to a group carrying it is refused, and if a
group came to carry it after its mapping was made, the sign-in puts nobody into it and records the
refusal. Every change is audited in the workspace."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from causeway.access import policy
from causeway.access.actors import SystemActor
from causeway.access.identity_providers import CLAIM, SLUG
from causeway.access.models import Group, GroupClaimMapping, GroupMember
from causeway.access.perms import ADMIN_ONLY, Perm, perms_of
from causeway.access.policy import Actor, uuid_or_none
from causeway.access.services import hidden, require
from causeway.accounts.models import IdentityProvider, User
from causeway.audit.models import Outcome
from causeway.audit.services import audit_record
from causeway.db import save_or_conflict
from causeway.workspaces.models import Membership, Workspace

VALUE_MAX = 200
DEFAULT_CLAIM = "groups"
ADMIN_REFUSED = "a group that carries the Admin role cannot be mapped from a provider's claim (rule 3)"


def confers_admin(group: Group) -> bool:
    """Whether membership of the group would give the Admin role or any Admin-only power."""
    return any(
        policy.is_admin_role(role) or perms_of(role.permissions) & ADMIN_ONLY for role in group.roles.all()
    )


def _provider(ref: Any) -> IdentityProvider:
    """A provider by slug or id: its sign-in address is public, so naming it reveals nothing."""
    pk = uuid_or_none(ref)
    text = str(ref or "")
    found = (
        IdentityProvider.objects.filter(pk=pk).first()
        if pk
        else (IdentityProvider.objects.filter(slug=text).first() if SLUG.fullmatch(text) else None)
    )
    if found is None:
        raise ValidationError({"provider": "no identity provider has this slug"})
    return found


def _claim(value: Any) -> str:
    cleaned = str(value or DEFAULT_CLAIM).strip()
    if not CLAIM.fullmatch(cleaned):
        raise ValidationError({"claim": "must be a claim or attribute name (letters, digits, _ . : / -)"})
    return cleaned


def _value(value: Any) -> str:
    cleaned = str(value or "").strip()
    if not cleaned or len(cleaned) > VALUE_MAX or any(ord(ch) < 32 or ord(ch) == 127 for ch in cleaned):
        raise ValidationError({"value": f"must be 1 to {VALUE_MAX} characters with no control characters"})
    return cleaned


def _group(workspace: Workspace, ref: Any) -> Group:
    """A group of this workspace only: another workspace's group id is refused as unknown here."""
    pk = ref.pk if isinstance(ref, Group) else uuid_or_none(ref)
    found = (
        Group.objects.filter(workspace=workspace).filter(Q(pk=pk) if pk else Q(name=str(ref or ""))).first()
    )
    if found is None:
        raise ValidationError({"group": "is not a group of this workspace"})
    return found


def group_mappings_visible(actor: Actor, workspace: Workspace) -> QuerySet[GroupClaimMapping]:
    if not policy.may(actor, Perm.MEMBER_VIEW, workspace):
        return GroupClaimMapping.objects.none()
    return GroupClaimMapping.objects.filter(workspace=workspace).select_related("provider", "group")


def group_mapping_get(actor: Actor, workspace: Workspace, ref: Any) -> GroupClaimMapping:
    require(actor, workspace, Perm.MEMBER_MANAGE)
    pk = uuid_or_none(ref)
    found = GroupClaimMapping.objects.filter(workspace=workspace, pk=pk).first() if pk else None
    if found is None:
        raise hidden(actor, GroupClaimMapping, pk, Perm.MEMBER_MANAGE, "group mapping")
    return found


def _details(mapping: GroupClaimMapping) -> dict[str, str]:
    return {
        "provider": mapping.provider.slug,
        "claim": mapping.claim,
        "value": mapping.value,
        "group": mapping.group.name,
        "group_id": str(mapping.group_id),
    }


@transaction.atomic
def group_mapping_create(
    *, actor: Actor, workspace: Workspace, provider: Any, value: Any, group: Any, claim: Any = DEFAULT_CLAIM
) -> GroupClaimMapping:
    """Map one value of a provider's claim to one of the workspace's groups (never an Admin-bearing one)."""
    require(actor, workspace, Perm.MEMBER_MANAGE)
    errors: dict[str, list[str]] = {}
    found: dict[str, Any] = {}
    for name, check in (
        ("provider", lambda: _provider(provider)),
        ("claim", lambda: _claim(claim)),
        ("value", lambda: _value(value)),
        ("group", lambda: _group(workspace, group)),
    ):
        try:
            found[name] = check()
        except ValidationError as error:
            errors.update(error.message_dict)
    if "group" in found and confers_admin(found["group"]):
        errors["group"] = [ADMIN_REFUSED]
    if errors:
        raise ValidationError(errors)
    mapping = GroupClaimMapping(workspace=workspace, **found)
    save_or_conflict(
        mapping,
        field="value",
        message="this value of the claim already maps to this group",
        on=("group", "provider", "claim", "value"),
        force_insert=True,
    )
    audit_record(
        actor=actor,
        action="group_mapping.created",
        target=mapping,
        workspace_id=workspace.id,
        details=_details(mapping),
    )
    return mapping


@transaction.atomic
def group_mapping_delete(*, actor: Actor, mapping: GroupClaimMapping) -> None:
    """Stop mapping the value: members stay in the group until an Admin or another mapping moves them."""
    require(actor, mapping.workspace, Perm.MEMBER_MANAGE)
    details, target = _details(mapping), mapping.audit_target
    mapping.delete()
    audit_record(
        actor=actor,
        action="group_mapping.deleted",
        target=target,
        workspace_id=mapping.workspace_id,
        details=details,
    )


def claim_values(claims: Mapping[str, Any], name: str) -> frozenset[str]:
    """The values a claim carries: a list of strings, or one string; anything else names nothing."""
    raw = claims.get(name)
    items: Sequence[Any] = raw if isinstance(raw, list | tuple) else [raw]
    return frozenset(item.strip() for item in items if isinstance(item, str) and item.strip())


@transaction.atomic
def group_mappings_apply(*, provider: IdentityProvider, user: User, claims: Mapping[str, Any]) -> None:
    """Bring the person's mapped groups, in every workspace they are a member of, into line with what
    the provider's claims say at this sign-in."""
    member_of = Membership.objects.filter(user=user).values("workspace_id")
    mappings = list(
        GroupClaimMapping.objects.filter(provider=provider, workspace_id__in=member_of)
        .select_related("group")
        .prefetch_related("group__roles")
    )
    wanted: dict[uuid.UUID, list[GroupClaimMapping]] = {}
    groups: dict[uuid.UUID, Group] = {}
    for mapping in mappings:
        groups[mapping.group_id] = mapping.group
        if mapping.value in claim_values(claims, mapping.claim):
            wanted.setdefault(mapping.group_id, []).append(mapping)
    if not groups:
        return
    actor = SystemActor(label=f"identity provider {provider.slug}")
    said = {"user_id": str(user.id), "provider": provider.slug}
    inside = set(
        GroupMember.objects.filter(user=user, group_id__in=groups).values_list("group_id", flat=True)
    )
    for group_id, group in groups.items():
        if group_id in wanted:
            values = sorted({m.value for m in wanted[group_id]})
            _join(actor, group, user, {**said, "values": values}, already=group_id in inside)
        elif group_id in inside:
            GroupMember.objects.filter(group=group, user=user).delete()
            _recorded(actor, "group.member_removed", group, {**said, "via": "sign_in"})


def _recorded(
    actor: SystemActor, action: str, group: Group, details: dict[str, Any], outcome: str = Outcome.SUCCESS
) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=group,
        workspace_id=group.workspace_id,
        outcome=outcome,
        details=details,
    )


def _join(actor: SystemActor, group: Group, user: User, details: dict[str, Any], *, already: bool) -> None:
    """Put the person into a group the claim names, unless it would make them an Admin (refused and
    recorded however often it is asked) or they are in it already."""
    if confers_admin(group):
        _recorded(
            actor, "group_mapping.refused", group, {**details, "reason": ADMIN_REFUSED}, Outcome.FAILURE
        )
        return
    if already:
        return
    # Two sign-ins of one person at once: the second finds the first one's row and records nothing.
    _, added = GroupMember.objects.get_or_create(group=group, user=user)
    if added:
        _recorded(actor, "group.member_added", group, {**details, "via": "sign_in"})
