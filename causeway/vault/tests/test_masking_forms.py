"""Rule 13: the forms a value takes in pages, in Python's own escaping and in any client's URL-encoding."""

from __future__ import annotations

import html
import json
import logging
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from causeway.vault import masking
from causeway.vault.masking import MaskRegistry

# The vault's test fixtures make their sample table in whichever database is open; with a test database.
pytestmark = pytest.mark.django_db

VALUE = 'pw "quoted" é+x=1&y'


def registry_with(value: str) -> MaskRegistry:
    found = MaskRegistry()
    found.register("S", value)
    return found


def test_rule_13_a_value_is_masked_as_a_page_escapes_it() -> None:
    masked = registry_with(VALUE).mask(
        f'<input value="{html.escape(VALUE)}"> <p>{html.escape(VALUE, quote=False)}</p>'
    )
    assert masked == '<input value="[masked:S]"> <p>[masked:S]</p>'


def test_rule_13_a_value_is_masked_as_django_logs_a_refused_path(caplog) -> None:
    from django.http import HttpResponse
    from django.utils.log import log_response

    masking.registry.register("S", VALUE)
    logger = logging.getLogger("causeway.test.forms")
    handler = logging.StreamHandler()
    handler.addFilter(masking.MaskingFilter())
    record_texts: list[str] = []
    handler.emit = lambda record: record_texts.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        log_response("Not Found: %s", f"/w/{VALUE}", response=HttpResponse(status=404), logger=logger)
    finally:
        logger.removeHandler(handler)
    assert record_texts == ["Not Found: /w/[masked:S]"]


def test_rule_13_a_value_is_masked_as_repr_quotes_it() -> None:
    value = 'it\'s \\ "both"'
    assert registry_with(value).mask(f"refused {value!r}!") == "refused '[masked:S]'!"
    assert registry_with(value).mask(f"refused {value + 'é'!a}") == "refused '[masked:S]\\xe9'"


def test_rule_13_a_value_is_masked_however_a_client_escaped_it() -> None:
    browser_path = quote(VALUE, safe="+=&:")  # a browser leaves these in a path as they are
    assert browser_path == "pw%20%22quoted%22%20%C3%A9+x=1&y"
    line = f'127.0.0.1 "GET /w/acme/{browser_path} HTTP/1.1" 404'
    assert registry_with(VALUE).mask(line) == '127.0.0.1 "GET /w/acme/[masked:S] HTTP/1.1" 404'


def test_rule_13_a_value_is_masked_in_a_form_encoding_without_any_escape() -> None:
    assert registry_with("a b=c d").mask("GET /search?q=a+b=c+d&page=2 HTTP/1.1") == (
        "GET /search?q=[masked:S]&page=2 HTTP/1.1"
    )


def test_rule_13_a_decoded_run_cannot_break_a_log_line_or_a_json_string() -> None:
    masked = registry_with("abc def+ghi").mask("GET /x/abc%20def+ghi%0AFAKE%20line%20%C3%A9 HTTP/1.1")
    assert masked == "GET /x/[masked:S]%0AFAKE%20line%20%C3%A9 HTTP/1.1"
    assert "\n" not in masked
    body = json.dumps({"detail": "bad path /x/abc%20def+ghi%22%7D%3Cb%3E"})
    masked_body = registry_with("abc def+ghi").mask(body)
    assert json.loads(masked_body) == {"detail": "bad path /x/[masked:S]%22}%3Cb%3E"}


def test_rule_13_text_with_escapes_but_no_value_is_left_alone() -> None:
    text = 'sale: 50%25 off at /shop%20now ["x"] 100% %zz'
    assert registry_with(VALUE).mask(text) == text


@given(
    value=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=4, max_size=30).filter(
        lambda v: "[masked:" not in v  # a value that reads as its own mask cannot be told apart
    ),
    # Every character a client might leave unescaped; none leaves '"', "<" or ">" (URL syntax forbids them).
    safe=st.sets(st.sampled_from(list("+=&:;,@!$'()*/~[]{}|^`")), max_size=10),
    before=st.sampled_from(["/path/", '{"url": "/p?q=', "<a href='/x/", ""]),
)
def test_rule_13_property_no_percent_encoding_of_a_value_survives(
    value: str, safe: set[str], before: str
) -> None:
    encoded = quote(value, safe="".join(sorted(safe)))
    masked = registry_with(value).mask(f"{before}{encoded}&x=1 done")
    assert "[masked:S]" in masked, (encoded, masked)
