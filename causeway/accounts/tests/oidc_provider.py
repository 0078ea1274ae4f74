"""A real OpenID Connect provider for tests, built on Authlib's server side (the authorization code grant
with PKCE and its OpenID Connect extension), served over HTTP on 127.0.0.1 with its own RSA signing key.

- `/.well-known/openid-configuration`: the discovery document (`discovery_changes` replace its fields);
  `/jwks`: the public signing key. Each read is counted in `documents_read`.
- `/authorize`: GET shows a sign-in page with Allow and Deny buttons, as a provider's would; the POST
  answers with the redirect back to the client (a code, or `error=access_denied`). A nonce is required.
- `/token`: the code exchange (client authentication with HTTP Basic, PKCE S256 required); its answer
  carries an ID token signed with the provider's key, with the person's claims (`person`).

`misbehave` makes the ID token wrong in one way, as a broken or hostile provider's would be: another
audience, expired, another nonce, another issuer, unsigned (`alg: none`), a tampered signature, or
signed by a key that is not the provider's.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "causeway-sso-client"
MISBEHAVIOURS = ("audience", "expired", "nonce", "issuer", "unsigned", "tampered", "other_key")


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0] if self.redirect_uris else ""

    def get_allowed_scope(self, scope: str) -> str:
        allowed = {"openid", "email", "profile", "groups"}
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    person: dict[str, Any]
    nonce: str
    code_challenge: str
    code_challenge_method: str
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class _Request(OAuth2Request):
    def __init__(self, method: str, uri: str, headers: dict[str, str], form: dict[str, str]) -> None:
        super().__init__(method, uri, headers=headers)
        query = dict(parse_qsl(urlsplit(uri).query, keep_blank_values=True))
        self._args = query
        self._form = form
        self.payload = BasicOAuth2Payload({**query, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims_of(id_token: str) -> dict[str, Any]:
    payload = id_token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


class Provider(AuthorizationServer):  # type: ignore[misc]  # Authlib has no type hints
    def __init__(self, *, client_secret: str) -> None:
        super().__init__(scopes_supported=["openid", "email", "profile", "groups"])
        self.lock = threading.RLock()
        self.issuer = ""
        self.client = Client(CLIENT_ID, client_secret, [])
        self.key = RSAKey.generate_key(2048, parameters={"kid": "provider-key-1", "use": "sig"})
        self.person: dict[str, Any] = {
            "sub": "u-1001",
            "email": "grace@example.com",
            "email_verified": True,
            "given_name": "Grace",
            "family_name": "Hopper",
        }
        self.misbehave = ""
        self.codes: dict[str, Code] = {}
        self.authorize_queries: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        # What the discovery document and the JWKS were asked, in order; and changes to the document.
        self.documents_read: list[str] = []
        self.discovery_changes: dict[str, Any] = {}
        self.id_tokens: list[str] = []
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: "at-" + secrets.token_urlsafe(24),
                expires_generator=lambda client, grant_type: 3600,
            ),
        )
        self.register_grant(_CodeGrant, [CodeChallenge(required=True), _OpenIDCode(require_nonce=True)])

    def query_client(self, client_id: str) -> Client | None:
        return self.client if client_id == self.client.client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        pass

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, dict[str, str]]:
        return status, body, dict(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        return jwt.encode({"alg": "RS256", "kid": "provider-key-1"}, claims, key or self.key)

    def spoil(self, id_token: str) -> str:
        """The ID token made wrong in the way `misbehave` names (or as it is)."""
        claims = _claims_of(id_token)
        now = int(time.time())
        if self.misbehave == "audience":
            return self.sign({**claims, "aud": ["someone-else"]})
        if self.misbehave == "expired":
            return self.sign({**claims, "iat": now - 7200, "exp": now - 3600})
        if self.misbehave == "nonce":
            return self.sign({**claims, "nonce": "not-the-nonce-that-was-sent"})
        if self.misbehave == "issuer":
            return self.sign({**claims, "iss": "https://impostor.example"})
        if self.misbehave == "unsigned":
            header = _b64(json.dumps({"alg": "none"}).encode())
            return f"{header}.{_b64(json.dumps(claims).encode())}."
        if self.misbehave == "tampered":
            head, _, signature = id_token.rpartition(".")
            forged = _b64(json.dumps({**claims, "email": "admin@example.com"}).encode())
            return f"{head.split('.')[0]}.{forged}.{signature}"
        if self.misbehave == "other_key":
            return self.sign(claims, RSAKey.generate_key(2048))
        return id_token


class _OpenIDCode(OpenIDCode):  # type: ignore[misc]
    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.server.key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": "provider-key-1"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": self.server.issuer, "aud": [client.get_client_id()]}

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return any(code.nonce == nonce for code in self.server.codes.values())

    def generate_user_info(self, user: dict[str, Any], scope: str) -> dict[str, Any]:
        return dict(user)

    def __call__(self, grant: Any) -> None:
        self.server = grant.server
        super().__call__(grant)


class _CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        provider: Provider = self.server
        data = request.payload.data
        provider.codes[code] = Code(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.payload.scope or "",
            person=dict(request.user),
            nonce=data.get("nonce", ""),
            code_challenge=data.get("code_challenge", ""),
            code_challenge_method=data.get("code_challenge_method", ""),
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found = self.server.codes.get(code)
        return found if found is not None and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.server.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> dict[str, Any]:
        return authorization_code.person


SIGN_IN = """<!doctype html><html><head><title>Provider sign-in</title></head><body>
<h1>Sign in to Causeway as <span id="person">{email}</span>?</h1>
<form method="post" action="/authorize?{query}">
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button></form></body></html>"""


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            return dict(parse_qsl(raw, keep_blank_values=True))

        def _request(self, form: dict[str, str]) -> _Request:
            headers = {k: v for k, v in self.headers.items()}
            return _Request(self.command, provider.issuer + self.path, headers, form)

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

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/.well-known/openid-configuration":
                provider.documents_read.append(path)
                self._answer(200, {**provider.discovery(), **provider.discovery_changes})
            elif path == "/jwks":
                provider.documents_read.append(path)
                self._answer(200, provider.jwks())
            elif path == "/authorize":
                with provider.lock:
                    provider.authorize_queries.append(dict(parse_qsl(urlsplit(self.path).query)))
                    request = self._request({})
                    try:
                        provider.get_consent_grant(request, end_user=provider.person)
                    except Exception as exc:  # an invalid request is shown, never redirected
                        self._answer(400, f"<p id='error'>{html.escape(str(exc))}</p>")
                        return
                query = html.escape(urlsplit(self.path).query)
                self._answer(
                    200, SIGN_IN.format(email=html.escape(str(provider.person.get("email"))), query=query)
                )
            else:
                self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            form = self._form()
            with provider.lock:
                if path == "/authorize":
                    request = self._request({k: v for k, v in form.items() if k != "decision"})
                    grant = provider.get_consent_grant(request, end_user=provider.person)
                    user = dict(provider.person) if form.get("decision") == "allow" else None
                    status, body, headers = provider.create_authorization_response(
                        request, grant_user=user, grant=grant
                    )
                    self._answer(status, body or {}, headers)
                    return
                if path == "/token":
                    provider.token_requests.append(dict(form))
                    status, body, headers = provider.create_token_response(self._request(form))
                    if isinstance(body, dict) and "id_token" in body:
                        body["id_token"] = provider.spoil(body["id_token"])
                        provider.id_tokens.append(body["id_token"])
                    self._answer(status, body, headers)
                    return
            self._answer(404, {"error": "not_found"})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@dataclass
class RunningProvider:
    provider: Provider
    url: str


@contextmanager
def oidc_provider(*, client_secret: str) -> Iterator[RunningProvider]:
    """An OpenID Connect provider on a free local port, for one test; its issuer is its base URL."""
    provider = Provider(client_secret=client_secret)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.issuer = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield RunningProvider(provider, provider.issuer)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def follow_sign_in(authorize_url: str, *, decision: str = "allow") -> str:
    """What a person does at the provider: open its sign-in page, press Allow (or Deny). Returns the
    address the provider sends the browser back to."""
    with httpx.Client(timeout=10.0, follow_redirects=False) as http:
        shown = http.get(authorize_url)
        if shown.status_code != 200:
            raise AssertionError(f"the provider refused the sign-in request: {shown.text}")
        answer = http.post(authorize_url, data={"decision": decision})
    if answer.status_code != 302:
        raise AssertionError(f"the provider did not redirect back: {answer.status_code} {answer.text}")
    return str(answer.headers["Location"])
