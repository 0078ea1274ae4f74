"""Projects, folders, recipes and their immutable versions, lookup tables, and a user's bookmarks;
the per-recipe grants and the roles' project scopes, which name them (the policy reads them here).

A recipe's definition and every lookup-table row are sealed under the workspace's keyset (rule 10).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from causeway.access.models import Group
from causeway.access.perms import (
    ADMIN_ONLY,
    CAPABILITIES,
    CAPABILITY_NAMES,
    ON_ONE_RECIPE,
    RECIPE_SCOPED,
    Environment,
    Perm,
    granted,
)
from causeway.access.policy import (
    EVERYTHING,
    NOTHING,
    SERVICE_ACCOUNT_PERMS,
    Actor,
    ScopedRole,
    Standing,
    restrict,
)
from causeway.connections.models import Connection
from causeway.vault.fields import SealedJSONField
from causeway.workspaces.models import Role, ServiceAccount, Workspace

ENVIRONMENT_CHOICES = [(e.value, e.name) for e in Environment]


# Role project scopes, as the policy's answers read them.


def project_scopes(st: Standing) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
    """The projects each of the actor's roles scoped to chosen projects covers: read in one query on
    first need and kept on the standing for the rest of the call."""
    missing = {s.role.id for s in st.roles if not s.all_projects} - st.project_scopes.keys()
    if missing:
        found: dict[uuid.UUID, set[uuid.UUID]] = {pk: set() for pk in missing}
        for role_id, project_id in _scoped_copies(Q(role_id__in=missing)):
            found[role_id].add(project_id)
        st.project_scopes.update({pk: frozenset(ids) for pk, ids in found.items()})
    return st.project_scopes


def _scoped_copies(which: Q) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(role, project copy) for every copy of the projects the chosen scopes name: a role scoped to a
    project covers it in all three environments (each environment's ceiling still applies)."""
    scoped = list(RoleProject.objects.filter(which).values_list("role_id", "project__family"))
    families: dict[uuid.UUID, list[uuid.UUID]] = {}
    if scoped:
        for family, pk in Project.objects.filter(family__in={f for _, f in scoped}).values_list(
            "family", "pk"
        ):
            families.setdefault(family, []).append(pk)
    return [(role_id, pk) for role_id, family in scoped for pk in families.get(family, [])]


def roles_covering(st: Standing, project_id: uuid.UUID) -> tuple[ScopedRole, ...]:
    """The actor's roles that cover the project: those over all projects, and those scoped to it."""
    scopes = project_scopes(st)
    return tuple(s for s in st.roles if s.all_projects or project_id in scopes.get(s.role.id, frozenset()))


def role_projects(role: Role) -> frozenset[uuid.UUID]:
    """The projects a role scoped to chosen projects covers (none recorded for a role over all)."""
    if role.all_projects or role.pk is None:
        return frozenset()
    return frozenset(pk for _, pk in _scoped_copies(Q(role=role)))


# Lists through the policy (rule 1): each content model's `objects.visible_to(actor, perm)`.


def role_project_filter(st: Standing, perm: Perm, project_field: str, env_field: str) -> Q:
    """Rows in projects where one of the actor's roles gives `perm`, within the environments that
    allow it (humans only: service accounts take nothing from roles)."""
    if st.system:
        return EVERYTHING
    if not st.human or not st.member:
        return NOTHING
    if perm in ADMIN_ONLY and not st.is_admin:
        return NOTHING
    envs = st.environments_allowing(perm)
    if not envs:
        return NOTHING
    holding_roles = [s for s in st.roles if perm in s.perms]
    if not holding_roles:
        return NOTHING
    env_q = EVERYTHING if len(envs) == len(Environment) else Q(**{f"{env_field}__in": envs})
    if any(s.all_projects for s in holding_roles):
        return env_q
    scopes = project_scopes(st)
    ids: set[uuid.UUID] = set()
    for scoped in holding_roles:
        ids |= scopes.get(scoped.role.id, frozenset())
    if not ids:
        return NOTHING
    return Q(**{f"{project_field}__in": sorted(ids)}) & env_q


