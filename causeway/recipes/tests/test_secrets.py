"""Secrets through access: who may do what, and every change and use audited without the value."""

from __future__ import annotations

import json
from typing import Any

import pytest

from causeway.access.errors import Forbidden, NotFound
from causeway.accounts.actors import SYSTEM
from causeway.audit.models import ActorType, AuditEvent, Outcome
from causeway.audit.services import AuditWriteError
from causeway.recipes import secrets
from causeway.recipes.services import project_create, recipe_create
from causeway.vault.masking import registry
from causeway.vault.models import Secret
from causeway.vault.secrets import SecretNotFoundError, SecretRefusedError
from testkit.personas import cast

pytestmark = pytest.mark.django_db

VALUE = "ghp_access-canary-31337"


@pytest.fixture
def acme() -> dict[str, Any]:
    return cast("admin", "operator", "outsider").people(workspace_key="workspace")


@pytest.fixture(autouse=True)
def _empty_mask_registry() -> Any:
    registry.clear()
    yield
    registry.clear()


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_only_admins_and_the_operator_cli_write(acme: dict[str, Any]) -> None:
    workspace = acme["workspace"]
    with pytest.raises(Forbidden) as refused:
        secrets.secret_write(actor=acme["operator"], workspace=workspace, name="X", value=VALUE)
    assert refused.value.perm == "vault:secret:manage"
    with pytest.raises(NotFound):
        secrets.secret_write(actor=acme["outsider"], workspace=workspace, name="X", value=VALUE)
    with pytest.raises(Forbidden):
        secrets.secret_remove(actor=acme["operator"], workspace=workspace, name="X")
    assert not Secret.objects.exists()
    written = secrets.secret_write(actor=SYSTEM, workspace=workspace, name="X", value=VALUE)
    assert written.created and written.row.updated_by == secrets.OPERATOR_LABEL
    assert secrets.can_manage_secrets(acme["admin"], workspace)
    assert not secrets.can_manage_secrets(acme["operator"], workspace)
    with pytest.raises(NotFound):
        secrets.secrets_visible(acme["outsider"], workspace)
    assert [row.name for row in secrets.secrets_visible(acme["operator"], workspace)] == ["X"]


def test_removing_a_missing_secret_is_not_found(acme: dict[str, Any]) -> None:
    with pytest.raises(NotFound):
        secrets.secret_remove(actor=acme["admin"], workspace=acme["workspace"], name="NOPE")


def test_a_secret_whose_audit_event_cannot_be_written_is_not_set(
    acme: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**kwargs: Any) -> None:
        raise AuditWriteError("the audit log is unavailable")

    monkeypatch.setattr(secrets, "audit_record", refuse)
    with pytest.raises(AuditWriteError):
        secrets.secret_write(actor=acme["admin"], workspace=acme["workspace"], name="X", value=VALUE)
    assert not Secret.objects.exists()


def test_allowed_hosts_refuse_another_destination_with_a_reason_and_audit_the_attempt(
    acme: dict[str, Any],
) -> None:
    workspace = acme["workspace"]
    secrets.secret_write(
        actor=acme["admin"], workspace=workspace, name="GITHUB", value=VALUE, allowed_hosts=["api.github.com"]
    )
    with pytest.raises(SecretRefusedError) as refused:
        secrets.secret_use_for_destination(
            actor=acme["operator"],
            workspace_id=workspace.id,
            name="GITHUB",
            host="evil.example.net",
            context={"job": "job-1", "step": "2"},
        )
    assert str(refused.value) == (
        "secret 'GITHUB' may not be sent to evil.example.net: it may go only to api.github.com"
    )
    assert VALUE not in str(refused.value)
    [denied] = events("secret.use_refused")
    assert denied.outcome == Outcome.DENIED
    assert denied.actor_id == str(acme["operator"].id)
    assert denied.workspace_id == workspace.id
    assert denied.target_label == "GITHUB"
    assert denied.details == {"job": "job-1", "step": "2", "host": "evil.example.net"}


