"""The one way recipes call out (rule 20): HTTP through httpx, only to destinations they may reach.

A destination host is resolved here, every address it resolves to is checked, and the connection goes
to the checked address (no second lookup, so DNS rebinding has no window); TLS still names and
verifies the host (SNI and certificate), and the Host header is the host's. An address that is
loopback, private, link-local (the cloud metadata address among them), shared, unspecified,
multicast or reserved, or one of those inside an IPv6 form (IPv4-mapped, 6to4, Teredo, NAT64), is
refused unless an Admin allowed that host for the workspace (`outbound_hosts_set`, audited).
Redirects are followed here, one hop at a time, each checked again. Every call has a deadline, for
the whole call, redirects and body included; bodies are read up to a cap.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import httpx
from django.core.exceptions import ValidationError
from django.db import transaction

from causeway.access import policy
from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.audit.services import audit_record
from causeway.vault.secrets import normalize_host
from causeway.workspaces.models import Workspace

MAX_ALLOWED_HOSTS = 100
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
REDIRECT_CODES = (301, 302, 303, 307, 308)
# Headers that speak for the caller: not carried to another origin by a redirect.
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
TRUNCATED = "causeway.truncated"
USER_AGENT = "Causeway"

_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="causeway-dns")
_tls: ssl.SSLContext | None = None


class DestinationRefused(Exception):
    """The call may not go there (rule 20); the message names the host and why, and is safe to show."""


# Allowed hosts: the setting and its check.


def clean_hosts(hosts: Any) -> list[str]:
    """The allowed-hosts list normalised: host names, `*.example.com` patterns or IP addresses."""
    if isinstance(hosts, str) or not isinstance(hosts, list | tuple):
        raise ValidationError({"hosts": "a list of host names"})
    cleaned: list[str] = []
    for entry in hosts:
        if not isinstance(entry, str) or not entry.strip():
            raise ValidationError({"hosts": "each allowed host is a host name, *.domain or an IP address"})
        text = entry.strip()
        wildcard = text.startswith("*.")
        try:
            host = normalize_host(text[2:] if wildcard else text)
        except ValueError as exc:
            raise ValidationError({"hosts": str(exc)}) from None
        if wildcard and _ip(host) is not None:
            raise ValidationError({"hosts": f"{entry!r}: a wildcard takes a domain, not an address"})
        pattern = f"*.{host}" if wildcard else host
        if pattern not in cleaned:
            cleaned.append(pattern)
    if len(cleaned) > MAX_ALLOWED_HOSTS:
        raise ValidationError({"hosts": f"at most {MAX_ALLOWED_HOSTS} allowed hosts"})
    return cleaned


def host_allowed(host: str, allowed: Any) -> bool:
    """Whether the workspace's setting lets recipes reach host even at a non-public address.

    Matched on the host as the URL names it: allowing an address does not allow names resolving to it.
    """
    try:
        name = normalize_host(host)
    except ValueError:
        return False
    for pattern in allowed or ():
        if not isinstance(pattern, str):
            continue
        if pattern.startswith("*."):
            if name.endswith(pattern[1:]) and len(name) > len(pattern) - 1:
                return True
        elif name == pattern:
            return True
    return False


@transaction.atomic
def outbound_hosts_set(*, actor: Actor, workspace: Workspace, hosts: list[str]) -> list[str]:
    """Set the hosts recipes may reach even at loopback, private or link-local addresses (Admin only)."""
    policy.require_in(actor, workspace, Perm.WORKSPACE_SETTINGS)
    cleaned = clean_hosts(hosts)
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    before = list(locked.outbound_allowed_hosts or [])
    if before != cleaned:
        locked.outbound_allowed_hosts = cleaned
        locked.save(update_fields=["outbound_allowed_hosts"])
        audit_record(
            actor=actor,
            action="workspace.outbound_hosts_changed",
            target=locked,
            workspace_id=locked.id,
            details={
                "added": [h for h in cleaned if h not in before],
                "removed": [h for h in before if h not in cleaned],
                "hosts": cleaned,
            },
        )
    workspace.outbound_allowed_hosts = cleaned
    return cleaned


# Addresses.

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SHARED = ipaddress.ip_network("100.64.0.0/10")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return None


def address_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why recipes may not reach this address ("loopback", ...), or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if address.ipv4_mapped is not None:
            embedded.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            embedded.append(address.sixtofour)
        if address.teredo is not None:
            embedded.extend(address.teredo)
        if address in _NAT64 or address in _NAT64_LOCAL:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        for inner in embedded:
            reason = address_refused(inner)
            if reason is not None:
                return f"{reason} (inside an IPv6 address)"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local (metadata)", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("shared (carrier NAT)", isinstance(address, ipaddress.IPv4Address) and address in _SHARED),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("not public", not address.is_global),
    )
    for reason, hit in checks:
        if hit:
            return reason
    return None


def _resolve(host: str, port: int, deadline: float) -> list[str]:
    literal = _ip(host)
    if literal is not None:
        return [literal.compressed]
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise httpx.ConnectTimeout(f"no time left to resolve {host}")
    future = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        infos = future.result(timeout=remaining)
    except FutureTimeout:
        raise httpx.ConnectTimeout(f"resolving {host} took too long") from None
    except (socket.gaierror, UnicodeError) as exc:
        raise httpx.ConnectError(f"{host} does not resolve ({exc})") from None
    addresses: list[str] = []
    for info in infos:
        text = str(info[4][0]).split("%")[0]
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise httpx.ConnectError(f"{host} does not resolve")
    return addresses


def checked_address(*, workspace: Workspace, host: str, port: int, deadline: float) -> str:
    """The address to connect to for host; DestinationRefused when any address it has is not public
    and the workspace has not allowed the host."""
    addresses = _resolve(host, port, deadline)
    if host_allowed(host, workspace.outbound_allowed_hosts):
        return addresses[0]
    for text in addresses:
        reason = address_refused(ipaddress.ip_address(text))
        if reason is not None:
            raise DestinationRefused(
                f"{host} resolves to a {reason} address ({text}); recipes may call it only if an Admin "
                "allows the host in the workspace's outbound settings"
            )
    return addresses[0]


# Requests.


def _tls_context() -> ssl.SSLContext:
    global _tls
    if _tls is None:
        _tls = httpx.create_ssl_context()
    return _tls


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _host_header(url: httpx.URL) -> str:
    host = url.host
    if ":" in host:
        host = f"[{host}]"
    if url.port is not None and url.port != _default_port(url.scheme):
        return f"{host}:{url.port}"
    return host


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return (url.scheme, url.host, url.port or _default_port(url.scheme))


def _read_capped(response: httpx.Response, deadline: float) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the answer took too long to arrive", request=response.request)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            return b"".join(chunks)[:MAX_RESPONSE_BYTES], True
    return b"".join(chunks), False


def _send_once(
    client: httpx.Client,
    *,
    workspace: Workspace,
    method: str,
    url: httpx.URL,
    headers: list[tuple[str, str]],
    body: bytes | None,
    deadline: float,
) -> httpx.Response:
    if url.scheme not in ("http", "https"):
        raise DestinationRefused(f"only http and https URLs may be called, not {url.scheme or 'this'}")
    if not url.host:
        raise DestinationRefused("the URL has no host")
    port = url.port or _default_port(url.scheme)
    address = checked_address(workspace=workspace, host=url.host, port=port, deadline=deadline)
    target = url.copy_with(host=address)
    remaining = max(0.001, deadline - time.monotonic())
    outgoing = [(k, v) for k, v in headers if k.lower() != "host"] + [("Host", _host_header(url))]
    request = client.build_request(
        method,
        target,
        headers=outgoing,
        content=body,
        timeout=httpx.Timeout(remaining),
        extensions={"sni_hostname": url.host} if url.scheme == "https" else {},
    )
    response = client.send(request, stream=True)
    try:
        content, truncated = _read_capped(response, deadline)
    finally:
        response.close()
    kept = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    # The request as the caller meant it (the host's URL), for whoever reads the answer.
    shown = httpx.Request(method, url, headers=outgoing)
    return httpx.Response(
        response.status_code,
        headers=kept,
        content=content,
        request=shown,
        extensions={TRUNCATED: truncated, "http_version": response.http_version.encode()},
    )


def request(
    *,
    workspace: Workspace,
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    content: str | bytes | None = None,
    json: Any = None,
    timeout: float = 30.0,
    max_redirects: int = 5,
    carries_secrets: bool = False,
) -> httpx.Response:
    """Call url for a recipe of workspace, following redirects (each hop checked) up to max_redirects.

    `carries_secrets`: the headers, query or body hold a secret resolved for this URL's host, so a
    redirect to another origin is refused rather than followed (the secret may go to that host alone).
    Raises DestinationRefused, or httpx's errors (timeouts, connection errors, TooManyRedirects).
    """
    deadline = time.monotonic() + max(0.001, float(timeout))
    try:
        current = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise DestinationRefused(f"not a URL: {exc}") from None
    if params:
        current = current.copy_merge_params(params)
    given = dict(headers or {})
    if not any(name.lower() == "user-agent" for name in given):
        given["User-Agent"] = USER_AGENT
    built = httpx.Request(method.upper(), current, headers=given, content=content, json=json)
    body: bytes | None = built.read() if (content is not None or json is not None) else None
    encoding = built.headers.encoding
    outgoing = [
        (k.decode(encoding), v.decode(encoding))
        for k, v in built.headers.raw
        if k.lower() not in (b"host", b"content-length", b"transfer-encoding")
    ]
    method = method.upper()
    start_origin = _origin(current)
    with httpx.Client(
        verify=_tls_context(), follow_redirects=False, trust_env=False, timeout=httpx.Timeout(timeout)
    ) as client:
        for _hop in range(max_redirects + 1):
            response = _send_once(
                client,
                workspace=workspace,
                method=method,
                url=current,
                headers=outgoing,
                body=body,
                deadline=deadline,
            )
            location = response.headers.get("location")
            if response.status_code not in REDIRECT_CODES or not location:
                return response
            try:
                following = current.join(location)
            except httpx.InvalidURL as exc:
                raise DestinationRefused(f"the redirect is not a URL: {exc}") from None
            if _origin(following) != _origin(current):
                if carries_secrets and _origin(following) != start_origin:
                    raise DestinationRefused(
                        f"{current.host} redirected to {following.host or 'another origin'}; the request "
                        "carries secrets for its own host, so the redirect was not followed"
                    )
                outgoing = [(k, v) for k, v in outgoing if k.lower() not in _CREDENTIAL_HEADERS]
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                if method != "HEAD":
                    method = "GET"
                body = None
                outgoing = [(k, v) for k, v in outgoing if k.lower() != "content-type"]
            current = following
    raise httpx.TooManyRedirects(
        f"more than {max_redirects} redirects", request=httpx.Request(method, current)
    )
