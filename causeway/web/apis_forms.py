"""The API platform's page forms: collections, endpoints, clients and their keys.

They only turn what was posted into the values the services take; the services say what is valid."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from causeway.web.forms import ListField, PageForm, text


def _number(value: str) -> int | None:
    """A whole number, or None for an empty field (no limit); anything else is no number (0), which the
    service refuses naming its range."""
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        return 0


def _names(value: str) -> list[str]:
    """Names separated by commas or spaces."""
    return [name for name in value.replace(",", " ").split() if name]


class CollectionForm(PageForm):
    """A new collection (project, name, slug, description), or a collection's name and description."""

    ids = "collection-%s"

    project_id = text(strip=True)
    name = text()
    slug = text(strip=True)
    description = text()


class EndpointForm(PageForm):
    """A new endpoint, or all of an endpoint's fields."""

    method = text(strip=True)
    path = text(strip=True)
    recipe_id = text(strip=True)
    summary = text()
    request_schema = text(widget=forms.Textarea)
    response_schema = text(widget=forms.Textarea)
    query_parameters = text()
    headers = text()
    timeout_seconds = text(strip=True)
    rate_per_second = text(strip=True)
    quota_per_day = text(strip=True)

    def _schema(self, field: str) -> Any:
        raw = self.cleaned_data[field]
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ValidationError('not JSON: a JSON Schema object, such as {"type": "object"}') from None

    def clean_request_schema(self) -> Any:
        return self._schema("request_schema")

    def clean_response_schema(self) -> Any:
        return self._schema("response_schema")

    def clean_query_parameters(self) -> list[str]:
        return _names(self.cleaned_data["query_parameters"])

    def clean_headers(self) -> list[str]:
        return _names(self.cleaned_data["headers"])

    def clean_timeout_seconds(self) -> int | None:
        return _number(self.cleaned_data["timeout_seconds"])

    def clean_rate_per_second(self) -> int | None:
        return _number(self.cleaned_data["rate_per_second"])

    def clean_quota_per_day(self) -> int | None:
        return _number(self.cleaned_data["quota_per_day"])

    def values(self) -> dict[str, Any]:
        """What the service takes, by its names (`recipe` for the recipe's id)."""
        found = dict(self.cleaned_data)
        found["recipe"] = found.pop("recipe_id")
        return found


class ClientForm(PageForm):
    """A new client (with its first key), or a client's collections, sources and limits."""

    ids = "client-%s"

    name = text()
    collection_ids = ListField()
    allowed_sources = text(widget=forms.Textarea)
    rate_per_second = text(strip=True)
    quota_per_day = text(strip=True)
    key_name = text()
    expires_in_days = text(strip=True)

    def clean_allowed_sources(self) -> list[str]:
        return _names(self.cleaned_data["allowed_sources"])

    def clean_rate_per_second(self) -> int | None:
        return _number(self.cleaned_data["rate_per_second"])

    def clean_quota_per_day(self) -> int | None:
        return _number(self.cleaned_data["quota_per_day"])

    def clean_expires_in_days(self) -> int:
        return _number(self.cleaned_data["expires_in_days"]) or 0


class KeyForm(PageForm):
    """A new key of a client's."""

    ids = "key-%s"

    name = text()
    expires_in_days = text(strip=True)

    def clean_expires_in_days(self) -> int:
        return _number(self.cleaned_data["expires_in_days"]) or 0