def grantee_filter(st: Standing) -> Q:
    """The grants that are the actor's: its own, or a group's it is in."""
    if st.service_account:
        who = Q(service_account=st.actor)
    elif st.human:
        who = Q(user=st.actor)
    else:
        return NOTHING
    if st.group_ids:
        who |= Q(group_id__in=st.group_ids)
    return who


def grant_recipe_filter(st: Standing, perm: Perm, recipe_field: str = "pk") -> Q:
    """Recipes granted to the actor (directly or through a group) with a capability that gives `perm`."""
    if not st.member or st.system:
        return NOTHING
    if st.service_account and perm not in SERVICE_ACCOUNT_PERMS:
        return NOTHING
    if perm not in ON_ONE_RECIPE:
        return NOTHING
    has_cap = NOTHING
    for name, perms in CAPABILITIES.items():
        if perm in perms:
            has_cap |= Q(**{name: True})
    # A non-correlated subquery: the database builds the set of granted ids once (through the grantee
    # indexes; the outer query keeps to the workspace), then probes it.
    granted_ids = RecipeGrant.objects.filter(grantee_filter(st), has_cap).values("recipe_id")
    q = Q(**{f"{recipe_field}__in": granted_ids})
    if st.human:
        envs = st.environments_allowing(perm)
        if not envs:
            return NOTHING
        if len(envs) != len(Environment):
            q &= Q(project__environment__in=envs)
    return q


def recipe_filter(st: Standing, need: Perm) -> Q:
    q = grant_recipe_filter(st, need)
    if need in RECIPE_SCOPED:
        q |= role_project_filter(st, need, "project_id", "project__environment")
    return q


def _project_filter(st: Standing, need: Perm) -> Q:
    """Projects the actor's roles let it `need`; for view, also those holding a recipe it may read by
    grant (their names, not their other content)."""
    if st.service_account:
        return NOTHING
    q = role_project_filter(st, need, "id", "environment")
    if need is Perm.PROJECT_VIEW:
        envs = st.environments_allowing(Perm.PROJECT_VIEW)
        granted_ids = RecipeGrant.objects.filter(grantee_filter(st), read=True).values("recipe__project_id")
        q |= Q(id__in=granted_ids, environment__in=envs)
    return q


def _in_project_filter(st: Standing, need: Perm) -> Q:
    return role_project_filter(st, need, "project_id", "project__environment")


class ProjectQuerySet(models.QuerySet["Project"]):
    def visible_to(
        self, actor: Actor | None, need: Perm = Perm.PROJECT_VIEW, workspace: Workspace | None = None
    ) -> ProjectQuerySet:
        return restrict(self, actor, workspace, lambda st: _project_filter(st, need))


class FolderQuerySet(models.QuerySet["Folder"]):
    def visible_to(
        self, actor: Actor | None, need: Perm = Perm.FOLDER_VIEW, workspace: Workspace | None = None
    ) -> FolderQuerySet:
        return restrict(self, actor, workspace, lambda st: _in_project_filter(st, need))


class LookupTableQuerySet(models.QuerySet["LookupTable"]):
    def visible_to(
        self, actor: Actor | None, need: Perm = Perm.LOOKUP_TABLE_VIEW, workspace: Workspace | None = None
    ) -> LookupTableQuerySet:
        return restrict(self, actor, workspace, lambda st: _in_project_filter(st, need))


class RecipeQuerySet(models.QuerySet["Recipe"]):
    def visible_to(
        self, actor: Actor | None, need: Perm = Perm.RECIPE_VIEW, workspace: Workspace | None = None
    ) -> RecipeQuerySet:
        return restrict(self, actor, workspace, lambda st: recipe_filter(st, need))


