"""A unique constraint's refusal names the field the person gave, on SQLite and PostgreSQL alike;
any other integrity error is raised as it was."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from causeway.access.models import Group, GroupMember
from causeway.accounts.models import User
from causeway.db import CONFLICT, clashing_fields, conflict_named, save_or_conflict
from causeway.workspaces.models import ServiceAccount, Workspace
from testkit.support import make_user, make_workspace

pytestmark = pytest.mark.django_db


def _refusal(raised: pytest.ExceptionInfo[ValidationError]) -> tuple[str, str, str | None]:
    ((field, errors),) = raised.value.error_dict.items()
    (error,) = errors
    return field, error.message, error.code


def test_a_named_constraint_names_its_field() -> None:
    workspace = make_workspace("Acme")
    Group.objects.create(workspace=workspace, name="ops")
    with pytest.raises(ValidationError) as refused:
        save_or_conflict(
            Group(workspace=workspace, name="ops"), field="name", message="taken", force_insert=True
        )
    assert _refusal(refused) == ("name", "taken", CONFLICT)
    assert isinstance(refused.value.__cause__, IntegrityError)
    assert clashing_fields(Group, refused.value.__cause__) == {"workspace", "name"}


def test_a_unique_column_names_its_field() -> None:
    make_workspace("Acme")
    with pytest.raises(ValidationError) as refused:
        with conflict_named(Workspace, "slug", "is already used"):
            Workspace.objects.create(name="Other", slug="acme")
    assert _refusal(refused) == ("slug", "is already used", CONFLICT)
    assert clashing_fields(Workspace, refused.value.__cause__) == {"slug"}  # type: ignore[arg-type]


def test_a_partial_unique_index_names_the_field_people_see() -> None:
    workspace = make_workspace("Acme")
    group = Group.objects.create(workspace=workspace, name="ops")
    account = ServiceAccount.objects.create(workspace=workspace, name="robot")
    GroupMember.objects.create(group=group, service_account=account)
    with pytest.raises(ValidationError) as refused:
        save_or_conflict(
            GroupMember(group=group, service_account=account),
            field="member",
            message="is already in this group",
            on=("user", "service_account"),
            force_insert=True,
        )
    assert _refusal(refused) == ("member", "is already in this group", CONFLICT)


def test_the_savepoint_keeps_the_outer_transaction_usable() -> None:
    workspace = make_workspace("Acme")
    Group.objects.create(workspace=workspace, name="ops")
    with transaction.atomic():
        with pytest.raises(ValidationError):
            save_or_conflict(
                Group(workspace=workspace, name="ops"), field="name", message="taken", force_insert=True
            )
        Group.objects.create(workspace=workspace, name="dev")
    assert sorted(Group.objects.values_list("name", flat=True)) == ["dev", "ops"]


def test_a_clash_on_another_constraint_is_not_the_persons_doing() -> None:
    workspace = make_workspace("Acme")
    Group.objects.create(workspace=workspace, name="ops")
    with pytest.raises(IntegrityError):
        save_or_conflict(
            Group(workspace=workspace, name="ops"), field="slug", message="taken", force_insert=True
        )


def test_a_check_constraint_is_raised_as_it_was() -> None:
    group = Group.objects.create(workspace=make_workspace("Acme"), name="ops")
    with pytest.raises(IntegrityError) as raised:
        save_or_conflict(
            GroupMember(group=group), field="member", message="taken", on=("user",), force_insert=True
        )
    assert clashing_fields(GroupMember, raised.value) is None


def test_a_changed_email_that_is_taken_names_the_email_field() -> None:
    make_user("ada@example.com")
    other = make_user("grace@example.com")
    other.email = "ADA@example.com"
    other.email_index = User.objects.with_email("ada@example.com").values_list("email_index", flat=True).get()
    with pytest.raises(ValidationError) as refused:
        with conflict_named(User, "email", "already used", on=("email_index",)):
            other.save(update_fields=["email", "email_index"])
    assert _refusal(refused) == ("email", "already used", CONFLICT)
