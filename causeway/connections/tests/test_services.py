"""Enabling connectors, creating, changing, linking and revoking connections: who may, what is kept."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection as db

from causeway.access.errors import Forbidden, NotFound
from causeway.accounts.actors import SYSTEM
from causeway.audit.models import AuditEvent
from causeway.connections import selectors, services
from causeway.connections.models import Connection, ConnectionLink, ConnectorEnablement
from causeway.vault.sealing import SealedValueError
from testkit.personas import cast

pytestmark = pytest.mark.django_db

CANARY = "canary-4f1e9a7c-credential"


@pytest.fixture
def people() -> dict[str, Any]:
    people = cast(
        "admin", "analyst", "operator", "outsider", emails={"outsider": "boss@other.example.com"}
    ).people(workspace_key="workspace")
    people["other_admin"] = people.pop("outsider")
    return people


def personal(people: dict[str, Any], owner: str = "analyst", **extra: Any) -> Connection:
    services.connector_enable(actor=people["admin"], workspace=people["workspace"], key="http", enabled=True)
    fields: dict[str, Any] = {
        "kind": "personal",
        "connector_key": "http",
        "name": "My API",
        "auth_method": "bearer",
        "settings": {"base_url": "https://api.example.com/v1/"},
        "credentials": {"token": CANARY},
        "scopes": ["read"],
    }
    fields.update(extra)
    return services.connection_create(actor=people[owner], workspace=people["workspace"], **fields)


def test_enabling_a_connector_is_the_admins_and_audited(people: dict[str, Any]) -> None:
    with pytest.raises(Forbidden, match="connector:manage"):
        services.connector_enable(
            actor=people["analyst"], workspace=people["workspace"], key="http", enabled=True
        )
    services.connector_enable(actor=people["admin"], workspace=people["workspace"], key="http", enabled=True)
    assert ConnectorEnablement.objects.filter(workspace=people["workspace"], connector_key="http").exists()
    services.connector_enable(actor=people["admin"], workspace=people["workspace"], key="http", enabled=False)
    actions = list(
        AuditEvent.objects.filter(action__startswith="connector.").values_list("action", flat=True)
    )
    assert sorted(actions) == ["connector.disabled", "connector.enabled"]


def test_an_unknown_connector_is_a_clear_error(people: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        services.connector_enable(
            actor=people["admin"], workspace=people["workspace"], key="nope", enabled=True
        )
    assert refused.value.message_dict == {"connector": ["there is no connector 'nope'"]}


def test_a_connection_needs_its_connector_enabled(people: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="not enabled in this workspace"):
        services.connection_create(
            actor=people["analyst"],
            workspace=people["workspace"],
            kind="personal",
            connector_key="http",
            name="x",
            auth_method="none",
            settings={"base_url": "https://api.example.com"},
        )
    assert not Connection.objects.exists()


def test_bad_input_names_each_field_and_writes_nothing(people: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        personal(
            people,
            settings={"base_url": "ftp://x", "extra": 1},
            credentials={"token": ""},
        )
    errors = refused.value.message_dict
    assert "settings.base_url" in errors and "settings.extra" in errors
    with pytest.raises(ValidationError) as refused:
        personal(people, credentials={"token": "t", "password": "p"})
    assert refused.value.message_dict["credentials"] == ["unknown field(s) for Bearer token: password"]
    with pytest.raises(ValidationError, match="offers no scope admin"):
        personal(people, scopes=["admin"])
    with pytest.raises(ValidationError, match="credentials belong in the connection"):
        personal(people, settings={"base_url": "https://user:pw@api.example.com"})
    assert not Connection.objects.exists()


def test_credentials_are_sealed_and_bound_to_their_connection(people: dict[str, Any]) -> None:
    first = personal(people)
    second = personal(people, name="Second", credentials={"token": "another-token"})
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM connections_connection")
        stored = [bytes(row[0]) for row in cursor.fetchall()]
    assert all(CANARY.encode() not in value for value in stored)
    # A ciphertext moved to another connection does not open there (rule 10).
    with db.cursor() as cursor:
        cursor.execute(
            "UPDATE connections_connection SET credentials = (SELECT credentials FROM connections_connection "
            "WHERE id = %s) WHERE id = %s",
            [
                first.id.hex if db.vendor == "sqlite" else first.id,
                second.id.hex if db.vendor == "sqlite" else second.id,
            ],
        )
    moved = Connection.objects.get(pk=second.pk)
    with pytest.raises(SealedValueError, match="connections_connection row"):
        _ = moved.credentials


def test_operators_and_service_accounts_create_no_personal_connection(people: dict[str, Any]) -> None:
    with pytest.raises(Forbidden, match="connection:create"):
        personal(people, owner="operator")
    services.connector_enable(actor=people["admin"], workspace=people["workspace"], key="http", enabled=True)
    with pytest.raises(Forbidden, match="belongs to a person"):
        services.connection_create(
            actor=SYSTEM,
            workspace=people["workspace"],
            kind="personal",
            connector_key="http",
            name="x",
            auth_method="none",
            settings={"base_url": "https://api.example.com"},
        )


def test_company_connections_are_the_admins_and_linked_by_each_user(people: dict[str, Any]) -> None:
    services.connector_enable(actor=people["admin"], workspace=people["workspace"], key="http", enabled=True)
    fields: dict[str, Any] = {
        "kind": "company",
        "connector_key": "http",
        "name": "CRM",
        "auth_method": "basic",
        "settings": {"base_url": "https://crm.example.com"},
        "credentials": {"username": "svc", "password": CANARY},
        "scopes": ["read", "write"],
    }
    with pytest.raises(Forbidden, match="connector:manage"):
        services.connection_create(actor=people["analyst"], workspace=people["workspace"], **fields)
    crm = services.connection_create(actor=people["admin"], workspace=people["workspace"], **fields)
    shown = selectors.connections_list(actor=people["operator"], workspace=people["workspace"])
    assert [v.connection.name for v in shown] == ["CRM"]
    assert shown[0].credentials == {} and not shown[0].may_edit
    services.connection_link(actor=people["operator"], workspace=people["workspace"], connection_id=crm.id)
    assert ConnectionLink.objects.filter(connection=crm, user=people["operator"]).exists()
    services.connection_unlink(actor=people["operator"], workspace=people["workspace"], connection_id=crm.id)
    assert not ConnectionLink.objects.exists()
    admin_view = selectors.connection_detail(
        actor=people["admin"], workspace=people["workspace"], connection_id=crm.id
    )
    assert admin_view.credentials == {"User name": "svc", "Password": selectors.MASK}


def test_rule_06_a_personal_connection_is_hidden_from_everyone_but_its_owner_and_admins(
    people: dict[str, Any],
) -> None:
    mine = personal(people)
    workspace = people["workspace"]
    assert selectors.connections_list(actor=people["operator"], workspace=workspace) == []
    with pytest.raises(NotFound):
        selectors.connection_detail(actor=people["operator"], workspace=workspace, connection_id=mine.id)
    with pytest.raises(NotFound):
        selectors.connection_detail(
            actor=people["other_admin"], workspace=people["other"], connection_id=mine.id
        )
    # The Admin sees that it exists, and nothing of its settings or credentials.
    seen = selectors.connection_detail(actor=people["admin"], workspace=workspace, connection_id=mine.id)
    assert seen.owner == "analyst@example.com" and seen.settings == {} and seen.credentials == {}
    with pytest.raises(Forbidden):
        services.connection_update(
            actor=people["admin"], workspace=workspace, connection_id=mine.id, scopes=["write"]
        )
    with pytest.raises(Forbidden):
        services.connection_test(actor=people["admin"], workspace=workspace, connection_id=mine.id)
    with pytest.raises(Forbidden):
        services.connection_test(actor=SYSTEM, workspace=workspace, connection_id=mine.id)
    # ...and may revoke it.
    services.connection_revoke(actor=people["admin"], workspace=workspace, connection_id=mine.id)
    assert not Connection.objects.exists()
    event = AuditEvent.objects.get(action="connection.revoked")
    assert CANARY not in str(event.details)


def test_the_owner_changes_scopes_and_actions(people: dict[str, Any]) -> None:
    mine = personal(people)
    assert mine.enabled_actions == ["get", "post", "put", "patch", "delete"]
    changed = services.connection_update(
        actor=people["analyst"],
        workspace=people["workspace"],
        connection_id=mine.id,
        scopes=["read", "write"],
        enabled_actions=["get"],
    )
    assert changed.granted_scopes == ["read", "write"] and changed.enabled_actions == ["get"]
    with pytest.raises(ValidationError, match="has no action fly"):
        services.connection_update(
            actor=people["analyst"],
            workspace=people["workspace"],
            connection_id=mine.id,
            enabled_actions=["fly"],
        )
