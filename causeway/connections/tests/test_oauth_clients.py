"""Which OAuth client a connection signs in with: a workspace's profile, else the installation's built-in
client for the connector (`CAUSEWAY_OAUTH_CLIENTS` or its `_FILE`), else a refusal saying what to do;
and the built-in clients' setting refused by name when malformed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from causeway.config import env_oauth_clients
from causeway.connections import oauth_profiles
from causeway.connections.connectors import http
from causeway.connections.oauth_client import NoClient, client_for
from causeway.connections.sdk import OAUTH2_CODE, Connector, OAuth, Scope
from testkit.personas import cast

TRACKER = Connector(
    key="tracker",
    name="Tracker",
    description="A provider with its own endpoints.",
    icon="<svg/>",
    auth_methods=(OAUTH2_CODE,),
    scopes=(Scope("tasks", "Your tasks."),),
    actions=(),
    test=http.connector.test,
    oauth=OAuth(
        authorize_url="https://tracker.example.com/authorize",
        token_url="https://tracker.example.com/token",
        revoke_url="https://tracker.example.com/revoke",
        authorize_params=(("access_type", "offline"),),
    ),
)


@pytest.mark.django_db
def test_the_built_in_client_is_used_unless_a_profile_replaces_it() -> None:
    acme = cast("admin")
    workspace = acme.workspace
    with pytest.raises(NoClient, match="no built-in OAuth client in this installation: an Admin adds"):
        client_for(workspace, TRACKER, None)
    with override_settings(OAUTH_CLIENTS={"tracker": {"client_id": "inst", "client_secret": "inst-secret"}}):
        built_in = client_for(workspace, TRACKER, None)
    assert (built_in.client_id, built_in.token_url, built_in.profile) == (
        "inst",
        "https://tracker.example.com/token",
        None,
    )
    assert built_in.authorize_params == (("access_type", "offline"),)
    profile = oauth_profiles.oauth_profile_create(
        actor=acme.people()["admin"],
        workspace=workspace,
        connector_key="oauth2",
        display_name="Ours",
        client_id="ours",
        client_secret="ours-secret",
        authorize_url="https://id.example.com/authorize",
        token_url="https://id.example.com/token",
    )
    # A profile is for one connector of one workspace: another connector's is refused.
    with pytest.raises(NoClient, match="not one of this workspace's Tracker profiles"):
        client_for(workspace, TRACKER, profile)


def test_a_connector_declaring_oauth_without_endpoints_or_over_http_is_refused() -> None:
    assert TRACKER.problems() == []
    plain = Connector(**{**TRACKER.__dict__, "oauth": None})
    assert "an OAuth 2.0 auth method needs the connector's oauth endpoints" in plain.problems()
    insecure = Connector(**{**TRACKER.__dict__, "oauth": OAuth(token_url="http://tracker.example.com/token")})
    assert "oauth.token_url must be an https:// URL" in insecure.problems()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("{not json", "CAUSEWAY_OAUTH_CLIENTS: not JSON"),
        ('["a"]', "expected an object of connector keys"),
        ('{"tracker": {"client_secret": "s"}}', "tracker: expected {client_id, client_secret}"),
        ('{"tracker": {"client_id": "i", "scope": "x"}}', "tracker: expected {client_id, client_secret}"),
    ],
)
def test_a_malformed_built_in_clients_setting_is_refused_by_name(
    monkeypatch: Any, tmp_path: Path, text: str, named: str
) -> None:
    given = tmp_path / "clients.json"
    given.write_text(text)
    monkeypatch.setenv("CAUSEWAY_OAUTH_CLIENTS_FILE", str(given))
    with pytest.raises(ImproperlyConfigured, match=named.replace("{", r"\{").replace("}", r"\}")):
        env_oauth_clients("CAUSEWAY_OAUTH_CLIENTS")


def test_the_built_in_clients_setting_is_read_from_its_file(monkeypatch: Any, tmp_path: Path) -> None:
    given = tmp_path / "clients.json"
    given.write_text('{"tracker": {"client_id": "i", "client_secret": "s"}}\n')
    monkeypatch.setenv("CAUSEWAY_OAUTH_CLIENTS_FILE", str(given))
    assert env_oauth_clients("CAUSEWAY_OAUTH_CLIENTS") == {
        "tracker": {"client_id": "i", "client_secret": "s"}
    }
    monkeypatch.delenv("CAUSEWAY_OAUTH_CLIENTS_FILE")
    monkeypatch.delenv("CAUSEWAY_OAUTH_CLIENTS", raising=False)
    assert env_oauth_clients("CAUSEWAY_OAUTH_CLIENTS") == {}
