"""Declarative connectors: a JSON or YAML document checked against one schema, each error named by its
path; a valid one becomes a connector of its workspace, defined by builders and enabled by Admins."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from causeway.access.errors import Forbidden
from causeway.audit.models import AuditEvent
from causeway.connections import declarative, registry, selectors, services
from causeway.connections.models import CustomConnector
from testkit.support import make_user, make_workspace

pytestmark = pytest.mark.django_db

WEATHER = """
key: weather
name: Weather
base_url: https://weather.example.com/v2
auth: [api_key]
scopes:
  - key: forecast
    description: Read forecasts for the cities your recipes ask about.
actions:
  - key: today
    name: Today's forecast
    scopes: [forecast]
    input:
      city: {type: string, required: true}
      days: {type: integer}
    request:
      method: GET
      path: /forecast/{{ input.city }}
      query: {days: "{{ input.days or 1 }}"}
    output: data
"""


def test_a_valid_yaml_document_becomes_a_connector() -> None:
    connector = declarative.connector(declarative.parse(WEATHER))
    assert connector.problems() == []
    (action,) = connector.actions
    assert (action.key, action.scopes, action.side_effects) == ("today", frozenset({"forecast"}), False)
    assert action.input.model_validate({"city": "Paris"}).model_dump() == {"city": "Paris", "days": None}
    with pytest.raises(Exception, match="city"):
        action.input.model_validate({"days": 2})
    assert [m.kind for m in connector.auth_methods] == ["api_key"]


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (lambda d: d["actions"][0]["request"].update(method="FETCH"), "actions[0].request.method"),
        (lambda d: d["actions"][0].update(scopes=["admin"]), "actions[0].scopes"),
        (lambda d: d.update(base_url="ftp://x"), "base_url"),
        (
            lambda d: d["actions"][0]["request"].update(path="https://elsewhere.example/x"),
            "actions[0].request.path",
        ),
        (lambda d: d["actions"][0]["input"].update(City={"type": "string"}), "actions[0].input"),
        (lambda d: d["actions"][0]["input"]["city"].update(type="date"), "actions[0].input.city.type"),
        (lambda d: d.update(run="import os"), "run"),
        (lambda d: d.update(auth=[]), "auth"),
        (lambda d: d.pop("actions"), "actions"),
    ],
)
def test_each_error_is_named_by_its_path(change: Any, errors: str) -> None:
    raw = json.loads(json.dumps(declarative.parse(WEATHER).model_dump(mode="json")))
    change(raw)
    with pytest.raises(declarative.DocumentError) as refused:
        declarative.parse(json.dumps(raw))
    assert list(refused.value.errors) == [errors], refused.value.errors


def test_text_that_is_neither_json_nor_yaml_is_named() -> None:
    with pytest.raises(declarative.DocumentError) as refused:
        declarative.parse("key: [unclosed\n")
    assert refused.value.errors["document"][0].startswith("neither JSON nor YAML (line")
    with pytest.raises(declarative.DocumentError, match="a connector is an object"):
        declarative.parse("- just\n- a list\n")


@pytest.fixture
def people() -> dict[str, Any]:
    admin = make_user("admin@example.com")
    analyst = make_user("analyst@example.com")
    operator = make_user("operator@example.com")
    workspace = make_workspace("Acme", members={admin: "admin", analyst: "analyst", operator: "operator"})
    return {"admin": admin, "analyst": analyst, "operator": operator, "workspace": workspace}


def test_builders_define_it_admins_enable_it_and_bad_documents_change_nothing(people: dict[str, Any]) -> None:
    ws = people["workspace"]
    with pytest.raises(Forbidden, match="connection:create"):
        services.custom_connector_save(actor=people["operator"], workspace=ws, document=WEATHER)
    with pytest.raises(ValidationError) as refused:
        services.custom_connector_save(
            actor=people["analyst"], workspace=ws, document=WEATHER + "    extra: 1\n"
        )
    assert "actions[0].extra" in refused.value.message_dict
    with pytest.raises(ValidationError, match="installed connector's key"):
        services.custom_connector_save(
            actor=people["analyst"], workspace=ws, document=WEATHER.replace("key: weather", "key: http")
        )
    assert not CustomConnector.objects.exists()
    services.custom_connector_save(actor=people["analyst"], workspace=ws, document=WEATHER)
    entries = {
        e.connector.key: e.enabled for e in selectors.catalogue(actor=people["operator"], workspace=ws)
    }
    assert entries == {"weather": False, **{key: False for key in registry.connectors()}}
    assert registry.get_for(ws.id, "weather").name == "Weather"
    other = make_workspace("Other")
    with pytest.raises(registry.UnknownConnector):
        registry.get_for(other.id, "weather")
    with pytest.raises(Forbidden, match="connector:manage"):
        services.connector_enable(actor=people["analyst"], workspace=ws, key="weather", enabled=True)
    services.connector_enable(actor=people["admin"], workspace=ws, key="weather", enabled=True)
    services.connection_create(
        actor=people["analyst"],
        workspace=ws,
        kind="personal",
        connector_key="weather",
        name="Forecasts",
        auth_method="api_key",
        credentials={"key": "k-123"},
        scopes=["forecast"],
    )
    with pytest.raises(ValidationError, match="1 connection"):
        services.custom_connector_delete(actor=people["analyst"], workspace=ws, key="weather")
    actions = set(AuditEvent.objects.filter(action__startswith="connector.").values_list("action", flat=True))
    assert actions == {"connector.defined", "connector.enabled"}
