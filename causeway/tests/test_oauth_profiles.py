"""OAuth profiles: a workspace's own OAuth client, managed by Admins through the page, the API and the
command line (one service), audited, its client secret sealed and never shown again; a profile replaces
the connector's built-in client when a member signs in through it."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from causeway.audit.models import AuditEvent
from causeway.connections import oauth_profiles
from causeway.connections import services as connections
from causeway.connections.models import OAuthProfile
from causeway.workspaces.tokens import token_create
from testkit.personas import cast
from testkit.support import https_client

pytestmark = pytest.mark.django_db

SECRET = "prof-secret-9b1e55d2c7"
ENDPOINTS = {
    "authorize_url": "https://id.example.com/oauth/authorize",
    "token_url": "https://id.example.com/oauth/token",
    "revoke_url": "https://id.example.com/oauth/revoke",
}


@pytest.fixture
def acme() -> Any:
    made = cast()
    connections.connector_enable(
        actor=made.people()["admin"], workspace=made.workspace, key="oauth2", enabled=True
    )
    return made


def _api(user: Any) -> dict[str, str]:
    _, token = token_create(actor=user, name="t", expires_in_days=1)
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_an_admin_manages_a_profile_through_the_api_and_its_secret_never_comes_back(acme: Any) -> None:
    admin, analyst = acme.people()["admin"], acme.people()["analyst"]
    client = https_client()
    base = f"/api/v1/workspaces/{acme.workspace.id}/oauth-profiles"
    body = {
        "connector": "oauth2",
        "display_name": "Our IdP",
        "client_id": "cid-1",
        "client_secret": SECRET,
        "default_scopes": ["read"],
        **ENDPOINTS,
    }
    created = client.post(base, json.dumps(body), content_type="application/json", **_api(admin))
    assert created.status_code == 201, created.content
    answer = created.json()
    assert answer["client_secret_set"] is True and SECRET not in created.content.decode()
    assert answer["redirect_uri"].endswith(f"/w/{acme.workspace.slug}/oauth/callback")
    profile = OAuthProfile.objects.get(pk=answer["id"])
    assert profile.client_secret == SECRET
    # Members read it, never its secret; they may not change it.
    listed = client.get(base, **_api(analyst))
    assert listed.status_code == 200 and SECRET not in listed.content.decode()
    refused = client.patch(
        f"{base}/{profile.id}",
        json.dumps({"display_name": "Mine"}),
        content_type="application/json",
        **_api(analyst),
    )
    assert refused.status_code == 403
    # Bad input is named and nothing is written.
    bad = client.post(
        base,
        json.dumps({**body, "display_name": "Two", "token_url": "ftp://x"}),
        content_type="application/json",
        **_api(admin),
    )
    assert bad.status_code == 400 and "token_url" in bad.content.decode()
    bad = client.post(
        base,
        json.dumps({**body, "display_name": "Two", "default_scopes": ["admin"]}),
        content_type="application/json",
        **_api(admin),
    )
    assert bad.status_code == 400 and "offers no scope admin" in bad.content.decode()
    bad = client.post(
        base, json.dumps({**body, "connector": "http"}), content_type="application/json", **_api(admin)
    )
    assert bad.status_code == 400 and "does not sign in with OAuth 2.0" in bad.content.decode()
    assert OAuthProfile.objects.count() == 1
    changed = client.patch(
        f"{base}/{profile.id}",
        json.dumps({"client_secret": "new-" + SECRET}),
        content_type="application/json",
        **_api(admin),
    )
    assert changed.status_code == 200 and SECRET not in changed.content.decode()
    assert OAuthProfile.objects.get(pk=profile.id).client_secret == "new-" + SECRET
    assert client.delete(f"{base}/{profile.id}", **_api(admin)).status_code == 204
    actions = list(
        AuditEvent.objects.filter(action__startswith="oauth_profile.")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == ["oauth_profile.created", "oauth_profile.changed", "oauth_profile.deleted"]
    for event in AuditEvent.objects.filter(action__startswith="oauth_profile."):
        assert SECRET not in json.dumps(event.details)


def test_another_workspaces_admin_cannot_see_or_change_a_profile(acme: Any) -> None:
    admin = acme.people()["admin"]
    profile = oauth_profiles.oauth_profile_create(
        actor=admin,
        workspace=acme.workspace,
        connector_key="oauth2",
        display_name="IdP",
        client_id="c",
        client_secret=SECRET,
        **ENDPOINTS,
    )
    # The outsider is the Admin of another workspace.
    other, stranger = acme.other, acme.people()["outsider"]
    client = https_client()
    for method in ("get", "patch", "delete"):
        answer = getattr(client, method)(
            f"/api/v1/workspaces/{other.id}/oauth-profiles/{profile.id}",
            **({"data": "{}", "content_type": "application/json"} if method == "patch" else {}),
            **_api(stranger),
        )
        assert answer.status_code == 404, (method, answer.content)
    assert OAuthProfile.objects.get(pk=profile.id).display_name == "IdP"


def test_the_page_creates_a_profile_and_shows_its_secret_masked(acme: Any) -> None:
    admin = acme.people()["admin"]
    client = https_client()
    client.force_login(admin)
    slug = acme.workspace.slug
    answer = client.post(
        f"/w/{slug}/oauth-profiles",
        {
            "connector": "oauth2",
            "display_name": "IdP",
            "client_id": "cid",
            "client_secret": SECRET,
            **ENDPOINTS,
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:1500]
    page = client.get(answer["Location"]).content.decode()
    assert "••••••••" in page and SECRET not in page
    bad = client.post(
        f"/w/{slug}/oauth-profiles",
        {
            "connector": "oauth2",
            "display_name": "IdP",
            "client_id": "cid",
            "client_secret": SECRET,
            **ENDPOINTS,
        },
    )
    assert bad.status_code == 400 and "display_name" in bad.content.decode()
    assert SECRET not in bad.content.decode()
    analyst = https_client()
    analyst.force_login(acme.people()["analyst"])
    assert analyst.post(f"/w/{slug}/oauth-profiles", {"connector": "oauth2"}).status_code == 403


def test_the_command_line_creates_lists_and_deletes_a_profile(acme: Any, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    out = StringIO()
    call_command(
        "oauth-profiles",
        "create",
        "--workspace",
        "acme",
        "--connector",
        "oauth2",
        "--name",
        "IdP",
        "--client-id",
        "cid",
        "--client-secret-file",
        str(secret_file),
        "--scopes",
        "read",
        *[f"--{k.replace('_', '-')}={v}" for k, v in ENDPOINTS.items()],
        stdout=out,
    )
    profile = OAuthProfile.objects.get()
    assert f"({profile.id})" in out.getvalue() and profile.client_secret == SECRET
    assert profile.default_scopes == ["read"]
    listed = StringIO()
    call_command("oauth-profiles", "list", "--workspace", "acme", stdout=listed)
    assert "IdP" in listed.getvalue() and SECRET not in listed.getvalue()
    with pytest.raises(CommandError, match="token_url"):
        call_command(
            "oauth-profiles", "update", "--workspace", "acme", str(profile.id), "--token-url", "nope"
        )
    call_command("oauth-profiles", "delete", "--workspace", "acme", str(profile.id), stdout=StringIO())
    assert not OAuthProfile.objects.exists()
