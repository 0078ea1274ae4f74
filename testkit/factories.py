"""factory_boy factories for the rows tests stand on.

Rows an application service writes (projects, folders, recipes and their versions, roles, service
accounts, tokens) are made by that service, acting as the system, so each one comes with what the
service writes beside it: the creator's grants, the first version, the audit events, the token's
digest. Rows a worker or a seed writes (memberships, jobs, job steps) are inserted as they would be.

Each factory's `create(...)` takes the model's own field names; `build(...)` is not offered for rows
made by a service.
"""

from __future__ import annotations

from typing import Any

import factory
from django.utils import timezone
from django.utils.text import slugify
from factory.django import DjangoModelFactory

from testkit import STRONG_PASSWORD

# A definition with one step that needs nothing from outside: what most tests run.
MANUAL: dict[str, Any] = {
    "trigger": {"type": "manual"},
    "steps": [{"id": "s1", "type": "map", "fields": {"a": "1"}}],
}


def system_actor() -> Any:
    """The actor the factories act as: the platform itself, which every service lets write."""
    from causeway.accounts.actors import SystemActor

    return SystemActor(label="test")


def system_role(key: str, workspace: Any = None) -> Any:
    """A role by its key: a seeded system role (`admin`, `analyst`, `operator`), or a workspace's own."""
    from causeway.workspaces.models import Role

    return Role.objects.get(workspace=workspace, key=key)


def seed_system_roles() -> None:
    """The system roles as their data migration writes them (a committing test's flush removes them)."""
    from causeway.access.seed import ensure_system_roles

    ensure_system_roles()


class UserFactory(DjangoModelFactory):
    """A person with the tests' one password; `staff=True` for a platform administrator."""

    class Meta:
        model = "accounts.User"

    class Params:
        staff = factory.Trait(user_type="staff")

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = "Ada"
    last_name = "Lovelace"
    user_type = "standard"
    password = STRONG_PASSWORD

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        return model_class.objects.create_user(*args, **kwargs)


class WorkspaceFactory(DjangoModelFactory):
    """A workspace; `members={user: role_key}` makes each user a member with that system role."""

    class Meta:
        model = "workspaces.Workspace"

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))
    members: Any = None

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        members = kwargs.pop("members") or {}
        workspace = super()._create(model_class, *args, **kwargs)
        for user, role_key in members.items():
            MembershipFactory.create(workspace=workspace, user=user, role=system_role(role_key))
        return workspace


class MembershipFactory(DjangoModelFactory):
    """A user's place in a workspace; the role is a system role named by `role_key` unless given."""

    class Meta:
        model = "workspaces.Membership"

    class Params:
        role_key = "operator"

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = factory.LazyAttribute(lambda o: system_role(o.role_key))