def test_allowed_hosts_admit_their_destination_and_record_the_use_without_the_value(
    acme: dict[str, Any],
) -> None:
    workspace = acme["workspace"]
    secrets.secret_write(
        actor=acme["admin"], workspace=workspace, name="GITHUB", value=VALUE, allowed_hosts=["*.github.com"]
    )
    registry.clear()  # a worker process that never saw it being set
    value = secrets.secret_use_for_destination(
        actor=None,
        workspace_id=workspace.id,
        name="GITHUB",
        host="API.GitHub.com",
        context={"job": "job-7", "step": "1"},
    )
    assert value == VALUE
    [used] = events("secret.used")
    assert used.outcome == Outcome.SUCCESS
    assert used.actor_type == ActorType.SYSTEM
    assert used.details == {"job": "job-7", "step": "1", "host": "api.github.com"}
    assert all(VALUE not in json.dumps(event.details) for event in AuditEvent.objects.all())
    assert registry.mask(f"token {VALUE}") == "token [masked:GITHUB]"


def test_an_unknown_secret_cannot_be_used(acme: dict[str, Any]) -> None:
    with pytest.raises(SecretNotFoundError):
        secrets.secret_use_for_destination(
            actor=None, workspace_id=acme["workspace"].id, name="NOPE", host="example.com"
        )


def test_a_value_typed_into_a_host_is_masked_in_the_audit_event(acme: dict[str, Any]) -> None:
    workspace = acme["workspace"]
    secrets.secret_write(
        actor=acme["admin"], workspace=workspace, name="GITHUB", value=VALUE, allowed_hosts=["api.github.com"]
    )
    with pytest.raises(SecretRefusedError):
        secrets.secret_use_for_destination(
            actor=None, workspace_id=workspace.id, name="GITHUB", host=f"https://{VALUE}@evil/"
        )
    [denied] = events("secret.use_refused")
    assert VALUE not in json.dumps(denied.details)
    assert "[masked:GITHUB]" in denied.details["host"]


def test_references_name_the_recipes_the_viewer_may_read_once_each(acme: dict[str, Any]) -> None:
    workspace = acme["workspace"]
    secrets.secret_write(actor=acme["admin"], workspace=workspace, name="A", value=VALUE)
    secrets.secret_write(actor=acme["admin"], workspace=workspace, name="B", value="other-value")
    assert [row.referenced_by for row in secrets.secrets_visible(acme["operator"], workspace)] == [(), ()]
    project = project_create(actor=acme["admin"], workspace=workspace, name="Billing")
    uses_a = {
        "trigger": {"type": "manual"},
        "steps": [
            {
                "id": "s1",
                "type": "http",
                "method": "GET",
                "url": "https://api.example.com/items",
                "headers": {"Authorization": "Bearer {{ secret.A }}", "X-Again": "{{ secret.A }}"},
            }
        ],
    }
    for name in ("Sync invoices", "Alert on failure"):
        recipe_create(actor=acme["admin"], workspace=workspace, project=project, name=name, definition=uses_a)
    rows = secrets.secrets_visible(acme["operator"], workspace)
    assert [(row.name, row.referenced_by) for row in rows] == [
        ("A", ("Alert on failure", "Sync invoices")),
        ("B", ()),
    ]
    with pytest.raises(NotFound):
        secrets.secrets_visible(acme["outsider"], workspace)


def test_audit_details_are_masked_at_every_depth() -> None:
    registry.register("DEEP", "deep-value-2468")
    details = {
        "hosts": ["ok.example", "deep-value-2468"],
        "nested": {"n": 3, "s": "x deep-value-2468"},
        "none": None,
    }
    assert secrets._masked_tree(details) == {
        "hosts": ["ok.example", "[masked:DEEP]"],
        "nested": {"n": 3, "s": "x [masked:DEEP]"},
        "none": None,
    }
