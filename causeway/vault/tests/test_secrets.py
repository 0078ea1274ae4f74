"""Write-only secrets: set, replace, delete, list without values, resolve only for allowed hosts."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from django.core.exceptions import ValidationError

from causeway.vault.masking import mask
from causeway.vault.models import Secret
from causeway.vault.secrets import (
    SecretNotFoundError,
    SecretRefusedError,
    secret_delete,
    secret_info,
    secret_list,
    secret_resolve_for_destination,
    secret_set,
)

VALUE = "sk-live-canary-90210"


@pytest.mark.django_db
def test_set_creates_then_replaces_and_reports_each_change_without_the_value(sink):
    workspace, actor, other_actor = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    created = secret_set(
        actor_id=actor,
        workspace_id=workspace,
        name="STRIPE_KEY",
        value=VALUE,
        allowed_hosts=["API.Stripe.com."],
        on_change=sink,
    )
    assert created.allowed_hosts == ("api.stripe.com",)
    assert created.created_by == actor
    replaced = secret_set(
        actor_id=other_actor, workspace_id=workspace, name="STRIPE_KEY", value="second-value", on_change=sink
    )
    assert replaced.id == created.id
    assert (replaced.created_by, replaced.updated_by) == (actor, other_actor)
    assert replaced.allowed_hosts == ()
    assert Secret.objects.get(pk=created.id).value == "second-value"
    assert sink.actions == ["secret.created", "secret.replaced"]
    assert sink.events[0].target == ("secret", str(created.id), "STRIPE_KEY")
    assert sink.events[0].workspace_id == workspace
    assert VALUE not in repr(sink.events) and "second-value" not in repr(sink.events)
    # The process that saw the value masks it from now on.
    assert mask(f"key={VALUE}") == "key=[masked:STRIPE_KEY]"


@pytest.mark.django_db
def test_list_and_info_never_carry_the_value(sink, django_assert_num_queries):
    workspace = uuid.uuid4()
    secret_set(actor_id=None, workspace_id=workspace, name="B", value=VALUE, on_change=sink)
    secret_set(actor_id=None, workspace_id=workspace, name="A", value="other-value", on_change=sink)
    secret_set(actor_id=None, workspace_id=uuid.uuid4(), name="C", value="elsewhere", on_change=sink)
    with django_assert_num_queries(1):
        listed = secret_list(workspace_id=workspace)
    assert [s.name for s in listed] == ["A", "B"]
    assert "value" not in {f.name for f in dataclasses.fields(listed[0])}
    assert VALUE not in repr(listed)
    assert secret_info(workspace_id=workspace, name="B").name == "B"
    with pytest.raises(SecretNotFoundError):
        secret_info(workspace_id=workspace, name="C")


@pytest.mark.django_db
def test_delete_removes_it_and_reports_it(sink):
    workspace = uuid.uuid4()
    info = secret_set(actor_id=None, workspace_id=workspace, name="GONE", value=VALUE, on_change=sink)
    secret_delete(actor_id=None, workspace_id=workspace, name="GONE", on_change=sink)
    assert not Secret.objects.filter(pk=info.id).exists()
    assert sink.events[-1].action == "secret.deleted"
    assert sink.events[-1].target == ("secret", str(info.id), "GONE")
    with pytest.raises(SecretNotFoundError, match="no secret named 'GONE'"):
        secret_delete(actor_id=None, workspace_id=workspace, name="GONE", on_change=sink)


@pytest.mark.django_db
def test_a_change_whose_audit_fails_does_not_happen():
    workspace = uuid.uuid4()

    def audit_down(event):
        raise RuntimeError("audit unavailable")

    with pytest.raises(RuntimeError):
        secret_set(actor_id=None, workspace_id=workspace, name="X", value=VALUE, on_change=audit_down)
    assert not Secret.objects.filter(workspace_id=workspace).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "1starts-with-digit"}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"value": ""}, "value"),
        ({"value": "x" * (64 * 1024 + 1)}, "value"),
        ({"allowed_hosts": ["not a host"]}, "allowed_hosts"),
        ({"allowed_hosts": [42]}, "allowed_hosts"),
        ({"allowed_hosts": [f"h{i}.example.com" for i in range(51)]}, "allowed_hosts"),
    ],
)
def test_bad_input_is_refused_naming_the_field(sink, changes, field):
    arguments = {"name": "GOOD", "value": VALUE, "allowed_hosts": ()} | changes
    with pytest.raises(ValidationError) as refused:
        secret_set(actor_id=None, workspace_id=uuid.uuid4(), on_change=sink, **arguments)
    assert set(refused.value.message_dict) == {field}
    assert sink.events == []


@pytest.mark.django_db
def test_resolve_sends_only_to_allowed_hosts_and_records_every_attempt(sink):
    workspace = uuid.uuid4()
    secret_set(
        actor_id=None,
        workspace_id=workspace,
        name="GH",
        value=VALUE,
        allowed_hosts=["api.github.com", "*.githubusercontent.com"],
        on_change=sink,
    )
    context = {"job_id": "job-1", "step": "2"}
    assert (
        secret_resolve_for_destination(
            workspace_id=workspace, name="GH", host="API.GITHUB.COM", on_use=sink, context=context
        )
        == VALUE
    )
    assert (
        secret_resolve_for_destination(
            workspace_id=workspace, name="GH", host="raw.githubusercontent.com", on_use=sink
        )
        == VALUE
    )
    with pytest.raises(SecretRefusedError) as refused:
        secret_resolve_for_destination(
            workspace_id=workspace, name="GH", host="evil.example.net", on_use=sink, context=context
        )
    assert str(refused.value) == (
        "secret 'GH' may not be sent to evil.example.net: "
        "it may go only to api.github.com, *.githubusercontent.com"
    )
    with pytest.raises(SecretRefusedError, match=r"githubusercontent\.com"):
        secret_resolve_for_destination(
            workspace_id=workspace, name="GH", host="githubusercontent.com", on_use=sink
        )
    with pytest.raises(SecretRefusedError, match="is not a host name"):
        secret_resolve_for_destination(workspace_id=workspace, name="GH", host="http://x y", on_use=sink)
    uses = sink.events[1:]
    assert [(e.action, e.outcome, e.details.get("host")) for e in uses] == [
        ("secret.used", "success", "api.github.com"),
        ("secret.used", "success", "raw.githubusercontent.com"),
        ("secret.use_refused", "denied", "evil.example.net"),
        ("secret.use_refused", "denied", "githubusercontent.com"),
        ("secret.use_refused", "denied", "http://x y"),
    ]
    assert uses[0].details == {"job_id": "job-1", "step": "2", "host": "api.github.com"}
    assert VALUE not in repr(sink.events)


@pytest.mark.django_db(transaction=True)
def test_a_refused_attempt_stays_on_record_although_the_step_fails():
    workspace = uuid.uuid4()
    secret_set(
        actor_id=None,
        workspace_id=workspace,
        name="K",
        value=VALUE,
        allowed_hosts=["a.example"],
        on_change=lambda e: None,
    )
    recorded = []

    def record_in_database(event):
        # Stands for the audit row: written in the same transaction as the refusal.
        Secret.objects.create(workspace_id=workspace, name=f"audit-{len(recorded)}", value=event.action)
        recorded.append(event)

    with pytest.raises(SecretRefusedError):
        secret_resolve_for_destination(
            workspace_id=workspace, name="K", host="b.example", on_use=record_in_database
        )
    assert Secret.objects.get(workspace_id=workspace, name="audit-0").value == "secret.use_refused"


@pytest.mark.django_db
def test_resolving_an_unknown_secret_says_so(sink):
    with pytest.raises(SecretNotFoundError, match="no secret named 'NOPE'"):
        secret_resolve_for_destination(workspace_id=uuid.uuid4(), name="NOPE", host="a.example", on_use=sink)


@pytest.mark.django_db
def test_a_secret_without_allowed_hosts_may_go_anywhere(sink):
    workspace = uuid.uuid4()
    secret_set(actor_id=None, workspace_id=workspace, name="ANY", value=VALUE, on_change=sink)
    assert (
        secret_resolve_for_destination(workspace_id=workspace, name="ANY", host="x.example", on_use=sink)
        == VALUE
    )


@pytest.mark.django_db
def test_duplicate_allowed_hosts_are_kept_once_and_info_names_its_audit_target(sink):
    info = secret_set(
        actor_id=None,
        workspace_id=uuid.uuid4(),
        name="DUP",
        value=VALUE,
        allowed_hosts=["a.example", "A.example.", "*.b.example", "*.B.example"],
        on_change=sink,
    )
    assert info.allowed_hosts == ("a.example", "*.b.example")
    assert info.audit_target == ("secret", str(info.id), "DUP")
    assert str(Secret.objects.get(pk=info.id)) == "secret DUP"


@pytest.mark.django_db
def test_two_creations_of_one_name_at_once_leave_one_and_a_clear_error(sink):
    from django.db.models.signals import pre_save

    workspace = uuid.uuid4()

    def the_other_request_commits_first(sender, instance, **kwargs):
        pre_save.disconnect(the_other_request_commits_first, sender=Secret)
        Secret.objects.create(workspace_id=workspace, name="RACE", value="the other request's value")

    pre_save.connect(the_other_request_commits_first, sender=Secret)
    try:
        with pytest.raises(ValidationError) as refused:
            secret_set(actor_id=None, workspace_id=workspace, name="RACE", value=VALUE, on_change=sink)
    finally:
        pre_save.disconnect(the_other_request_commits_first, sender=Secret)
    assert refused.value.message_dict == {"name": ["a secret named RACE was created at the same moment"]}
    assert sink.events == []
