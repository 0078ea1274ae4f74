"""Rule 19 at its source: each profile field is checked by its own rule and errors name the field."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from causeway.accounts.models import User
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
