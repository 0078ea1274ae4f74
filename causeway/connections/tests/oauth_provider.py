"""A real OAuth 2.0 provider for tests, built on Authlib's server side, served over HTTP on 127.0.0.1.

- `/authorize`: the authorization endpoint (code grant, PKCE S256 required). GET shows a consent page
  with Allow and Deny buttons, as a provider's sign-in page would; the POST answers with the redirect
  back to the client (a code, or `error=access_denied`).
- `/token`: authorization code, refresh token (rotating: every refresh gives a new refresh token and
  spends the old one; presenting a spent one revokes the whole grant, as OAuth 2.0 Security BCP says),
  and client credentials; clients authenticate with HTTP Basic.
- `/revoke`: RFC 7009 revocation.
- `/{tenant}/oauth2/v2.0/authorize` and `/{tenant}/oauth2/v2.0/token`: the same endpoints where Microsoft's
  identity platform has them, each tenant named in the path kept in `tenants`.
- `/api/...`: a protected resource: 200 and a JSON echo for a live bearer token, 401 otherwise.

What it issued, refreshed and revoked is kept for the test to look at. `hold` lets a test keep resource
answers waiting on a condition (both workers mid-run), `expire_all` end every access token early, and
`token_answer` replace the token endpoint's answer with garbage or an error.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge

CLIENT_ID = "causeway-test-client"
# Microsoft's identity platform: the tenant is the first segment of its endpoints' paths.
TENANTED = re.compile(r"^/([A-Za-z0-9.-]+)/oauth2/v2\.0/(authorize|token)$")
USER = "pat@provider.example"


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    scope: str = "read write"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0] if self.redirect_uris else ""

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact match, as RFC 9700 asks: no prefix or pattern matching.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token", "client_credentials")


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str
    code_challenge_method: str

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class Token:
    access_token: str
    refresh_token: str | None
    client_id: str
    scope: str
    user: str
    expires_in: int
    # Tokens issued from one sign-in share a family: reusing a spent refresh token revokes it whole.
    family: str
    issued_at: float = field(default_factory=time.time)
    revoked: bool = False
    refresh_spent: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return self.user

    def get_client(self) -> Client:
        raise NotImplementedError


class _Payload(BasicOAuth2Payload):
    pass


class _Request(OAuth2Request):
    def __init__(self, method: str, uri: str, headers: dict[str, str], form: dict[str, str]) -> None:
        super().__init__(method, uri, headers=headers)
        query = dict(parse_qsl(urlsplit(uri).query, keep_blank_values=True))
        self._args = query
        self._form = form
        self.payload = _Payload({**query, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class Provider(AuthorizationServer):  # type: ignore[misc]  # Authlib has no type hints
    def __init__(
        self, *, client_secret: str, redirect_uris: list[str], scopes: tuple[str, ...] = ("read", "write")
    ) -> None:
        super().__init__(scopes_supported=list(scopes))
        self.lock = threading.RLock()
        self.client = Client(CLIENT_ID, client_secret, redirect_uris, scope=" ".join(scopes))
        self.tenants: list[str] = []
        # Fields a provider adds to its token answers (Salesforce's instance_url).
        self.token_extra: dict[str, Any] = {}
        # The query of each authorization request, as the browser brought it.
        self.authorize_queries: list[dict[str, str]] = []
        self.codes: dict[str, Code] = {}
        self.tokens: list[Token] = []
        self.expires_in = 3600
        self.refreshes = 0
        self.reused_refresh_tokens = 0
        self.revocations: list[tuple[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.resource_calls: list[tuple[str, int]] = []
        self.token_answer: Callable[[dict[str, str]], tuple[int, Any] | None] | None = None
        # Resource requests wait until hold(path) is true (both workers mid-run, say); bounded at 60 s.
        self.hold: Callable[[str], bool] | None = None
        self.arrivals: list[str] = []
        self._pending_family: str = ""
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: "at-" + secrets.token_urlsafe(24),
                refresh_token_generator=lambda **_: "rt-" + secrets.token_urlsafe(24),
                expires_generator=lambda client, grant_type: self.expires_in,
            ),
        )
        self.register_grant(_CodeGrant, [CodeChallenge(required=True)])
        self.register_grant(_RefreshGrant)
        self.register_grant(grants.ClientCredentialsGrant)
        self.register_endpoint(_Revocation)

    # What Authlib asks of a server.
    def query_client(self, client_id: str) -> Client | None:
        return self.client if client_id == self.client.client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        family = self._pending_family or secrets.token_hex(8)
        self._pending_family = ""
        token.update(self.token_extra)
        self.tokens.append(
            Token(
                access_token=token["access_token"],
                refresh_token=token.get("refresh_token"),
                client_id=request.client.client_id,
                scope=token.get("scope", ""),
                user=USER,
                expires_in=int(token.get("expires_in", self.expires_in)),
                family=family,
            )
        )

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, dict[str, str]]:
        return status, body, dict(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    # What tests look at.
    def token_for(self, access_token: str) -> Token | None:
        with self.lock:
            return next((t for t in self.tokens if t.access_token == access_token), None)

    def expire_all(self) -> None:
        """Every access token issued so far expires now, whatever its holder believes."""
        with self.lock:
            for token in self.tokens:
                token.expires_in = 0

    def live(self, access_token: str) -> bool:
        found = self.token_for(access_token)
        return found is not None and not found.revoked and not found.is_expired()


class _CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        provider: Provider = self.server
        provider.codes[code] = Code(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.payload.scope or "",
            user=USER,
            code_challenge=request.payload.data.get("code_challenge", ""),
            code_challenge_method=request.payload.data.get("code_challenge_method", ""),
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found = self.server.codes.get(code)
        return found if found is not None and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.server.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> str:
        return authorization_code.user


class _RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        provider: Provider = self.server
        found = next((t for t in provider.tokens if t.refresh_token == refresh_token), None)
        if found is None or found.revoked:
            return None
        if found.refresh_spent:
            # A spent refresh token presented again: someone holds a copy. The whole grant ends.
            provider.reused_refresh_tokens += 1
            for token in provider.tokens:
                if token.family == found.family:
                    token.revoked = True
            return None
        return found

    def authenticate_user(self, refresh_token: Token) -> str:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: Token) -> None:
        provider: Provider = self.server
        refresh_token.refresh_spent = True
        refresh_token.revoked = True
        provider.refreshes += 1

    def issue_token(self, user: str, refresh_token: Token) -> dict[str, Any]:
        self.server._pending_family = refresh_token.family
        return super().issue_token(user, refresh_token)  # type: ignore[no-any-return]


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        provider: Provider = self.server
        for token in provider.tokens:
            if token_string in (token.access_token, token.refresh_token):
                return token
        return None

    def revoke_token(self, token: Token, request: OAuth2Request) -> None:
        provider: Provider = self.server
        for each in provider.tokens:
            if each.family == token.family:
                each.revoked = True
        provider.revocations.append((request.form.get("token_type_hint") or "", token.family))


CONSENT = """<!doctype html><html><head><title>Provider sign-in</title></head><body>
<h1>Allow Causeway to use your account?</h1><p>It asks for: <span id="scopes">{scopes}</span></p>
<form method="post" action="{path}?{query}">
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button></form></body></html>"""


def _handler(provider: Provider, base: Callable[[], str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _path(self) -> str:
            path = urlsplit(self.path).path
            tenanted = TENANTED.match(path)
            if tenanted is None:
                return path
            with provider.lock:
                provider.tenants.append(tenanted.group(1))
            return "/" + tenanted.group(2)

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            return dict(parse_qsl(raw, keep_blank_values=True))

        def _request(self, form: dict[str, str]) -> _Request:
            headers = {k: v for k, v in self.headers.items()}
            return _Request(self.command, base() + self.path, headers, form)

        def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            if isinstance(body, str):
                payload, kind = body.encode(), "text/html; charset=utf-8"
            else:
                payload, kind = json.dumps(body).encode(), "application/json"
            self.send_response(status)
            for name, value in {"Content-Type": kind, **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _reply(self, result: tuple[int, Any, dict[str, str]]) -> None:
            status, body, headers = result
            self._answer(status, body if body is not None else {}, headers)

        def do_GET(self) -> None:
            path = self._path()
            if path == "/authorize":
                with provider.lock:
                    provider.authorize_queries.append(dict(parse_qsl(urlsplit(self.path).query)))
                    request = self._request({})
                    try:
                        provider.get_consent_grant(request)
                    except Exception as exc:  # an invalid request is shown, never redirected
                        self._answer(400, f"<p id='error'>{html.escape(str(exc))}</p>")
                        return
                query = urlsplit(self.path).query
                scopes = html.escape(request.payload.scope or "")
                shown = CONSENT.format(
                    path=html.escape(urlsplit(self.path).path), scopes=scopes, query=html.escape(query)
                )
                self._answer(200, shown)
                return
            if path.startswith("/api/"):
                self._resource()
                return
            self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            path = self._path()
            form = self._form()
            if path.startswith("/api/"):
                self._resource()
                return
            with provider.lock:
                if path == "/authorize":
                    request = self._request({k: v for k, v in form.items() if k != "decision"})
                    grant = provider.get_consent_grant(request)
                    user = USER if form.get("decision") == "allow" else None
                    self._reply(provider.create_authorization_response(request, grant_user=user, grant=grant))
                    return
                if path == "/token":
                    provider.token_requests.append(dict(form))
                    override = provider.token_answer(form) if provider.token_answer else None
                    if override is not None:
                        status, body = override
                        self._answer(status, body)
                        return
                    self._reply(provider.create_token_response(self._request(form)))
                    return
                if path == "/revoke":
                    result = provider.create_endpoint_response("revocation", self._request(form))
                    self._reply(result)
                    return
            self._answer(404, {"error": "not_found"})

        def do_PUT(self) -> None:
            self._form()
            self._resource()

        do_PATCH = do_DELETE = do_PUT

        def _resource(self) -> None:
            auth = self.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else ""
            # Judged on arrival: a token live when the request came is honoured even if held.
            live = provider.live(token)
            with provider.lock:
                provider.arrivals.append(self.path)
            if provider.hold is not None:
                deadline = time.monotonic() + 60
                while not provider.hold(self.path) and time.monotonic() < deadline:
                    time.sleep(0.02)
            with provider.lock:
                provider.resource_calls.append((token, 200 if live else 401))
            if not live:
                self._answer(
                    401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                )
                return
            # A careless API that repeats the credentials it was sent.
            self._answer(200, {"user": USER, "path": self.path, "you_sent": auth})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@dataclass
class RunningProvider:
    provider: Provider
    url: str

    def endpoints(self) -> dict[str, str]:
        return {
            "authorize_url": f"{self.url}/authorize",
            "token_url": f"{self.url}/token",
            "revoke_url": f"{self.url}/revoke",
        }


@contextmanager
def oauth_provider(
    *, client_secret: str, redirect_uris: list[str], scopes: tuple[str, ...] = ("read", "write")
) -> Iterator[RunningProvider]:
    """An Authlib authorization server and resource server on a free local port, for one test."""
    provider = Provider(client_secret=client_secret, redirect_uris=redirect_uris, scopes=scopes)
    address: dict[str, str] = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider, lambda: address["base"]))
    address["base"] = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield RunningProvider(provider, address["base"])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
