"""Transport security of a real `causeway web` process: TLS and HTTP versions, headers, cookies, CSRF."""

from __future__ import annotations

import re
import socket
import ssl
import threading
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from causeway.vault.tls import create_self_signed_certificate
from testkit.support import STRONG_PASSWORD, TEST_HOME, make_user

pytestmark = pytest.mark.server


@pytest.fixture(autouse=True)
def _test_database(transactional_db: None) -> None:
    """The server shares the test database, which pytest-django creates only for tests that ask for one.

    Transactional, so that users made here are committed where the server process can see them.
    """


SERVER_CERT = TEST_HOME / "tls" / "localhost.crt"
LEGACY = [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1]
CURRENT = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]
VERSION_NAMES = {
    ssl.TLSVersion.TLSv1: "TLSv1",
    ssl.TLSVersion.TLSv1_1: "TLSv1.1",
    ssl.TLSVersion.TLSv1_2: "TLSv1.2",
    ssl.TLSVersion.TLSv1_3: "TLSv1.3",
}


def _pin_versions(context: ssl.SSLContext, lowest: ssl.TLSVersion, highest: ssl.TLSVersion) -> None:
    # Naming TLS 1.0 and 1.1 is deprecated in Python itself; these probes exist to name them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = lowest
        context.maximum_version = highest


def probe_context(version: ssl.TLSVersion, *, trust: Path) -> ssl.SSLContext:
    """A client that speaks exactly one TLS version, and that OpenSSL lets offer the legacy ones."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(trust))
    _pin_versions(context, version, version)
    # Debian's OpenSSL offers no cipher at all for TLS 1.0/1.1 at its default security level,
    # so without this the probe would fail on its own side and prove nothing about the server.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def handshake(port: int, version: ssl.TLSVersion, *, trust: Path) -> str | None:
    """The version negotiated with the listener on port, or None when the handshake is refused."""
    context = probe_context(version, trust=trust)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                return tls.version()
        except (ssl.SSLError, ConnectionResetError):
            return None


class LegacyTlsServer:
    """A deliberately weak local TLS server (TLS 1.0 and 1.1 only): the probe's positive control."""

    def __init__(self, directory: Path) -> None:
        self.cert = directory / "legacy.crt"
        key = directory / "legacy.key"
        create_self_signed_certificate(self.cert, key)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        _pin_versions(self.context, ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)
        self.context.set_ciphers("DEFAULT:@SECLEVEL=0")
        self.context.load_cert_chain(certfile=str(self.cert), keyfile=str(key))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed: the test is over
            try:
                with self.context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                connection.close()

    def close(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


@pytest.fixture
def legacy_server(tmp_path: Path) -> Iterator[LegacyTlsServer]:
    server = LegacyTlsServer(tmp_path)
    yield server
    server.close()


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


@pytest.mark.parametrize("version", LEGACY, ids=lambda v: VERSION_NAMES[v])
def test_rule_18_legacy_tls_refused_by_the_server_yet_reached_by_the_same_probe_elsewhere(
    https_server: Any, legacy_server: LegacyTlsServer, version: ssl.TLSVersion
) -> None:
    # Positive control: the very probe completes a legacy handshake with a server that allows it.
    assert handshake(legacy_server.port, version, trust=legacy_server.cert) == VERSION_NAMES[version]
    assert handshake(_port(https_server.url), version, trust=SERVER_CERT) is None


@pytest.mark.parametrize("version", CURRENT, ids=lambda v: VERSION_NAMES[v])
def test_rule_18_tls_1_2_and_1_3_accepted(https_server: Any, version: ssl.TLSVersion) -> None:
    assert handshake(_port(https_server.url), version, trust=SERVER_CERT) == VERSION_NAMES[version]


def test_rule_18_plain_http_on_the_tls_port_gets_no_page(https_server: Any) -> None:
    with socket.create_connection(("127.0.0.1", _port(https_server.url)), timeout=10) as raw:
        raw.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = _read_all(raw)
    assert b'"status"' not in answer


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("http_version", ["HTTP/1.0", "HTTP/1.1"])
def test_rule_18_http_1_0_and_1_1_clients_are_served(https_server: Any, http_version: str) -> None:
    port = _port(https_server.url)
    context = ssl.create_default_context(cafile=str(SERVER_CERT))
    request = f"GET /health {http_version}\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(request.encode())
        answer = _read_all(tls)
    status_line, _, rest = answer.partition(b"\r\n")
    assert re.fullmatch(rb"HTTP/1\.[01] 200 OK", status_line), status_line
    assert b"strict-transport-security: max-age=31536000" in rest.lower()
    assert rest.endswith(b'{"status": "ok"}')


def _cookie_attributes(set_cookie: str) -> tuple[str, set[str]]:
    name = set_cookie.split("=", 1)[0]
    attributes = {part.strip().lower() for part in set_cookie.split(";")[1:]}
    return name, attributes


def _set_cookies(response: httpx.Response) -> dict[str, set[str]]:
    return dict(_cookie_attributes(value) for value in response.headers.get_list("set-cookie"))


def _csrf_token(page: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def _browser(url: str) -> httpx.Client:
    """A client that behaves like a browser on Causeway's origin (it sends Origin on every request)."""
    return httpx.Client(
        base_url=url,
        verify=ssl.create_default_context(cafile=str(SERVER_CERT)),
        headers={"Origin": url},
        follow_redirects=False,
        timeout=30,
    )


def test_rule_18_security_headers_on_every_answer(https_server: Any) -> None:
    with _browser(https_server.url) as browser:
        answers = [browser.get(path) for path in ("/login", "/health", "/api/v1/health", "/no-such-page")]
        # A webhook call takes a shorter way through the middleware, with the same headers.
        answers.append(browser.post("/hooks/" + "C" * 43, content=b"{}"))
        for answer in answers:
            headers = answer.headers
            assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "same-origin"
            assert headers["x-frame-options"] == "DENY"
            policy = headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy
            assert "default-src 'self'" in policy
            assert "object-src 'none'" in policy


def test_no_answer_names_the_server_software(https_server: Any) -> None:
    with _browser(https_server.url) as browser:
        answers = [browser.get(path) for path in ("/login", "/health", "/api/v1/health", "/no-such-page")]
        answers.append(browser.post("/hooks/" + "C" * 43, content=b"{}"))
        answers.append(browser.get("/api/v1/me", headers={"Authorization": "Bearer cw_not-a-token"}))
    assert [answer.status_code for answer in answers] == [200, 200, 200, 404, 404, 401]
    for answer in answers:
        assert "server" not in answer.headers, answer.url
        assert "gunicorn" not in str(answer.headers.raw).lower()
    # Nor does the answer the HTTP server makes on its own to a request it cannot parse.
    port = _port(https_server.url)
    context = ssl.create_default_context(cafile=str(SERVER_CERT))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"NOT A REQUEST\r\n\r\n")
        answer = _read_all(tls)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:40]
    assert b"server:" not in answer.lower() and b"gunicorn" not in answer.lower()


