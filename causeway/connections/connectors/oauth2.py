"""OAuth 2.0 API: any JSON API under one base URL that accepts OAuth 2.0 bearer tokens.

A person signs in at the provider (authorization code with PKCE) through a workspace's OAuth profile,
which names the provider's authorize, token and revocation endpoints and the client registered there;
or a machine connects with its own client id and secret (client credentials), fetching tokens from the
token endpoint its settings name. The provider's scopes `read` and `write` are offered; `read` covers GET,
`write` POST, PUT, PATCH and DELETE, as for the HTTP/REST connector, whose actions these are.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from causeway.connections.connectors import http
from causeway.connections.sdk import OAUTH2_CLIENT, OAUTH2_CODE, Connector, OAuth, Scope


class Settings(http.Settings):
    token_url: str = Field(
        default="",
        title="Token endpoint (client credentials)",
        description="where a client-credentials connection fetches tokens (sign-in uses the profile's)",
    )

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str) -> str:
        return http.base_url(value) if value.strip() else ""


ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" fill="none" '
    'stroke="currentColor" stroke-width="2"><circle cx="8" cy="15" r="4"/>'
    '<path d="M11 12l9-9M17 6l3 3M15 8l2 2"/></svg>'
)

connector = Connector(
    key="oauth2",
    name="OAuth 2.0 API",
    description="Any HTTP API that signs in with OAuth 2.0, through your workspace's OAuth profile.",
    icon=ICON,
    auth_methods=(OAUTH2_CODE, OAUTH2_CLIENT),
    settings=Settings,
    scopes=(
        Scope("read", "Read your data: send GET requests under the base URL."),
        Scope("write", "Change your data: send POST, PUT, PATCH and DELETE requests under the base URL."),
    ),
    actions=http.connector.actions,
    test=http.connector.test,
    oauth=OAuth(),
)
