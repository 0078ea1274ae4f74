"""schemathesis runs every check it has over every operation of the OpenAPI document, as the Admin of a
workspace full of real things (projects, recipes, versions, a lookup table, secrets, a service account,
jobs): every answer must be documented, match its schema and media type, and agree with what the
schema calls valid or invalid.

The run is bounded and repeatable: few examples per operation, derandomised, no example database.
Each example runs in a transaction that is rolled back, so every one meets the same world and none
depends on another. Path parameters name that world's objects, so examples reach the services; the
malformed path values are `test_malformed_parameters`' business.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from causeway.accounts.actors import SystemActor
from causeway.recipes.secrets import secret_write
from causeway.tests.access_personas import World, build_world
from causeway.tests.test_permission_matrix import PARAMS

pytestmark = pytest.mark.django_db

BASE = "https://testserver"
EXAMPLES = 6

# Rules no JSON Schema can state, which the service checks on a request the schema calls valid and
# answers 400 naming the field (docs/decisions.md, "The API's contract"). Everything else a request
# can break is in the schema.
RULES_BEYOND_THE_SCHEMA = {
    # A definition's step ids are unique, its cron expression and time zone real, its templates valid.
    "POST /api/v1/workspaces/{workspace_id}/recipes": "definition",
    "POST /api/v1/workspaces/{workspace_id}/recipes/import": "definition",
    "POST /api/v1/workspaces/{workspace_id}/recipes/{recipe_id}/versions": "definition",
    "POST /api/v1/workspaces/{workspace_id}/recipes/{recipe_id}/import": "definition",
    # The key column names one of the columns, and no column name appears twice.
    "POST /api/v1/workspaces/{workspace_id}/lookup-tables": "columns",
    # A row's values name the table's columns and fit their types.
    "PUT /api/v1/workspaces/{workspace_id}/lookup-tables/{table_id}/rows/{key}": "values",
    # A token made with a token does not outlive it.
    "POST /api/v1/me/tokens": "expires_in_days",
    # A code is the one the authenticator app shows now (or an unused recovery code).
    "POST /api/v1/me/mfa/totp/confirm": "code",
    "POST /api/v1/me/mfa/recovery-codes": "code",
    "POST /api/v1/me/mfa/disable": "code",
    # Re-authentication takes the right password, or a right code.
    "POST /api/v1/me/reauthenticate": "password",
    # Requiring a second factor needs the Admin's own first.
    "PATCH /api/v1/workspaces/{workspace_id}": "mfa_required",
    # The password passes the password rules, and the current one is right.
    "POST /api/v1/me/password": "current_password",
    # Host names, addresses and "*." domains, as the service reads them (IDNA, address forms).
    "PUT /api/v1/workspaces/{workspace_id}/outbound-hosts": "hosts",
    "PUT /api/v1/workspaces/{workspace_id}/secrets/{name}": "allowed_hosts",
    # References to what is stored: a role by key, projects by id, a member by email; a project or
    # role still in use is not deleted.
    "PATCH /api/v1/workspaces/{workspace_id}/members/{member_id}": "role",
    "POST /api/v1/workspaces/{workspace_id}/invitations": "email",
    "POST /api/v1/workspaces/{workspace_id}/roles": "projects",
    "PATCH /api/v1/workspaces/{workspace_id}/roles/{role_id}": "projects",
    "DELETE /api/v1/workspaces/{workspace_id}/roles/{role_id}": "role",
    "DELETE /api/v1/workspaces/{workspace_id}/projects/{project_id}": "project",
    "PATCH /api/v1/workspaces/{workspace_id}/groups/{group_id}": "roles",
    "POST /api/v1/workspaces/{workspace_id}/groups/{group_id}/members": "member",
    # A group mapping names an identity provider by its slug, and a group of this workspace that does
    # not carry the Admin role; one value maps to one group once.
    "POST /api/v1/workspaces/{workspace_id}/group-mappings": "provider",
    "PUT /api/v1/workspaces/{workspace_id}/recipes/{recipe_id}/grants": "grantee",
    "PATCH /api/v1/me": "email",
    # A connector by key, and what it says: its auth methods' fields, its settings, its scopes and actions.
    "POST /api/v1/workspaces/{workspace_id}/connections": "connector",
    "PATCH /api/v1/workspaces/{workspace_id}/connections/{connection_id}": "scopes",
    # A declarative connector's document, checked against its own schema (each error named by its path).
    "POST /api/v1/workspaces/{workspace_id}/custom-connectors": "document",
    # An OAuth profile names a connector by key that signs in with OAuth 2.0, scopes it offers, and
    # endpoints that are http(s) URLs with a host.
    "POST /api/v1/workspaces/{workspace_id}/oauth-profiles": "connector",
    "PATCH /api/v1/workspaces/{workspace_id}/oauth-profiles/{profile_id}": "default_scopes",
    # Only a company connection is linked (the world's connection id names a personal one).
    "PUT /api/v1/workspaces/{workspace_id}/connections/{connection_id}/link": "connection",
    "DELETE /api/v1/workspaces/{workspace_id}/connections/{connection_id}/link": "connection",
    # A SAML provider's metadata is an identity provider's, with its certificate and sign-on endpoint.
    "POST /api/v1/platform/identity-providers/saml": "metadata",
    "PATCH /api/v1/platform/identity-providers/{provider_id}": "metadata",
    # An API collection's project is one the caller may edit; an endpoint's recipe is one of its project's,
    # triggered by API calls; its schemas are valid JSON Schemas; a client's collections exist and its
    # sources are addresses or networks.
    "POST /api/v1/workspaces/{workspace_id}/api-collections": "project_id",
    "POST /api/v1/workspaces/{workspace_id}/api-collections/{collection_id}/endpoints": "recipe_id",
    "PUT /api/v1/workspaces/{workspace_id}/api-collections/{collection_id}/endpoints/{endpoint_id}": (
        "recipe_id"
    ),
    # A watch tells by email, through a connection the watcher may use (by id), or both: not by neither.
    "PUT /api/v1/workspaces/{workspace_id}/recipes/{recipe_id}/watch": "connection_id",
    "POST /api/v1/workspaces/{workspace_id}/api-clients": "collection_ids",
    "PATCH /api/v1/workspaces/{workspace_id}/api-clients/{client_id}": "allowed_sources",
    # A range of days ends on or after the day it starts.
    "GET /api/v1/workspaces/{workspace_id}/jobs": "until",
    "GET /api/v1/workspaces/{workspace_id}/audit-events": "until",
}


@pytest.fixture
def in_process() -> Iterator[None]:
    # Requests run inside the test's transaction, as Django's own test client runs them.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _config() -> Any:
    return schemathesis.Config.from_dict(
        {
            # Text holding NUL is refused everywhere (the strict input base), as the API's description says.
            "generation": {"allow-x00": False, "deterministic": True},
            "operations": [
                {
                    "include-name": name,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "400", "401", "403", "404", "409"]
                        }
                    },
                }
                for name in RULES_BEYOND_THE_SCHEMA
            ],
        }
    )


def _path_values(world: World) -> dict[str, str]:
    values = {name: str(make(world)) for name, make in PARAMS.items()}
    values |= {"token_id": str(world.robot_token.id), "account_id": str(world.robot.id)}
    return values


def test_schemathesis_finds_nothing_wrong_with_any_operation(in_process: None) -> None:
    world = build_world()
    system = SystemActor(label="test")
    secret_write(actor=system, workspace=world.ws, name="MISSING_SECRET", value="a-value", allowed_hosts=[])
    token = world.tokens["admin"]
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/openapi.json",
        WSGIHandler(),
        config=_config(),
        headers={"Authorization": f"Bearer {token}"},
        base_url=BASE,
    )
    values = _path_values(world)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50
    failures: list[str] = []
    for operation in operations:
        path_values = {
            p.name: _path_value(p.name, operation.path, values, world) for p in operation.path_parameters
        }
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_values)
            try:
                failures += _run(operation, strategy, token)
            except Unsatisfiable:
                # Nothing of this operation's request can be made invalid (no body, no query, and
                # its path parameters are the world's): there is no negative example to send.
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert failures == [], "schemathesis found:\n" + "\n".join(failures)


def _path_value(name: str, path: str, values: dict[str, str], world: World) -> str:
    if name == "member_id":
        return str(world.group_member.id if "/groups/" in path else world.operator_membership.id)
    if name == "session_id":
        return str(world.ids["break_glass_request"])
    if name == "provider_id":
        return str(world.ids["identity_provider"])
    return values[name]


def _run(operation: Any, strategy: Any, token: str) -> list[str]:
    from causeway.audit.refusals import counts_forget_all, counts_in_database
    from causeway.vault.keysets import forget_cached_keysets

    found: list[str] = []

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        with transaction.atomic():
            try:
                case.call_and_validate(base_url=BASE, headers={"Authorization": f"Bearer {token}"})
            except BaseException as exc:
                for failure in getattr(exc, "exceptions", [exc]):
                    first = str(failure).strip().splitlines()[0] if str(failure).strip() else ""
                    label = f"{operation.label}: {type(failure).__name__}: {first}"
                    if label not in found:
                        found.append(label)
                        found.append("    " + str(exc).replace("\n", "\n    ")[:1500])
            transaction.set_rollback(True)
        forget_cached_keysets()
        # Refused calls counted in Redis outlive the rollback; in the database they went with it.
        if not counts_in_database():
            counts_forget_all()

    run()
    return found
