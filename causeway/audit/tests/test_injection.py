"""User text in audit events is stored escaped: line breaks, terminal escapes, Unicode line separators
and bidi overrides cannot forge or hide log lines, and the escaped text still verifies."""

from __future__ import annotations

import unicodedata

import pytest
from django.db import transaction

from causeway.audit import context
from causeway.audit.models import AuditEvent
from causeway.audit.services import Actor, audit_record, neutralize
from causeway.audit.verify import verify_chains

HOSTILE = "eve\r\nINFO fake line\x1b[31mred\x1b[0m\u2028next\u2029para\u202egnp.exe\u200b\x00\x7f\x85"


def is_clean(text: str) -> bool:
    return not any(unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp", "Cs"} for char in text)


def test_neutralize_escapes_every_kind_of_hostile_character() -> None:
    assert neutralize(HOSTILE) == (
        "eve\\u000d\\u000aINFO fake line\\u001b[31mred\\u001b[0m\\u2028next\\u2029para"
        "\\u202egnp.exe\\u200b\\u0000\\u007f\\u0085"
    )


def test_neutralize_keeps_ordinary_text_including_non_latin_letters() -> None:
    assert neutralize("Zoë Ångström 山田 <b>&amp;</b> O'Brien") == "Zoë Ångström 山田 <b>&amp;</b> O'Brien"


def test_neutralize_escapes_the_backslash_so_escapes_cannot_be_forged() -> None:
    typed = "looks like \\u000a but is typed"
    assert neutralize(typed) == "looks like \\\\u000a but is typed"
    assert neutralize(typed) != neutralize("looks like \n but is typed")


def test_neutralize_escapes_characters_beyond_the_basic_plane_and_lone_surrogates() -> None:
    assert neutralize("tag\U000e0041") == "tag\\U000e0041"
    assert neutralize("half\ud800") == "half\\ud800"


@pytest.mark.django_db
def test_hostile_text_in_every_field_is_stored_escaped_and_the_chain_verifies() -> None:
    token = context.activate(
        context.RequestContext(request_id="req-1", ip_address="203.0.113.9", user_agent=f"curl {HOSTILE}")
    )
    try:
        with transaction.atomic():
            audit_record(
                actor=Actor(type="user", id="u1", label=f"{HOSTILE}@example.com"),
                action="user.profile_changed",
                target=("user", "u1", f"First {HOSTILE}"),
                details={f"key {HOSTILE}": [HOSTILE, {"deeper": HOSTILE}], "count": 3, "ratio": 0.5},
            )
    finally:
        context.deactivate(token)
    event = AuditEvent.objects.get()
    stored = [event.actor_label, event.target_label, event.user_agent, event.request_id]
    assert all(is_clean(text) for text in stored)
    assert event.user_agent == f"curl {neutralize(HOSTILE)}"
    assert event.actor_label == f"{neutralize(HOSTILE)}@example.com"
    assert event.details == {
        f"key {neutralize(HOSTILE)}": [neutralize(HOSTILE), {"deeper": neutralize(HOSTILE)}],
        "count": 3,
        # Floats are kept as text, so every database hands back what the MAC covered.
        "ratio": "0.5",
    }
    assert event.ip_address == "203.0.113.9"
    assert verify_chains().ok


@pytest.mark.django_db
def test_overlong_user_text_is_clipped_not_refused() -> None:
    token = context.activate(context.RequestContext(request_id="r", user_agent="A" * 2000))
    try:
        with transaction.atomic():
            audit_record(actor=Actor(type="user", id="x" * 300, label="\n" * 400), action="user.created")
    finally:
        context.deactivate(token)
    event = AuditEvent.objects.get()
    assert (len(event.actor_id), len(event.actor_label), len(event.user_agent)) == (64, 320, 512)
    assert verify_chains().ok


@pytest.mark.django_db
def test_ipv6_and_odd_addresses_round_trip_through_the_mac() -> None:
    for raw in ("2001:DB8:0:0:0:0:0:1", "::ffff:192.0.2.1", "fe80::1%eth0", "not an address"):
        token = context.activate(context.RequestContext(request_id="r", ip_address=raw))
        try:
            with transaction.atomic():
                audit_record(actor=None, action="platform.probe", details={"raw": raw})
        finally:
            context.deactivate(token)
    stored = list(AuditEvent.objects.order_by("seq").values_list("ip_address", flat=True))
    assert stored[0] == "2001:db8::1"
    assert stored[2] == "fe80::1"
    assert stored[3] is None
    assert verify_chains().ok