class Project(models.Model):
    """One environment's copy of a project: the container of that environment's recipes, folders and
    lookup tables. A project exists in DEV, TEST and PROD; its three copies share a `family`, a name
    and a description, and each holds its own content (recipes reach TEST and PROD by promotion)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="projects")
    environment = models.CharField(max_length=8, choices=ENVIRONMENT_CHOICES, default=Environment.DEV.value)
    # The one project this copy is of, shared by its copies in the three environments.
    family = models.UUIDField(default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The roles scoped to chosen projects that cover this one; from a role, `role.projects`.
    roles = models.ManyToManyField(Role, through="RoleProject", blank=True, related_name="projects")

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "environment", "name"], name="project_unique_name"),
            models.UniqueConstraint(
                fields=["family", "environment"], name="project_one_copy_per_environment"
            ),
        ]
        indexes = [models.Index(fields=["workspace", "environment"])]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("project", str(self.id), self.name)


class Folder(models.Model):
    """A folder inside a project; folders nest."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="folders")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = FolderQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "parent", "name"],
                condition=models.Q(parent__isnull=False),
                name="folder_unique_name",
            ),
            models.UniqueConstraint(
                fields=["project", "name"],
                condition=models.Q(parent__isnull=True),
                name="folder_unique_top_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("folder", str(self.id), self.name)


class Recipe(models.Model):
    """A trigger plus steps; what it does is in its versions, the newest being `current_version`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="recipes")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="recipes")
    folder = models.ForeignKey(
        Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="recipes"
    )
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True, default="")
    # The one recipe this is the copy of in its project's environment, shared by its promoted copies.
    family = models.UUIDField(default=uuid.uuid4, editable=False)
    # The trigger type of the current version, kept plain so schedules and lists need not open definitions.
    trigger_type = models.CharField(max_length=16, default="manual")
    current_version = models.ForeignKey(
        "RecipeVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Started: its trigger fires and runs `active_version`. Stopped: only test runs.
    active = models.BooleanField(default=False)
    active_version = models.ForeignKey(
        "RecipeVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RecipeQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="recipe_unique_name"),
            models.UniqueConstraint(fields=["project", "family"], name="recipe_one_copy_per_project"),
        ]
        indexes = [models.Index(fields=["workspace", "project"]), models.Index(fields=["workspace", "name"])]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("recipe", str(self.id), self.name)


class RecipeVersion(models.Model):
    """One saved state of a recipe. Never changed after it is written."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = SealedJSONField(workspace_field="workspace")
    message = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # A PROD version's signature (see `causeway.recipes.signatures`): who approved its promotion, when,
    # and the workspace's MAC over its content with those two. A worker runs no PROD version without.
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_label = models.CharField(max_length=320, blank=True, default="")
    signed_at = models.DateTimeField(null=True, blank=True)
    signature = models.BinaryField(null=True, blank=True)
    # The id of the signing key that made `signature`: kept beside it, so a rotated key's versions
    # still verify under their own key, and a signature claiming another key is refused.
    signature_key_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["recipe", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["recipe", "number"], name="recipe_version_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.recipe_id} v{self.number}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("recipe_version", str(self.id), f"v{self.number}")


class RecipeDraft(models.Model):
    """One user's unsaved edits of a recipe on the Build page, kept between edits until saved as a version
    or discarded. It holds the form's state as typed, checked only when it becomes a version; sealed like
    the versions (rule 10), and nobody but its author opens it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="drafts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    draft = SealedJSONField(workspace_field="workspace")
    # The version the draft was started from: a draft older than the recipe's current version says so.
    base_number = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["recipe", "user"], name="recipe_draft_one_per_user")]

    def __str__(self) -> str:
        return f"draft of {self.recipe_id}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("recipe_draft", str(self.id), str(self.recipe_id))


class LookupTable(models.Model):
    """A small keyed table that recipes read and write. Column names and types are its schema:
    `columns` is a list of {"name": ..., "type": "text" | "integer" | "number" | "boolean" | "date"};
    `key_column` names the column that keys each row."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="lookup_tables"
    )
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="lookup_tables")
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=100)
    # The one table this is the copy of in its project's environment, shared by its promoted copies.
    family = models.UUIDField(default=uuid.uuid4, editable=False)
    columns = models.JSONField(default=list)
    key_column = models.CharField(max_length=60)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LookupTableQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="lookup_table_unique_name"),
            models.UniqueConstraint(fields=["project", "family"], name="lookup_table_one_copy_per_project"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("lookup_table", str(self.id), self.name)


class LookupRow(models.Model):
    """One row: its values sealed; `key_index`, a blind index of its key, is how it is found."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    table = models.ForeignKey(LookupTable, on_delete=models.CASCADE, related_name="rows")
    key_index = models.CharField(max_length=80)  # a Tink HMAC tag in hex: 74 characters
    values = SealedJSONField(workspace_field="workspace")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["table", "key_index"], name="lookup_row_unique_key")]

    def __str__(self) -> str:
        return f"row of {self.table_id}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("lookup_row", str(self.id), str(self.table_id))


class Bookmark(models.Model):
    """A recipe a user pinned."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bookmarks")
    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="bookmarks")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "recipe"], name="bookmark_unique")]

    def __str__(self) -> str:
        return f"bookmark of {self.recipe_id}"