class _ServiceMade(DjangoModelFactory):
    """Rows made by an application service: `_make` calls it with the factory's attributes."""

    class Meta:
        abstract = True

    @classmethod
    def _make(cls, **kwargs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        return cls._make(**kwargs)

    @classmethod
    def _build(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{cls.__name__} makes its rows through a service; use create()")


class RoleFactory(_ServiceMade):
    """A custom role of a workspace; `projects` limits it to those projects."""

    class Meta:
        model = "workspaces.Role"

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Custom role {n}")
    permissions: Any = factory.LazyFunction(list)
    projects: Any = None

    @classmethod
    def _make(cls, **kwargs: Any) -> Any:
        from causeway.recipes.roles import role_create

        projects = kwargs.pop("projects")
        return role_create(
            actor=system_actor(),
            all_projects=projects is None,
            project_ids=[p.id for p in projects or ()],
            **kwargs,
        )


class ProjectFactory(_ServiceMade):
    class Meta:
        model = "recipes.Project"

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    environment = "dev"
    actor: Any = factory.LazyFunction(system_actor)

    @classmethod
    def _make(cls, **kwargs: Any) -> Any:
        from causeway.recipes.services import project_create

        return project_create(**kwargs)


class FolderFactory(_ServiceMade):
    class Meta:
        model = "recipes.Folder"

    project = factory.SubFactory(ProjectFactory)
    workspace = factory.SelfAttribute("project.workspace")
    name = factory.Sequence(lambda n: f"Folder {n}")
    parent: Any = None
    actor: Any = factory.LazyFunction(system_actor)

    @classmethod
    def _make(cls, **kwargs: Any) -> Any:
        from causeway.recipes.services import folder_create

        return folder_create(**kwargs)


class RecipeFactory(_ServiceMade):
    """A recipe and its first version; made by `actor`, who gets the creator's four grants."""

    class Meta:
        model = "recipes.Recipe"

    project = factory.SubFactory(ProjectFactory)
    workspace = factory.SelfAttribute("project.workspace")
    name = factory.Sequence(lambda n: f"Recipe {n}")
    definition: Any = factory.LazyFunction(lambda: MANUAL)
    actor: Any = factory.LazyFunction(system_actor)

    @classmethod
    def _make(cls, **kwargs: Any) -> Any:
        from causeway.recipes.services import recipe_create

        return recipe_create(**kwargs)


class LookupTableFactory(_ServiceMade):
    """A lookup table, by default keyed by a `code` column with a `label` beside it."""

    class Meta:
        model = "recipes.LookupTable"

    project = factory.SubFactory(ProjectFactory)
    workspace = factory.SelfAttribute("project.workspace")
    name = factory.Sequence(lambda n: f"Table {n}")
    columns: Any = factory.LazyFunction(
        lambda: [{"name": "code", "type": "text"}, {"name": "label", "type": "text"}]
    )
    key_column = "code"
    actor: Any = factory.LazyFunction(system_actor)

    @classmethod
    def _make(cls, **kwargs: Any) -> Any:
        from causeway.recipes.services import lookup_table_create

        return lookup_table_create(**kwargs)


class RecipeVersionFactory(_ServiceMade):
    """A recipe's next version, saved by `actor`; the recipe is read again so it names it as current."""

    class Meta:
        model = "recipes.RecipeVersion"

    recipe = factory.SubFactory(RecipeFactory)
    definition: Any = factory.LazyFunction(lambda: MANUAL)
    message = ""
    actor: Any = factory.LazyFunction(system_actor)

    @classmethod
    def _make(cls, **kwargs: Any) -> Any:
        from causeway.recipes.services import recipe_save

        version = recipe_save(**kwargs)
        kwargs["recipe"].refresh_from_db()
        return version


class JobFactory(DjangoModelFactory):
    """A job of the recipe's current version as a worker leaves one; `created_at` backdates it."""

    class Meta:
        model = "runs.Job"

    recipe = factory.SubFactory(RecipeFactory)
    workspace_id = factory.SelfAttribute("recipe.workspace_id")
    version = factory.SelfAttribute("recipe.current_version")
    environment = factory.LazyAttribute(lambda o: o.recipe.project.environment)
    status = "succeeded"
    trigger_type = "manual"
    is_test = False
    run_by_user: Any = None
    run_by_service_account: Any = None
    error: Any = None
    trigger_payload: Any = None
    rerun_of: Any = None
    created_at: Any = None

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        created_at = kwargs.pop("created_at", None)
        job = super()._create(model_class, *args, **kwargs)
        if created_at is not None:
            model_class.objects.filter(pk=job.pk).update(created_at=created_at)
            job.refresh_from_db()
        return job


class JobStepFactory(DjangoModelFactory):
    """One finished step of a job, as the engine records it."""

    class Meta:
        model = "runs.JobStep"

    job = factory.SubFactory(JobFactory)
    workspace_id = factory.SelfAttribute("job.workspace_id")
    path = "s1"
    position = 0
    step_type = "http"
    status = "succeeded"
    input: Any = None
    output: Any = None
    error: Any = None
    attempts = 1
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.SelfAttribute("started_at")
    duration_ms = 12


class ServiceAccountFactory(_ServiceMade):
    class Meta:
        model = "workspaces.ServiceAccount"

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"robot-{n}")

    @classmethod
    def _make(cls, **kwargs: Any) -> Any:
        from causeway.access.services import service_account_create

        return service_account_create(actor=system_actor(), **kwargs)


class ServiceAccountTokenFactory(_ServiceMade):
    """A service account's token; its secret, shown once, is kept on the row as `secret`."""

    class Meta:
        model = "workspaces.ApiToken"

    service_account = factory.SubFactory(ServiceAccountFactory)
    name = "ci"
    expires_in_days = 30

    @classmethod
    def _make(cls, **kwargs: Any) -> Any:
        from causeway.access.services import service_account_token_create

        account = kwargs.pop("service_account")
        token, secret = service_account_token_create(
            actor=system_actor(), workspace=account.workspace, account=account, **kwargs
        )
        setattr(token, "secret", secret)  # noqa: B010  (no such field: kept on this row only)
        return token


class ApiTokenFactory(_ServiceMade):
    """A person's API token, made by that person; its secret is kept on the row as `secret`."""

    class Meta:
        model = "workspaces.ApiToken"

    user = factory.SubFactory(UserFactory)
    name = "t"
    expires_in_days = 365

    @classmethod
    def _make(cls, **kwargs: Any) -> Any:
        from causeway.workspaces.tokens import token_create

        token, secret = token_create(actor=kwargs.pop("user"), **kwargs)
        setattr(token, "secret", secret)  # noqa: B010  (no such field: kept on this row only)
        return token