def test_rule_18_session_and_csrf_cookies_are_secure_httponly_samesite(https_server: Any) -> None:
    make_user("cookie@example.com")
    with _browser(https_server.url) as browser:
        form = browser.get("/login")
        csrf = _set_cookies(form)["__Host-causeway-csrf"]
        assert {"secure", "httponly", "samesite=strict", "path=/"} <= csrf
        assert not any(attribute.startswith("domain=") for attribute in csrf)

        signed_in = browser.post(
            "/login",
            data={
                "csrfmiddlewaretoken": _csrf_token(form.text),
                "username": "cookie@example.com",
                "password": STRONG_PASSWORD,
                "next": "/",
            },
        )
        assert signed_in.status_code == 302
        session = _set_cookies(signed_in)["__Host-causeway-session"]
        assert {"secure", "httponly", "samesite=lax", "path=/"} <= session
        assert not any(attribute.startswith("domain=") for attribute in session)
        # The CSRF secret is rotated at sign-in, and the new cookie keeps every flag.
        assert {"secure", "httponly", "samesite=strict"} <= _set_cookies(signed_in)["__Host-causeway-csrf"]
        assert browser.get("/").status_code == 200


def _signed_in(browser: httpx.Client, email: str) -> str:
    """Sign in through the real form; the CSRF token of the signed-in session."""
    form = browser.get("/login")
    response = browser.post(
        "/login",
        data={"csrfmiddlewaretoken": _csrf_token(form.text), "username": email, "password": STRONG_PASSWORD},
    )
    assert response.status_code == 302, response.text
    return _csrf_token(browser.get("/").text)


def test_rule_18_login_without_csrf_token_is_refused(https_server: Any) -> None:
    with _browser(https_server.url) as browser:
        no_cookie = browser.post("/login", data={"username": "x@example.com", "password": STRONG_PASSWORD})
        assert no_cookie.status_code == 403
        browser.get("/login")  # now holds the CSRF cookie, still sends no token
        no_token = browser.post("/login", data={"username": "x@example.com", "password": STRONG_PASSWORD})
        assert no_token.status_code == 403
        assert "__Host-causeway-session" not in _set_cookies(no_token)


def test_rule_18_logout_without_csrf_token_is_refused_and_the_session_lives_on(https_server: Any) -> None:
    make_user("logout@example.com")
    with _browser(https_server.url) as browser:
        token = _signed_in(browser, "logout@example.com")
        assert browser.post("/logout").status_code == 403
        assert browser.post("/logout", data={"csrfmiddlewaretoken": "x" * 64}).status_code == 403
        assert browser.get("/").status_code == 200  # still signed in: the forged logout did nothing
        # Control: the same request with the session's token is accepted.
        assert browser.post("/logout", data={"csrfmiddlewaretoken": token}).status_code == 302
        assert browser.get("/").status_code == 302


def unsafe_api_operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """Every operation of the API's own OpenAPI document that changes state, its path filled with ids."""
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method.upper() in ("GET", "HEAD", "OPTIONS"):
                continue
            concrete = path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    kind = parameter.get("schema", {})
                    sample = str(uuid.UUID(int=1)) if kind.get("format") == "uuid" else "1"
                    if kind.get("type") == "string" and kind.get("format") != "uuid":
                        sample = "x"
                    concrete = concrete.replace("{" + parameter["name"] + "}", sample)
            found.append((method.upper(), concrete))
    return found


def test_rule_18_every_state_changing_api_operation_refuses_a_session_without_csrf_token(
    https_server: Any,
) -> None:
    make_user("api@example.com")
    with _browser(https_server.url) as browser:
        _signed_in(browser, "api@example.com")
        schema = browser.get("/api/v1/openapi.json").json()
        assert schema["paths"], "the API document lists no operations"
        for method, path in unsafe_api_operations(schema):
            answer = browser.request(method, path, json={})
            assert answer.status_code == 403, f"{method} {path} answered {answer.status_code}"
            assert answer.json()["detail"] == "CSRF check Failed"
        # The session is still good: the refusals above were about the token, not the sign-in.
        assert browser.get("/").status_code == 200