class RoleProject(models.Model):
    """One project in a role's scope, for a role over chosen projects rather than all of them."""

    id = models.BigAutoField(primary_key=True)
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")

    class Meta:
        # The table Django made for the role's project list when roles were kept with the policy.
        db_table = "access_role_projects"
        unique_together = [("role", "project")]

    def __str__(self) -> str:
        return f"{self.project_id} in the scope of {self.role_id}"


class RecipeGrant(models.Model):
    """Per-recipe capabilities (read, write, execute, debug) given to a user, a service account or a group."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="recipe_grants",
    )
    service_account = models.ForeignKey(
        ServiceAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="recipe_grants"
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="recipe_grants"
    )
    read = models.BooleanField(default=False)
    write = models.BooleanField(default=False)
    execute = models.BooleanField(default=False)
    debug = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table it was created with, when grants were kept with the policy.
        db_table = "access_recipegrant"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, service_account__isnull=True, group__isnull=True)
                    | models.Q(user__isnull=True, service_account__isnull=False, group__isnull=True)
                    | models.Q(user__isnull=True, service_account__isnull=True, group__isnull=False)
                ),
                name="recipe_grant_one_grantee",
            ),
            models.UniqueConstraint(
                fields=["recipe", "user"],
                condition=models.Q(user__isnull=False),
                name="recipe_grant_unique_user",
            ),
            models.UniqueConstraint(
                fields=["recipe", "service_account"],
                condition=models.Q(service_account__isnull=False),
                name="recipe_grant_unique_service_account",
            ),
            models.UniqueConstraint(
                fields=["recipe", "group"],
                condition=models.Q(group__isnull=False),
                name="recipe_grant_unique_group",
            ),
        ]

    def __str__(self) -> str:
        return f"grant on {self.recipe_id}"

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(c for c in CAPABILITY_NAMES if getattr(self, c))

    @property
    def perms(self) -> frozenset[Perm]:
        return granted(self.capabilities)

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("recipe_grant", str(self.id), str(self.recipe_id))


class ConnectionBinding(models.Model):
    """Which connection stands, in one environment's copy of a project, for a connection its recipes
    were built with: a promotion rewrites the recipes to use it (a PROD recipe uses PROD connections)."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="connection_bindings")
    source = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "source"], name="connection_binding_unique_source")
        ]

    def __str__(self) -> str:
        return f"{self.source_id} → {self.target_id} in {self.project_id}"


class Promotion(models.Model):
    """One promotion from a project's copy into the next environment's: who asked, and what moved
    (`details`: each recipe with the version it came from and the one it became, the lookup tables,
    the connections mapped)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="promotions_in")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who asked, as the approver is compared with it: a person's email, or the command line's label.
    requested_label = models.CharField(max_length=320, blank=True, default="")
    # done: it moved. pending: a PROD promotion waiting for a second person. rejected: it never will.
    status = models.CharField(max_length=16, default="done")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_label = models.CharField(max_length=320, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True, default="")
    details = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"promotion {self.id}"

    @property
    def audit_target(self) -> tuple[str, str, str]:
        return ("promotion", str(self.id), f"{self.source_id} → {self.target_id}")
