"""Rule 20: recipes call out only where they may. Real local servers; the workspace setting, set by an
Admin through its service, is the only way a test reaches them."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from typing import Any

import httpx
import pytest
from django.core.exceptions import ValidationError

from causeway.access.errors import Forbidden
from causeway.audit.models import AuditEvent
from causeway.connections import outbound
from causeway.connections.outbound import DestinationRefused, address_refused, outbound_hosts_set
from causeway.connections.tests.servers import Answer, Received, http_server
from causeway.vault.tls import create_self_signed_certificate, server_tls_context
from testkit.personas import cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> dict[str, Any]:
    return cast("admin", "analyst").people(workspace_key="workspace")


def call(workspace: Any, url: str, **kwargs: Any) -> httpx.Response:
    return outbound.request(workspace=workspace, method="GET", url=url, timeout=5.0, **kwargs)


def test_rule_20_loopback_127_0_0_1_is_refused(people: dict[str, Any]) -> None:
    with http_server() as server:
        with pytest.raises(DestinationRefused, match="loopback"):
            call(people["workspace"], f"{server.url}/x")
        assert server.received == []


def test_rule_20_ipv6_loopback_is_refused(people: dict[str, Any]) -> None:
    with http_server(host="::1") as server:
        assert server.url.startswith("http://[::1]:")
        with pytest.raises(DestinationRefused, match="loopback"):
            call(people["workspace"], f"{server.url}/x")
        assert server.received == []


def test_rule_20_metadata_address_is_refused(people: dict[str, Any]) -> None:
    with pytest.raises(DestinationRefused, match="link-local"):
        call(people["workspace"], "http://169.254.169.254/latest/meta-data/")


def test_rule_20_private_address_is_refused(people: dict[str, Any]) -> None:
    with pytest.raises(DestinationRefused, match="private"):
        call(people["workspace"], "http://10.0.0.1/")


def test_rule_20_a_name_resolving_to_loopback_is_refused(people: dict[str, Any]) -> None:
    with http_server() as server:
        with pytest.raises(DestinationRefused, match="localhost resolves to a loopback"):
            call(people["workspace"], f"http://localhost:{server.port}/x")
        assert server.received == []


def test_rule_20_the_allowed_local_server_is_reached(people: dict[str, Any]) -> None:
    workspace = people["workspace"]
    with http_server() as server:
        assert outbound_hosts_set(actor=people["admin"], workspace=workspace, hosts=["127.0.0.1"]) == [
            "127.0.0.1"
        ]
        answer = call(workspace, f"{server.url}/hello", params={"q": "1"})
        assert answer.status_code == 200
        assert answer.json() == {"method": "GET", "path": "/hello?q=1"}
        assert [r.path for r in server.received] == ["/hello?q=1"]


def test_rule_20_an_allowed_name_is_reached_at_the_address_checked_with_its_own_host_header(
    people: dict[str, Any],
) -> None:
    workspace = people["workspace"]
    outbound_hosts_set(actor=people["admin"], workspace=workspace, hosts=["localhost"])
    with http_server() as server:
        assert call(workspace, f"http://localhost:{server.port}/named").status_code == 200
        assert server.received[0].headers["Host"] == f"localhost:{server.port}"


def test_rule_20_a_redirect_from_an_allowed_host_to_a_refused_one_is_refused(people: dict[str, Any]) -> None:
    workspace = people["workspace"]
    outbound_hosts_set(actor=people["admin"], workspace=workspace, hosts=["127.0.0.1"])
    # The second server is real and reachable: only the check stops the hop to it.
    with http_server() as target:
        targets = [
            f"http://localhost:{target.port}/stolen",
            f"http://[::1]:{target.port}/stolen",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/admin",
        ]

        def redirect(got: Received) -> Answer:
            index = int(got.path.rsplit("/", 1)[-1])
            return Answer(status=302, headers={"Location": targets[index]})

        with http_server(redirect) as allowed:
            for index in range(len(targets)):
                with pytest.raises(DestinationRefused):
                    call(workspace, f"{allowed.url}/go/{index}")
            assert len(allowed.received) == len(targets)
        assert target.received == []


def test_rule_20_redirects_are_followed_hop_by_hop_up_to_the_limit(people: dict[str, Any]) -> None:
    workspace = people["workspace"]
    outbound_hosts_set(actor=people["admin"], workspace=workspace, hosts=["127.0.0.1"])

    def hop(got: Received) -> Answer:
        n = int(got.path.rsplit("/", 1)[-1])
        if n >= 3:
            return Answer(body={"arrived": n, "method": got.method})
        return Answer(status=307, headers={"Location": f"/hop/{n + 1}"})

    with http_server(hop) as server:
        answer = outbound.request(
            workspace=workspace, method="POST", url=f"{server.url}/hop/0", json={"a": 1}
        )
        assert answer.json() == {"arrived": 3, "method": "POST"}
        assert all(r.body == b'{"a":1}' for r in server.received)
        with pytest.raises(httpx.TooManyRedirects):
            outbound.request(workspace=workspace, method="GET", url=f"{server.url}/hop/0", max_redirects=2)


def test_rule_20_a_request_carrying_secrets_does_not_follow_a_redirect_to_another_origin(
    people: dict[str, Any],
) -> None:
    workspace = people["workspace"]
    outbound_hosts_set(actor=people["admin"], workspace=workspace, hosts=["127.0.0.1", "localhost"])
    with http_server() as other:
        with http_server(lambda got: Answer(status=302, headers={"Location": f"{other.url}/x"})) as first:
            with pytest.raises(DestinationRefused, match="carries secrets"):
                call(workspace, f"{first.url}/", headers={"X-Key": "k"}, carries_secrets=True)
            # Without secrets it is followed, but credentials are not carried to the other origin.
            call(workspace, f"http://localhost:{first.port}/", headers={"Authorization": "Bearer t"})
        assert len(other.received) == 1
        assert "Authorization" not in other.received[0].headers


def test_rule_20_every_call_has_a_time_out(people: dict[str, Any]) -> None:
    workspace = people["workspace"]
    outbound_hosts_set(actor=people["admin"], workspace=workspace, hosts=["127.0.0.1"])
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(httpx.TimeoutException):
            outbound.request(workspace=workspace, method="GET", url=f"http://127.0.0.1:{port}/", timeout=0.5)


def test_rule_20_only_http_and_https(people: dict[str, Any]) -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/", "gopher://127.0.0.1/"):
        with pytest.raises(DestinationRefused):
            call(people["workspace"], url)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "0.0.0.0",  # noqa: S104 (an address checked, not bound)
        "::",
        "224.0.0.1",
        "ff02::1",
        "100.64.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "64:ff9b::a9fe:a9fe",
        "::7f00:1",
    ],
)
def test_rule_20_non_public_addresses_in_every_form_are_refused(address: str) -> None:
    assert address_refused(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_rule_20_public_addresses_pass_the_check(address: str) -> None:
    assert address_refused(ipaddress.ip_address(address)) is None


def test_rule_20_allowed_hosts_are_set_by_an_admin_only_and_audited(people: dict[str, Any]) -> None:
    workspace = people["workspace"]
    with pytest.raises(Forbidden):
        outbound_hosts_set(actor=people["analyst"], workspace=workspace, hosts=["127.0.0.1"])
    workspace.refresh_from_db()
    assert workspace.outbound_allowed_hosts == []
    hosts = outbound_hosts_set(
        actor=people["admin"],
        workspace=workspace,
        hosts=[" Internal.Example.com. ", "*.corp.example", "[::1]"],
    )
    assert hosts == ["internal.example.com", "*.corp.example", "::1"]
    event = AuditEvent.objects.filter(action="workspace.outbound_hosts_changed").get()
    assert event.details["hosts"] == hosts
    assert outbound.host_allowed("api.corp.example", hosts)
    assert not outbound.host_allowed("corp.example", hosts)
    assert not outbound.host_allowed("evilcorp.example", hosts)
    for bad in (["not a host"], ["*.10.0.0.1"], "127.0.0.1", [""]):
        with pytest.raises(ValidationError):
            outbound_hosts_set(actor=people["admin"], workspace=workspace, hosts=bad)  # type: ignore[arg-type]
    assert AuditEvent.objects.filter(action="workspace.outbound_hosts_changed").count() == 1


def test_rule_20_a_closed_port_is_a_connection_error(people: dict[str, Any]) -> None:
    workspace = people["workspace"]
    outbound_hosts_set(actor=people["admin"], workspace=workspace, hosts=["127.0.0.1"])
    # Bound but never listening: the port stays closed, and no other process can open it meanwhile.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        with pytest.raises(httpx.ConnectError):
            call(workspace, f"http://127.0.0.1:{closed.getsockname()[1]}/")


def test_rule_20_https_names_the_host_and_verifies_its_certificate(
    people: dict[str, Any], tmp_path: Any
) -> None:
    """Connected to the checked address, TLS still sends the host's name (SNI) and checks the
    certificate: a self-signed one is refused."""
    workspace = people["workspace"]
    outbound_hosts_set(actor=people["admin"], workspace=workspace, hosts=["localhost"])
    create_self_signed_certificate(tmp_path / "c.crt", tmp_path / "c.key")
    context = server_tls_context(tmp_path / "c.crt", tmp_path / "c.key")
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc]
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with context.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            call(workspace, f"https://localhost:{port}/")
    finally:
        thread.join(timeout=10)
        listener.close()
    assert names == ["localhost"]
