"""Rule 19 at its source: each profile field is checked by its own rule and errors name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from causeway.accounts.models import User
from causeway.accounts.password_rules import listed, password_digest
from causeway.accounts.validation import clean_password, clean_profile

GOOD = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"}


def _errors(**fields: str) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        clean_profile(**{**GOOD, **fields})
    return caught.value.message_dict


@pytest.mark.parametrize(
    ("field", "value", "label", "words"),
    [
        ("first_name", "G", "First name", "at least 2 letters"),
        ("first_name", "", "First name", "at least 2 letters"),
        ("first_name", "Gr4ce", "First name", "letters only"),
        ("first_name", "Grace!", "First name", "letters only"),
        ("first_name", "Mary-Jane", "First name", "letters only"),
        ("first_name", "Ann Marie", "First name", "letters only"),
        ("first_name", "G" * 151, "First name", "at most 150 characters"),
        ("last_name", "", "Last name", "at least 1 letter"),
        ("last_name", "H0pper", "Last name", "letters only"),
        ("last_name", "O'Hara", "Last name", "letters only"),
        ("email", "grace", "Email", "not a valid email"),
        ("email", "grace@", "Email", "not a valid email"),
        ("email", "grace@exa mple.com", "Email", "not a valid email"),
        ("email", "", "Email", "required"),
    ],
)
def test_rule_19_each_profile_error_names_its_field(field: str, value: str, label: str, words: str) -> None:
    errors = _errors(**{field: value})
    assert list(errors) == [field]
    assert all(message.startswith(label) for message in errors[field])
    assert words in " ".join(errors[field])


def test_rule_19_every_wrong_field_is_reported_at_once() -> None:
    errors = _errors(first_name="1", last_name="2", email="three")
    assert sorted(errors) == ["email", "first_name", "last_name"]


def test_rule_19_letters_of_any_script_are_letters() -> None:
    cleaned = clean_profile(first_name="Zoë", last_name="Åström", email="  Zoe@Example.COM ")
    assert cleaned == {"first_name": "Zoë", "last_name": "Åström", "email": "zoe@example.com"}
    # The same accent typed as a combining mark is still a letter once normalised.
    assert (
        clean_profile(first_name="Jose\u0301", last_name="X", email="j@example.com")["first_name"] == "José"
    )
    # A letter whose canonical form is a base letter plus a mark (U+0958) is still letters only.
    assert clean_profile(first_name="\u0958\u0915", last_name="X", email="j@example.com")
    with pytest.raises(ValidationError):
        clean_profile(first_name="\u0301Jo", last_name="X", email="j@example.com")


@given(
    st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=10),
    st.sampled_from("0123456789!@#$%^&*()_+=-. '\"<>\t"),
    st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=10),
)
def test_rule_19_any_digit_or_symbol_in_a_name_is_refused(before: str, bad: str, after: str) -> None:
    with pytest.raises(ValidationError) as caught:
        clean_profile(first_name=before + bad + after, last_name=after + bad + after, email="a@example.com")
    errors = caught.value.message_dict
    assert set(errors) == {"first_name", "last_name"}
    assert errors["first_name"][0].startswith("First name")
    assert errors["last_name"][0].startswith("Last name")


@pytest.mark.parametrize(
    ("password", "words"),
    [
        ("short-Pw1", "too short"),
        ("password1234", "too common"),
        ("48213907561234", "entirely numeric"),
        ("", "required"),
    ],
)
def test_rule_19_weak_passwords_name_the_field(password: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        clean_password(password, field="new_password")
    errors = caught.value.message_dict
    assert list(errors) == ["new_password"]
    assert all(message.startswith("New password") for message in errors["new_password"])
    assert words in " ".join(errors["new_password"])


def test_rule_19_a_password_like_the_users_own_details_is_refused() -> None:
    user = User(email="gracehopper@example.com", first_name="Grace", last_name="Hopper")
    with pytest.raises(ValidationError) as caught:
        clean_password("gracehopper@example", user=user)
    assert "too similar" in " ".join(caught.value.message_dict["password"])


BREACHED_PASSWORD = "Tr0ub4dor&3-horse-staple"


def _pwned_list(folder: Path, passwords: list[str], *, lines: int = 3000) -> Path:
    """A list in Have I Been Pwned's download format (`DIGEST:COUNT`, ordered by digest, CRLF), with
    `lines` other digests around the ones given."""
    digests = {password_digest(p).upper() for p in passwords}
    digests |= {password_digest(str(n)).upper() for n in range(lines)}
    path = folder / "pwned-passwords-sha1-ordered-by-hash.txt"
    path.write_bytes(b"".join(f"{d}:{n + 1}\r\n".encode() for n, d in enumerate(sorted(digests))))
    return path


def test_a_password_on_the_operators_breached_list_is_refused_with_the_field_named(
    tmp_path: Path, settings: Any
) -> None:
    """ASVS 6.2.12: a password that passes every other rule but is known from a breach is refused."""
    assert clean_password(BREACHED_PASSWORD) == BREACHED_PASSWORD, "no list: only the other rules apply"
    settings.BREACHED_PASSWORDS_FILE = _pwned_list(tmp_path, [BREACHED_PASSWORD])
    with pytest.raises(ValidationError) as caught:
        clean_password(BREACHED_PASSWORD, field="new_password")
    [message] = caught.value.message_dict["new_password"]
    assert message.startswith("New password") and "data breach" in message
    assert clean_password(BREACHED_PASSWORD + "!") == BREACHED_PASSWORD + "!"


def test_the_breached_list_is_searched_in_place_for_every_line_and_nothing_else(tmp_path: Path) -> None:
    path = _pwned_list(tmp_path, [], lines=500)
    for n in range(500):
        assert listed(path, password_digest(str(n))), n
    for n in range(500, 800):
        assert not listed(path, password_digest(str(n))), n
    assert not listed(path, "0" * 40) and not listed(path, "F" * 40)
    bare = tmp_path / "bare.txt"
    bare.write_text("".join(f"{d}\n" for d in sorted(password_digest(p) for p in ("a", "b", "c"))))
    assert listed(bare, password_digest("b")) and not listed(bare, password_digest("d"))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert not listed(empty, password_digest("a"))


def test_a_breached_list_named_but_missing_stops_the_start_with_one_line(tmp_path: Path) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from causeway.config import env_readable_file

    missing = tmp_path / "nowhere.txt"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAUSEWAY_BREACHED_PASSWORDS_FILE", str(missing))
        with pytest.raises(ImproperlyConfigured, match=r"CAUSEWAY_BREACHED_PASSWORDS_FILE: .* is not a file"):
            env_readable_file("CAUSEWAY_BREACHED_PASSWORDS_FILE")
        patch.delenv("CAUSEWAY_BREACHED_PASSWORDS_FILE")
        assert env_readable_file("CAUSEWAY_BREACHED_PASSWORDS_FILE") is None


def test_a_password_holding_a_word_of_the_installations_context_is_refused(settings: Any) -> None:
    """ASVS 6.1.2 and 6.2.11: "causeway", and the words the operator lists, in any case."""
    with pytest.raises(ValidationError) as caught:
        clean_password("MyCAUSEWAYpass-2026!")
    assert "'causeway'" in " ".join(caught.value.message_dict["password"])
    assert clean_password("Globex-harbour-lantern") == "Globex-harbour-lantern"
    settings.PASSWORD_CONTEXT_WORDS = ["Globex", "ACM"]
    with pytest.raises(ValidationError) as caught:
        clean_password("Globex-harbour-lantern", field="new_password")
    [message] = caught.value.message_dict["new_password"]
    assert message.startswith("New password") and "'globex'" in message
    assert clean_password("acme-harbour-lantern") == "acme-harbour-lantern", (
        "words under 4 letters are not used"
    )
