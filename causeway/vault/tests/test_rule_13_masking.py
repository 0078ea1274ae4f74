"""Rule 13: known secret values are masked where they would surface, in every form they take."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from base64 import b64encode, urlsafe_b64encode
from urllib.parse import quote, quote_plus, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from causeway.vault import masking
from causeway.vault.masking import MaskingFilter, attach_masking_filter, encoded_forms, mask, register_value
from causeway.vault.secrets import secret_resolve_for_destination, secret_set

CANARY = 'canary/Secret+value "9f2c" é=&?'


def _lower_escapes(text: str) -> str:
    """Percent-encoding with lower-case hex digits, as some clients write it."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def _all_forms(value: str) -> list[str]:
    data = value.encode()
    forms = [value, quote(value, safe=""), quote(value), quote_plus(value), json.dumps(value)[1:-1]]
    forms.append(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.append(_lower_escapes(quote(value, safe="")))
    for encode in (b64encode, urlsafe_b64encode):
        forms.append(encode(data).decode())
    return forms


@pytest.fixture
def log_output():
    """A real logger with a real handler carrying the masking filter, writing to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(MaskingFilter())
    logger = logging.getLogger(f"causeway.test.masking.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def _base64_embeddings(value: str) -> list[str]:
    """value inside a longer base64 text, at each of the three alignments, in both alphabets."""
    texts = []
    for encode in (b64encode, urlsafe_b64encode):
        for offset in range(3):
            texts.append(encode(b"x" * offset + b"Authorization: " + value.encode() + b"\r\n").decode())
    return texts


def test_rule_13_every_form_of_a_secret_is_masked_through_a_logging_handler(log_output):
    logger, stream = log_output
    register_value("API_KEY", CANARY)
    logger.info("raw %s", CANARY)
    logger.info("query %s", "https://api.example.com/v1?" + urlencode({"key": CANARY, "q": "x"}))
    logger.info("path https://api.example.com/%s/items", quote(CANARY, safe=""))
    logger.info("lower-case escapes %s", _lower_escapes(quote(CANARY, safe="")))
    logger.info("json %s", json.dumps({"headers": {"Authorization": CANARY}}))
    logger.info("json unicode %s", json.dumps({"k": CANARY}, ensure_ascii=False))
    for text in _base64_embeddings(CANARY):
        logger.warning("basic auth %s", text)
    try:
        raise ValueError(f"call failed with key={CANARY}")
    except ValueError:
        logger.exception("request failed")
    logger.info("a message without arguments: %s", "fine")
    output = stream.getvalue()
    for form in _all_forms(CANARY):
        assert form not in output, form
    for text in _base64_embeddings(CANARY):
        assert text not in output
    assert output.count("[masked:API_KEY]") == 13  # six plain forms, six base64 texts, the traceback
    assert "Traceback" in output and "ValueError: call failed with key=[masked:API_KEY]" in output
    assert "a message without arguments: fine" in output


def test_rule_13_a_record_whose_arguments_do_not_fit_is_still_masked(log_output):
    logger, stream = log_output
    register_value("TOKEN", "tok-123456")
    logger.info("two %s %s", "tok-123456")
    assert "tok-123456" not in stream.getvalue()
    assert "[masked:TOKEN]" in stream.getvalue()


def test_rule_13_stack_info_is_masked(log_output):
    logger, stream = log_output
    register_value("TOKEN", "tok-stack-987")
    tok = "tok-stack-987"  # noqa: F841 - only the source line of the stack shows it
    logger.info("where %s", "tok-stack-987", stack_info=True)
    assert "tok-stack-987" not in stream.getvalue()


def test_rule_13_the_longest_value_wins_and_short_values_are_not_registered():
    register_value("OUTER", "abcdef-123456")
    register_value("INNER", "123456")
    register_value("TINY", "abc")
    assert mask("x abcdef-123456 y 123456 abc") == "x [masked:OUTER] y [masked:INNER] abc"
    assert len(masking.registry) == 2


def test_rule_13_forgotten_values_are_no_longer_masked_and_names_are_sanitised():
    register_value("bad name]\n", "value-to-forget")
    assert mask("value-to-forget") == "[masked:bad_name__]"
    masking.forget_value("value-to-forget")
    assert mask("value-to-forget") == "value-to-forget"


def test_rule_13_the_registry_is_bounded(monkeypatch):
    monkeypatch.setattr(masking, "MAX_VALUES", 3)
    for i in range(5):
        register_value(f"T{i}", f"token-{i}-abcdef")
    assert mask("token-0-abcdef token-4-abcdef") == "token-0-abcdef [masked:T4]"


def test_rule_13_attach_masking_filter_reaches_every_handler():
    logger = logging.getLogger(f"causeway.test.attach.{uuid.uuid4().hex}")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        assert attach_masking_filter() >= 1
        assert attach_masking_filter() == 0  # once per handler
        register_value("PASSWORD", "hunter2-hunter2")
        logger.error("login with hunter2-hunter2")
        assert stream.getvalue() == "login with [masked:PASSWORD]\n"
    finally:
        logger.removeHandler(handler)


@pytest.mark.django_db
def test_rule_13_a_resolved_secret_is_masked_in_what_the_process_logs_next(log_output, sink):
    logger, stream = log_output
    workspace = uuid.uuid4()
    secret_set(
        actor_id=None, workspace_id=workspace, name="SLACK_TOKEN", value="xoxb-canary-5521", on_change=sink
    )
    masking.registry.clear()  # as in a worker process, which never saw it being set
    value = secret_resolve_for_destination(
        workspace_id=workspace, name="SLACK_TOKEN", host="slack.com", on_use=sink, context={"job": "j1"}
    )
    logger.error("POST https://slack.com/api failed: token=%s", value)
    assert stream.getvalue() == "ERROR POST https://slack.com/api failed: token=[masked:SLACK_TOKEN]\n"
    assert all("xoxb-canary-5521" not in repr(event) for event in sink.events)


_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=masking.MIN_VALUE_LENGTH, max_size=40
)
_around = st.text(max_size=30)


@given(value=_values, before=_around, after=_around)
def test_rule_13_property_raw_url_and_json_forms_never_survive(value, before, after):
    registry = masking.MaskRegistry()
    registry.register("S", value)
    for form in (value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]):
        masked = registry.mask(before + form + after)
        assert form not in masked


@given(value=_values, prefix=st.binary(max_size=8), suffix=st.binary(max_size=8))
def test_rule_13_property_base64_at_any_alignment_never_survives(value, prefix, suffix):
    registry = masking.MaskRegistry()
    registry.register("S", value)
    text = b64encode(prefix + value.encode() + suffix).decode()
    masked = registry.mask(text)
    stable = [f for f in encoded_forms(value) if f in text]
    assert stable, "one of the three alignments must match the encoded text"
    assert "[masked:S]" in masked


def test_rule_13_forgetting_an_unknown_value_is_harmless():
    register_value("KNOWN", "known-value")
    masking.forget_value("never-registered")
    assert mask("known-value") == "[masked:KNOWN]"
