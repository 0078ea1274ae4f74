"""Groups from sign-in: an Admin maps values of an identity provider's group claim to the workspace's
groups (page, API and command line), and each sign-in through the provider, against the real OpenID
Connect provider and SAML IdP the tests start, puts the member into the mapped groups the claim names and
takes them out of those it no longer names, leaving every other group alone. A group carrying the Admin
role is never mapped, nor joined at sign-in; another workspace's groups are not found."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from causeway.access import group_mappings, services
from causeway.access import identity_providers as providers
from causeway.access.models import Group, GroupClaimMapping
from causeway.accounts.actors import SystemActor
from causeway.accounts.models import IdentityProvider, User
from causeway.accounts.saml import sp_metadata
from causeway.accounts.tests.oidc_provider import RunningProvider
from causeway.accounts.tests.saml_idp import SamlIdp, saml_idp
from causeway.audit.models import AuditEvent
from causeway.tests.test_sso_oidc import acme, public_address, running, sign_in, signed_in_as
from causeway.workspaces.models import Role, Workspace
from testkit.support import https_client, make_user, make_workspace

__all__ = ["acme", "public_address", "running"]

SYSTEM = SystemActor(label="test")


def groups_of(workspace: Workspace, email: str) -> list[str]:
    user = User.objects.with_email(email).first()
    found = Group.objects.filter(workspace=workspace, members__user=user) if user else Group.objects.none()
    return sorted(found.values_list("name", flat=True))


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("occurred_at", "chain", "seq"))


@pytest.fixture
def ws(db: Any) -> Workspace:
    admin = make_user("admin@example.com", first="Alan", last="Turing")
    grace = make_user("grace@example.com", first="Grace", last="Hopper")
    ada = make_user("ada@example.com")
    workspace = make_workspace("Engineering", members={admin: "admin", grace: "analyst", ada: "analyst"})
    for name in ("Builders", "Finance", "Hand picked"):
        services.group_create(actor=SYSTEM, workspace=workspace, name=name)
    for email in ("grace@example.com", "ada@example.com"):
        services.group_member_add(actor=SYSTEM, group=_group(workspace, "Hand picked"), user=email)
    return workspace


def _group(workspace: Workspace, name: str) -> Group:
    return Group.objects.get(workspace=workspace, name=name)


def _map(
    workspace: Workspace, provider: str, value: str, group: str, claim: str = "groups"
) -> GroupClaimMapping:
    return group_mappings.group_mapping_create(
        actor=SYSTEM,
        workspace=workspace,
        provider=provider,
        claim=claim,
        value=value,
        group=_group(workspace, group),
    )


@pytest.mark.django_db
def test_oidc_groups_claim_puts_members_in_and_takes_them_out_at_each_sign_in(
    running: RunningProvider, acme: IdentityProvider, ws: Workspace
) -> None:
    _map(ws, "acme", "eng", "Builders")
    _map(ws, "acme", "money", "Finance")
    _map(ws, "acme", "accounts", "Finance")
    person = running.provider.person

    # Claims present: the member joins the groups their values map to, and keeps the unmapped one.
    person["groups"] = ["eng", "sales"]
    client = https_client()
    answer, _ = sign_in(client)
    assert answer.status_code == 302 and signed_in_as(client) == "grace@example.com"
    assert groups_of(ws, "grace@example.com") == ["Builders", "Hand picked"]
    added = events("group.member_added")[-1]
    assert added.actor_label == "identity provider acme" and added.target_label == "Builders"
    assert added.details["via"] == "sign_in" and added.details["values"] == ["eng"]

    # Changed between sign-ins: out of Builders, into Finance (named by two values at once).
    person["groups"] = ["money", "accounts"]
    sign_in(https_client())
    assert groups_of(ws, "grace@example.com") == ["Finance", "Hand picked"]
    removed = events("group.member_removed")[-1]
    assert removed.target_label == "Builders" and removed.details["via"] == "sign_in"

    # The same claims again: nothing changes, nothing is recorded.
    before = AuditEvent.objects.filter(action__startswith="group.").count()
    sign_in(https_client())
    assert AuditEvent.objects.filter(action__startswith="group.").count() == before

    # Claim absent: it names nothing, so every mapped group is left; the hand-picked one stays.
    del person["groups"]
    sign_in(https_client())
    assert groups_of(ws, "grace@example.com") == ["Hand picked"]
    # The other member, who did not sign in, was never touched.
    assert groups_of(ws, "ada@example.com") == ["Hand picked"]


@pytest.mark.django_db
def test_oidc_mapping_reads_the_claim_it_names_and_a_single_string(
    running: RunningProvider, acme: IdentityProvider, ws: Workspace
) -> None:
    _map(ws, "acme", "builders", "Builders", claim="roles")
    running.provider.person["roles"] = "builders"
    running.provider.person["groups"] = ["Finance"]
    sign_in(https_client())
    assert groups_of(ws, "grace@example.com") == ["Builders", "Hand picked"]


@pytest.mark.django_db
def test_a_sign_in_puts_nobody_into_a_workspace_they_are_not_a_member_of(
    running: RunningProvider, acme: IdentityProvider, ws: Workspace
) -> None:
    _map(ws, "acme", "eng", "Builders")
    running.provider.person.update(
        {"email": "newcomer@example.com", "given_name": "Nadia", "family_name": "Newman", "groups": ["eng"]}
    )
    client = https_client()
    sign_in(client)
    assert signed_in_as(client) == "newcomer@example.com"
    assert groups_of(ws, "newcomer@example.com") == []


@pytest.fixture
def idp(tmp_path: Any) -> SamlIdp:
    return saml_idp(tmp_path)


@pytest.fixture
def corp(db: Any, idp: SamlIdp) -> Iterator[IdentityProvider]:
    yield providers.identity_provider_create_saml(
        actor=SYSTEM, slug="corp", name="Corp SSO", metadata=idp.metadata(), trusted_domains=["example.com"]
    )


def saml_sign_in(idp: SamlIdp, corp: IdentityProvider) -> Any:
    client = https_client()
    left = client.get("/login/saml/corp")
    assert left.status_code == 302, left.content
    answer = client.post(
        "/login/saml/corp/acs",
        {"SAMLResponse": idp.answer(str(left["Location"]), sp_metadata(corp, "https://testserver"))},
    )
    assert answer.status_code == 302, answer.content
    assert signed_in_as(client) == "ada@example.com"
    return client


@pytest.mark.django_db
def test_saml_group_attribute_puts_members_in_and_takes_them_out_at_each_sign_in(
    idp: SamlIdp, corp: IdentityProvider, ws: Workspace
) -> None:
    _map(ws, "corp", "cn=eng", "Builders", claim="memberOf")
    _map(ws, "corp", "cn=fin", "Finance", claim="memberOf")
    idp.person["memberOf"] = ["cn=eng", "cn=other"]
    saml_sign_in(idp, corp)
    assert groups_of(ws, "ada@example.com") == ["Builders", "Hand picked"]

    idp.person["memberOf"] = ["cn=fin"]
    saml_sign_in(idp, corp)
    assert groups_of(ws, "ada@example.com") == ["Finance", "Hand picked"]

    del idp.person["memberOf"]
    saml_sign_in(idp, corp)
    assert groups_of(ws, "ada@example.com") == ["Hand picked"]
    assert [e.target_label for e in events("group.member_removed")] == ["Builders", "Finance"]


def _admin_role() -> Role:
    return Role.objects.get(key="admin", workspace__isnull=True)


@pytest.mark.django_db
def test_a_mapping_to_an_admin_bearing_group_is_refused_and_one_that_became_so_is_not_joined(
    running: RunningProvider, acme: IdentityProvider, ws: Workspace
) -> None:
    # Written past the service, which refuses it: the mapping must hold even against such a row.
    _group(ws, "Finance").roles.add(_admin_role())
    with pytest.raises(ValidationError) as refused:
        _map(ws, "acme", "money", "Finance")
    assert "Admin role" in refused.value.message_dict["group"][0]

    _map(ws, "acme", "eng", "Builders")
    _group(ws, "Builders").roles.add(_admin_role())
    running.provider.person["groups"] = ["eng"]
    client = https_client()
    sign_in(client)
    assert signed_in_as(client) == "grace@example.com"
    assert groups_of(ws, "grace@example.com") == ["Hand picked"]
    refusal = events("group_mapping.refused")[-1]
    assert refusal.outcome == "failure" and refusal.target_label == "Builders"
    assert refusal.details["values"] == ["eng"]


@pytest.mark.django_db
def test_page_api_and_command_line_map_and_unmap_values_and_refuse_another_workspaces_group(
    acme: IdentityProvider, ws: Workspace
) -> None:
    other = make_workspace("Elsewhere", members={make_user("boss@else.example"): "admin"})
    theirs = services.group_create(actor=SYSTEM, workspace=other, name="Builders")
    theirs_mapping = group_mappings.group_mapping_create(
        actor=SYSTEM, workspace=other, provider="acme", value="eng", group=theirs
    )
    client = https_client()
    client.force_login(User.objects.with_email("admin@example.com").get())

    # The page.
    made = client.post(
        f"/w/{ws.slug}/access/group-mappings/new",
        {"provider": "acme", "claim": "groups", "value": "eng", "group": str(_group(ws, "Builders").pk)},
    )
    assert made.status_code == 302
    page = client.get(f"/w/{ws.slug}/access/groups").content.decode()
    assert 'data-mapping="groups=eng"' in page and "Acme Login" in page
    refused = client.post(
        f"/w/{ws.slug}/access/group-mappings/new",
        {"provider": "acme", "claim": "groups", "value": "x", "group": str(theirs.pk)},
    )
    assert refused.status_code == 400 and "is not a group of this workspace" in refused.content.decode()
    mapping = GroupClaimMapping.objects.get(workspace=ws, value="eng")
    assert client.post(f"/w/{ws.slug}/access/group-mappings/{mapping.pk}/delete").status_code == 302
    assert client.post(f"/w/{ws.slug}/access/group-mappings/{theirs_mapping.pk}/delete").status_code == 404

    # The API.
    base = f"/api/v1/workspaces/{ws.slug}/group-mappings"
    body = {"provider": "acme", "value": "money", "group": "Finance"}
    created = client.post(base, body, content_type="application/json")
    assert created.status_code == 201, created.content
    shown = created.json()
    assert shown["claim"] == "groups" and shown["group"] == "Finance" and shown["provider"] == "acme"
    assert client.post(base, body, content_type="application/json").status_code == 409
    wrong = client.post(base, {**body, "group": str(theirs.pk)}, content_type="application/json")
    assert wrong.status_code == 400 and "group" in wrong.json()["detail"]
    unknown = client.post(base, {**body, "provider": "nobody"}, content_type="application/json")
    assert unknown.status_code == 400
    extra = client.post(base, {**body, "workspace_id": str(other.id)}, content_type="application/json")
    assert extra.status_code in (400, 422)
    assert [m["value"] for m in client.get(base).json()] == ["money"]
    assert client.delete(f"{base}/{theirs_mapping.pk}").status_code == 404
    assert client.delete(f"{base}/{shown['id']}").status_code == 204
    assert client.get(base).json() == []

    # The command line.
    out = io.StringIO()
    call_command(
        "groups",
        "map",
        "Builders",
        "--workspace",
        ws.slug,
        "--provider",
        "acme",
        "--value",
        "eng",
        stdout=out,
    )
    assert "Mapped groups=eng from acme to Builders" in out.getvalue()
    listed = io.StringIO()
    call_command("groups", "mappings", "--workspace", ws.slug, stdout=listed)
    assert "acme\tgroups=eng\tgroup Builders" in listed.getvalue()
    with pytest.raises(CommandError, match="group"):
        call_command(
            "groups", "map", str(theirs.pk), "--workspace", ws.slug, "--provider", "acme", "--value", "x"
        )
    with pytest.raises(CommandError, match="not found"):
        call_command("groups", "unmap", str(theirs_mapping.pk), "--workspace", ws.slug)
    mapping_id = listed.getvalue().split("\t")[0]
    call_command("groups", "unmap", mapping_id, "--workspace", ws.slug, stdout=io.StringIO())
    assert not GroupClaimMapping.objects.filter(workspace=ws).exists()
    assert GroupClaimMapping.objects.filter(workspace=other).count() == 1

    made_events = events("group_mapping.created")
    assert [e.details["value"] for e in made_events if e.workspace_id == ws.id] == ["eng", "money", "eng"]
    assert len([e for e in events("group_mapping.deleted") if e.workspace_id == ws.id]) == 3
