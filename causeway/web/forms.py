"""What every page form shares: fields that only parse what was posted, and a service's refusal filed
under the fields it names, so each message is shown beside its field.

What is valid is said once, by the service (or the schema it checks against); a page form only turns
the posted text into the values a service takes. A rule copied here would drift from the service's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


def messages_of(error: ValidationError) -> dict[str, list[str]]:
    """A refusal as field name → messages; one without fields is the form's as a whole."""
    return error.message_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: list(error.messages)}


def text(*, strip: bool = False, **kwargs: Any) -> forms.CharField:
    # Not required and not stripped by default: the service says what is missing or malformed, with
    # a message naming the field, and sees what was typed.
    return forms.CharField(required=False, strip=strip, **kwargs)


class ListField(forms.Field):
    """Every value posted under one name (checkboxes, repeated inputs), as a list of text."""

    widget = forms.MultipleHiddenInput

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> list[str]:
        if not value:
            return []
        return [str(item) for item in value]


class PageForm(forms.Form):
    """One page action's input."""

    # A service's name for a field, where it differs from the name the page posts it under.
    service_names: ClassVar[Mapping[str, str]] = {}
    # The fields' element ids: a page with several forms gives each its own.
    ids: ClassVar[str] = "id_%s"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", self.ids)
        super().__init__(*args, **kwargs)
        self.renamed = dict(self.service_names)

    def refuse(self, error: ValidationError) -> Self:
        """File a service's refusal under this form's fields; a field this form lacks is named."""
        for name, problems in messages_of(error).items():
            field = self.renamed.get(name, name)
            if field in self.fields:
                self.add_error(field, problems)
            elif name == NON_FIELD_ERRORS:
                self.add_error(None, problems)
            else:
                self.add_error(None, [f"{name}: {problem}" for problem in problems])
        return self

    def posted(self, name: str, default: Any) -> Any:
        """The field's value if the page posted it at all, else `default` (a value left as it is)."""
        return self.cleaned_data.get(name) if name in self.data else default
