"""One host matcher for every allowed-hosts list: normal forms, patterns, and the empty list."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from causeway.vault.hosts import clean_patterns, host_allowed, normalize_host, normalize_pattern

# (host, allowed list, allowed?) — the rows marked "was" are where the secret's and the outbound
# setting's matchers used to disagree.
MATCHES = [
    # An empty list allows nothing (was: everything for a secret's matcher).
    ("api.example.com", [], False),
    ("127.0.0.1", [], False),
    ("api.example.com", None, False),
    # Exact names, in any case and with or without the trailing dot, on either side
    # (was: the secret's matcher compared the stored entry as written).
    ("api.example.com", ["api.example.com"], True),
    ("API.Example.COM.", ["api.example.com"], True),
    ("api.example.com", ["API.EXAMPLE.COM."], True),
    ("api.example.com", ["example.com"], False),
    ("example.com", ["api.example.com"], False),
    # Wildcards: subdomains at any depth, never the domain itself nor a name that only ends alike.
    ("a.example.com", ["*.example.com"], True),
    ("a.b.example.com", ["*.example.com"], True),
    ("example.com", ["*.example.com"], False),
    ("badexample.com", ["*.example.com"], False),
    ("a.example.com.evil", ["*.example.com"], False),
    ("A.Example.Com.", ["*.EXAMPLE.com"], True),
    # Internationalised names match in their IDNA form, written either way.
    ("bücher.example", ["xn--bcher-kva.example"], True),
    ("xn--bcher-kva.example", ["bücher.example"], True),
    ("shop.bücher.example", ["*.bücher.example"], True),
    # Addresses: compared in their compressed form; a wildcard never admits an address
    # (was: "*.0.0.1" admitted "10.0.0.1" in the secret's matcher).
    ("10.0.0.5", ["10.0.0.5"], True),
    ("[::1]", ["::1"], True),
    ("0:0:0:0:0:0:0:1", ["[::1]"], True),
    ("10.0.0.5", ["10.0.0.6"], False),
    ("10.0.0.1", ["*.0.0.1"], False),
    # A port, a path or a user part is not a host (was: the secret's matcher took text as given).
    ("api.example.com:8443", ["api.example.com"], False),
    ("api.example.com/x", ["api.example.com"], False),
    ("user@api.example.com", ["api.example.com"], False),
    ("", ["api.example.com"], False),
    # Entries that are not host patterns match nothing, and do not stop the others from matching.
    ("api.example.com", [42, "not a host", "api.example.com"], True),
    ("api.example.com", ["api.example.com:443"], False),
]


@pytest.mark.parametrize(("host", "allowed", "expected"), MATCHES)
def test_rule_20_host_allowed(host: str, allowed: list[object] | None, expected: bool) -> None:
    assert host_allowed(host, allowed) is expected


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        (" Example.COM. ", "example.com"),
        ("[::1]", "::1"),
        ("10.0.0.1", "10.0.0.1"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("_service.example", "_service.example"),
    ],
)
def test_host_normal_form(text: str, normal: str) -> None:
    assert normalize_host(text) == normal


@pytest.mark.parametrize(
    "bad", ["", "a b", "x" * 64 + ".com", "-lead.example", "a..b", "host:80", "*.example"]
)
def test_not_a_host(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a host name"):
        normalize_host(bad)


def test_pattern_normal_form() -> None:
    assert normalize_pattern(" *.Corp.Example. ") == "*.corp.example"
    with pytest.raises(ValueError, match="a wildcard takes a domain"):
        normalize_pattern("*.10.0.0.1")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("api.example.com", "a list of host names"),
        (None, "a list of host names"),
        ([""], "each allowed host"),
        ([7], "each allowed host"),
        (["not a host"], "is not a host name"),
        (["*.10.0.0.1"], "a wildcard takes a domain"),
        ([f"h{i}.example" for i in range(4)], "at most 3 allowed hosts"),
    ],
)
def test_a_refused_list_names_the_field(entries: object, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        clean_patterns(entries, field="hosts", limit=3)
    assert list(refused.value.message_dict) == ["hosts"]
    assert message in refused.value.message_dict["hosts"][0]


def test_a_list_is_normalised_once_and_keeps_its_order() -> None:
    assert clean_patterns(["B.example", "*.a.example", "b.example.", "[::1]"], field="hosts", limit=3) == [
        "b.example",
        "*.a.example",
        "::1",
    ]
