"""Promotion (Migrate): chosen recipes of one environment's copy of a project, with the lookup tables
they use, copied into the next environment's copy (DEV → TEST, TEST → PROD), their connections mapped
to the target environment's.

Promotion is how recipes reach TEST and PROD (rule 5): it needs write on every recipe promoted where
it is built (its DEV copy) and `environment:promote` on the project in the target, and it is one
transaction recorded by one audit event listing everything that moved.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from causeway.access import policy
from causeway.access.errors import Forbidden, NotFound
from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.connections import policy as connections_policy
from causeway.connections.models import Connection
from causeway.db import conflict
from causeway.recipes import policy as access
from causeway.recipes import signatures
from causeway.recipes.definition import walk_steps
from causeway.recipes.diff import DefinitionDiff, definition_diff
from causeway.recipes.models import (
    ConnectionBinding,
    LookupRow,
    LookupTable,
    Project,
    Promotion,
    Recipe,
    RecipeVersion,
)
from causeway.recipes.services import lookup_key_index
from causeway.workspaces.models import Workspace

Named = TypeVar("Named", Recipe, LookupTable)

# Where each environment's recipes go next.
NEXT = {"dev": "test", "test": "prod"}


def target_of(source: Project) -> Project:
    """The project's copy in the environment after the source's; a PROD copy has none."""
    nxt = NEXT.get(source.environment)
    if nxt is None:
        raise ValidationError({"project": "PROD is the last environment: nothing is promoted from it"})
    return Project.objects.get(family=source.family, environment=nxt)


def connections_used(definition: Mapping[str, Any]) -> list[str]:
    """The ids of the connections a definition names (its trigger's and its steps'), in order."""
    found: list[str] = []
    trigger = definition.get("trigger") or {}
    if isinstance(trigger, dict) and trigger.get("connection"):
        found.append(str(trigger["connection"]))
    for step in walk_steps(list(definition.get("steps") or [])):
        if step.get("connection"):
            found.append(str(step["connection"]))
    return list(dict.fromkeys(found))


def tables_used(definition: Mapping[str, Any]) -> list[str]:
    """The names of the lookup tables a definition's steps read or write."""
    names = [str(s["table"]) for s in walk_steps(list(definition.get("steps") or [])) if s.get("table")]
    return list(dict.fromkeys(names))


def _remapped(value: Any, mapping: Mapping[str, str]) -> Any:
    """The definition with every connection id replaced by the target environment's."""
    if isinstance(value, dict):
        return {
            k: (mapping.get(str(v), v) if k == "connection" and isinstance(v, str) else _remapped(v, mapping))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_remapped(v, mapping) for v in value]
    return value


@dataclass
class Plan:
    """What a promotion would do: the recipes (with the version each moves), the tables, and each
    connection the recipes use with the target environment's connection mapped to it (None: unmapped)."""

    source: Project
    target: Project
    recipes: list[Recipe]
    tables: list[LookupTable]
    connections: dict[str, Connection | None] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # connection id → its name, for messages

    @property
    def unmapped(self) -> list[str]:
        return [self.names.get(pk, pk) for pk, found in self.connections.items() if found is None]


def _recipes(actor: Actor, source: Project, refs: Iterable[Any]) -> list[Recipe]:
    chosen: list[Recipe] = []
    for ref in dict.fromkeys(str(r) for r in refs):
        recipe = access.recipe_get(actor, source.workspace, ref, need=Perm.RECIPE_VIEW)
        # Write is asked where the recipe is built, its DEV copy: TEST's policy lets nobody write, yet
        # what was tried there moves on to PROD.
        built = (
            Recipe.objects.select_related("project", "workspace")
            .filter(family=recipe.family, project__family=source.family, project__environment="dev")
            .first()
        ) or recipe
        policy.require(actor, Perm.RECIPE_EDIT, built, what="recipe", view=Perm.RECIPE_VIEW)
        if recipe.project_id != source.id:
            raise ValidationError(
                {"recipes": f"recipe {recipe.name} is not in this project's {source.environment.upper()}"}
            )
        if recipe.current_version is None:
            raise ValidationError({"recipes": f"recipe {recipe.name} has no version to promote"})
        chosen.append(recipe)
    if not chosen:
        raise ValidationError({"recipes": "choose at least one recipe to promote"})
    return chosen


def promotion_plan(
    *, actor: Actor, source: Project, recipes: Iterable[Any], connections: Mapping[str, Any] | None = None
) -> Plan:
    """The plan for promoting `recipes` from `source`, asked as `actor` would promote them: write on
    each recipe in the source, `environment:promote` in the target. `connections` maps a source
    connection's id to a target one's; a connection mapped before for the target keeps its mapping."""
    target = target_of(source)
    policy.require(actor, Perm.ENVIRONMENT_PROMOTE, target, what="project", view=Perm.PROJECT_VIEW)
    chosen = _recipes(actor, source, recipes)
    workspace = source.workspace
    definitions = {r.pk: r.current_version.definition for r in chosen if r.current_version is not None}
    used = list(dict.fromkeys(pk for d in definitions.values() for pk in connections_used(d)))
    bound = {
        str(b.source_id): b.target
        for b in ConnectionBinding.objects.select_related("target").filter(project=target)
    }
    plan = Plan(source=source, target=target, recipes=chosen, tables=[])
    plan.names = dict(
        (str(pk), name)
        for pk, name in Connection.objects.filter(
            workspace=workspace, pk__in=[p for p in (policy.uuid_or_none(u) for u in used) if p is not None]
        ).values_list("pk", "name")
    )
    given = {str(k): v for k, v in (connections or {}).items() if v not in (None, "")}
    for pk in used:
        if pk in given:
            try:
                plan.connections[pk] = connections_policy.connection_get(
                    actor, workspace, given[pk], need=Perm.CONNECTION_VIEW
                )
            except NotFound:
                raise ValidationError(
                    {"connections": f"the connection mapped to {plan.names.get(pk, pk)} was not found"}
                ) from None
        else:
            plan.connections[pk] = bound.get(pk)
    names = list(dict.fromkeys(n for d in definitions.values() for n in tables_used(d)))
    plan.tables = list(LookupTable.objects.filter(project=source, name__in=names).order_by("name"))
    return plan


def _copy_table(table: LookupTable, target: Project, *, with_rows: bool) -> dict[str, Any]:
    copy = LookupTable.objects.filter(project=target, family=table.family).first()
    if copy is None:
        copy = LookupTable.objects.filter(project=target, name=table.name).first()
    created = copy is None
    if copy is None:
        copy = LookupTable(workspace_id=table.workspace_id, project=target, family=table.family)
    copy.name, copy.columns, copy.key_column, copy.family = (
        table.name,
        table.columns,
        table.key_column,
        table.family,
    )
    copy.save()
    rows = 0
    if with_rows:
        LookupRow.objects.filter(table=copy).delete()
        for row in LookupRow.objects.filter(table=table).order_by("created_at"):
            LookupRow.objects.create(
                workspace_id=copy.workspace_id,
                table=copy,
                key_index=lookup_key_index(copy, row.values[copy.key_column]),
                values=row.values,
            )
            rows += 1
    return {"name": table.name, "created": created, "rows": rows if with_rows else None}


def _copy_recipe(
    recipe: Recipe, version: RecipeVersion, target: Project, mapping: Mapping[str, str], actor: Actor
) -> dict[str, Any]:
    rollback = recipe.project_id == target.id
    if rollback:
        # Only a version PROD once ran under a valid signature is run again.
        refusal = signatures.version_refusal(version, recipe)
        if refusal is not None:
            raise ValidationError({"version": refusal.replace("refused:", "cannot roll back:", 1)})
    definition = _remapped(version.definition, mapping)
    copy = Recipe.objects.select_for_update().filter(project=target, family=recipe.family).first()
    created = copy is None
    if copy is None:
        if Recipe.objects.filter(project=target, name=recipe.name).exists():
            raise ValidationError(
                {"recipes": f"{target.environment.upper()} holds another recipe named {recipe.name}"}
            )
        copy = Recipe.objects.create(
            workspace_id=recipe.workspace_id,
            project=target,
            family=recipe.family,
            name=recipe.name,
            description=recipe.description,
            trigger_type=recipe.trigger_type,
            created_by=actor if isinstance(actor, User) else None,
        )
    number = (RecipeVersion.objects.filter(recipe=copy).aggregate(n=Max("number"))["n"] or 0) + 1
    promoted = RecipeVersion.objects.create(
        workspace_id=copy.workspace_id,
        recipe=copy,
        number=number,
        definition=definition,
        message=(
            f"rolled back to v{version.number}"
            if rollback
            else f"promoted from {recipe.project.environment.upper()} v{version.number}"
        ),
        created_by=actor if isinstance(actor, User) else None,
    )
    copy.current_version = promoted
    trigger = definition.get("trigger") if isinstance(definition, dict) else None
    copy.trigger_type = str((trigger or {}).get("type") or recipe.trigger_type)
    copy.description = recipe.description
    fields = ["current_version", "trigger_type", "description", "updated_at"]
    if copy.active:
        # A started recipe runs what was promoted from its next trigger on.
        copy.active_version = promoted
        fields.append("active_version")
    copy.save(update_fields=fields)
    moved: dict[str, Any] = {
        "name": recipe.name,
        "recipe": str(copy.pk),
        "from_version": version.number,
        "version": number,
        "created": created,
    }
    if target.environment in signatures.SIGNED_ENVIRONMENTS:
        signatures.version_sign(promoted, approver=actor)
        moved["approved_by"] = promoted.approved_label
    return moved


PENDING, DONE, REJECTED = "pending", "done", "rejected"


def needs_second_approval(target: Project) -> bool:
    """Whether a promotion into `target` waits for a second person: into PROD, where the workspace
    asks for it."""
    return (
        target.environment in signatures.SIGNED_ENVIRONMENTS
        and Workspace.objects.filter(pk=target.workspace_id, prod_second_approval=True).exists()
    )


@transaction.atomic
def promote(
    *,
    actor: Actor,
    source: Project,
    recipes: Iterable[Any],
    connections: Mapping[str, Any] | None = None,
    with_rows: bool = False,
    note: str = "",
) -> Promotion:
    """Promote the chosen recipes of `source` into the next environment: each one's current version
    becomes a new version of its copy there (made if it is new), its connections replaced by the
    target's (a connection with none mapped refuses the whole promotion, naming it), the lookup tables
    it uses copied by schema (and rows, with `with_rows`). One audit event lists what moved.

    Into PROD, where the workspace asks for a second person, nothing moves yet: the promotion waits,
    `pending`, with the versions chosen now, until someone else approves it (`promotion_approve`)."""
    plan = promotion_plan(actor=actor, source=source, recipes=recipes, connections=connections)
    if plan.unmapped:
        names = ", ".join(plan.unmapped)
        raise ValidationError(
            {"connections": f"map a {plan.target.environment.upper()} connection to {names} first"}
        )
    mapping = {pk: str(found.pk) for pk, found in plan.connections.items() if found is not None}
    versions = [(r, r.current_version) for r in plan.recipes if r.current_version is not None]
    promotion = Promotion(
        workspace=source.workspace,
        source=source,
        target=plan.target,
        requested_by=actor if isinstance(actor, User) else None,
        requested_label=signatures.approver_label(actor)[:320],
        note=(note or "")[:500],
    )
    if not needs_second_approval(plan.target):
        return _carry_out(
            promotion,
            approver=actor,
            versions=versions,
            tables=plan.tables,
            mapping=mapping,
            with_rows=with_rows,
        )
    return _wait(
        promotion, actor=actor, versions=versions, tables=plan.tables, mapping=mapping, rows=with_rows
    )


def _wait(
    promotion: Promotion,
    *,
    actor: Actor,
    versions: list[tuple[Recipe, RecipeVersion]],
    tables: list[LookupTable],
    mapping: Mapping[str, str],
    rows: bool,
) -> Promotion:
    """Record the promotion as waiting for a second person, with the versions chosen now."""
    source = promotion.source
    promotion.status = PENDING
    promotion.details = {
        "from": source.environment,
        "to": promotion.target.environment,
        "recipes": [
            {
                "name": r.name,
                "source_recipe": str(r.pk),
                "source_version": str(v.pk),
                "from_version": v.number,
            }
            for r, v in versions
        ],
        "lookup_tables": [{"name": t.name} for t in tables],
        "mapping": dict(mapping),
        "connections": _connection_names(source.workspace_id, mapping),
        "rows": rows,
        **({"rollback": True} if promotion.source_id == promotion.target_id else {}),
    }
    promotion.save()
    audit_record(
        actor=_audit_actor(actor),
        action="promotion.requested",
        target=promotion,
        workspace_id=source.workspace_id,
        details={**promotion.details, "requested_by": promotion.requested_label},
    )
    return promotion


def _audit_actor(actor: Actor) -> Any:
    return actor if isinstance(actor, User) or policy.is_system(actor) else None


def _connection_names(workspace_id: Any, mapping: Mapping[str, str]) -> dict[str, str]:
    """Each mapped source connection's name → its target's name, for the record."""
    ids = [p for p in (policy.uuid_or_none(x) for pair in mapping.items() for x in pair) if p is not None]
    names = {
        str(pk): name
        for pk, name in Connection.objects.filter(workspace_id=workspace_id, pk__in=ids).values_list(
            "pk", "name"
        )
    }
    return {names.get(s, s): names.get(t, t) for s, t in mapping.items()}


def _carry_out(
    promotion: Promotion,
    *,
    approver: Actor,
    versions: list[tuple[Recipe, RecipeVersion]],
    tables: list[LookupTable],
    mapping: Mapping[str, str],
    with_rows: bool | None = None,
) -> Promotion:
    """Move what the promotion names into its target, sign what lands in PROD, and record it."""
    source, target = promotion.source, promotion.target
    rows = bool(with_rows if with_rows is not None else promotion.details.get("rows"))
    for pk, found in mapping.items():
        ConnectionBinding.objects.update_or_create(
            project=target,
            source_id=uuid.UUID(pk),
            defaults={"target_id": uuid.UUID(found), "workspace_id": source.workspace_id},
        )
    copied = [_copy_table(t, target, with_rows=rows) for t in tables]
    moved = [_copy_recipe(r, v, target, mapping, approver) for r, v in versions]
    details = {
        "from": source.environment,
        "to": target.environment,
        "recipes": moved,
        "lookup_tables": copied,
        "connections": _connection_names(source.workspace_id, mapping),
        "rows": rows,
        **({"rollback": True} if source.pk == target.pk else {}),
    }
    promotion.details = details
    if promotion.status == PENDING:
        promotion.approved_by = approver if isinstance(approver, User) else None
        promotion.approved_label = signatures.approver_label(approver)[:320]
        promotion.decided_at = timezone.now()
    promotion.status = DONE
    promotion.save()
    audit_record(
        actor=_audit_actor(approver),
        action="project.promoted",
        target=target,
        workspace_id=source.workspace_id,
        details={
            **details,
            "promotion": str(promotion.pk),
            "requested_by": promotion.requested_label,
            **({"approved_by": promotion.approved_label} if promotion.approved_label else {}),
        },
    )
    return promotion


def same_person(actor: Actor, promotion: Promotion) -> bool:
    """Whether `actor` is who asked for the promotion: the same user, or (for the command line, which
    acts as no user) the same label."""
    if isinstance(actor, User):
        return promotion.requested_by_id == actor.pk
    return promotion.requested_by_id is None and promotion.requested_label == signatures.approver_label(actor)


def _pending(actor: Actor, promotion: Promotion) -> Promotion:
    locked = (
        Promotion.objects.select_for_update()
        .select_related("source", "target", "workspace")
        .get(pk=promotion.pk)
    )
    policy.require(actor, Perm.ENVIRONMENT_PROMOTE, locked.target, what="project", view=Perm.PROJECT_VIEW)
    if locked.status != PENDING:
        raise ValidationError({"promotion": f"this promotion is {locked.status}, not waiting for approval"})
    return locked


@transaction.atomic
def promotion_approve(*, actor: Actor, promotion: Promotion) -> Promotion:
    """Approve a pending PROD promotion: what was chosen when it was asked for moves now, signed with
    the approver. Needs `environment:promote` in PROD, and another person than the requester."""
    locked = _pending(actor, promotion)
    if same_person(actor, locked):
        raise Forbidden(
            Perm.ENVIRONMENT_PROMOTE,
            workspace=locked.workspace,
            detail="a second person must approve this promotion: its requester cannot",
        )
    versions: list[tuple[Recipe, RecipeVersion]] = []
    for item in locked.details.get("recipes", []):
        recipe = (
            Recipe.objects.select_related("project")
            .filter(pk=item["source_recipe"], project=locked.source)
            .first()
        )
        version = (
            RecipeVersion.objects.filter(pk=item["source_version"], recipe=recipe).first() if recipe else None
        )
        if recipe is None or version is None:
            raise ValidationError(
                {"promotion": f"recipe {item['name']} v{item['from_version']} is gone; ask again"}
            )
        versions.append((recipe, version))
    mapping: dict[str, str] = dict(locked.details.get("mapping", {}))
    found = set(
        str(pk)
        for pk in Connection.objects.filter(
            workspace_id=locked.workspace_id, pk__in=[uuid.UUID(t) for t in mapping.values()]
        ).values_list("pk", flat=True)
    )
    if missing := [s for s, t in mapping.items() if t not in found]:
        raise ValidationError(
            {"promotion": f"{len(missing)} mapped connection(s) are gone; ask for a new promotion"}
        )
    names = [t["name"] for t in locked.details.get("lookup_tables", [])]
    tables = list(LookupTable.objects.filter(project=locked.source, name__in=names).order_by("name"))
    return _carry_out(locked, approver=actor, versions=versions, tables=tables, mapping=mapping)


@transaction.atomic
def promotion_reject(*, actor: Actor, promotion: Promotion) -> Promotion:
    """Turn down a pending PROD promotion (its requester may withdraw it too); nothing moves."""
    locked = _pending(actor, promotion)
    locked.status = REJECTED
    locked.approved_by = actor if isinstance(actor, User) else None
    locked.approved_label = signatures.approver_label(actor)[:320]
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "approved_by", "approved_label", "decided_at"])
    audit_record(
        actor=_audit_actor(actor),
        action="promotion.rejected",
        target=locked,
        workspace_id=locked.workspace_id,
        details={
            "recipes": [i["name"] for i in locked.details.get("recipes", [])],
            "requested_by": locked.requested_label,
        },
    )
    return locked


def _earlier(recipe: Recipe, number: Any) -> RecipeVersion:
    """The version of a PROD recipe to roll back to: an earlier one, still matching its signature."""
    try:
        wanted = int(number)
    except (TypeError, ValueError):
        raise ValidationError({"version": "give the number of the version to roll back to"}) from None
    found = RecipeVersion.objects.filter(recipe=recipe, number=wanted).first()
    if found is None:
        raise conflict("version", f"{recipe.name} has no version {wanted}")
    if found.pk == recipe.current_version_id:
        # Well formed, refused by what is stored: the recipe runs that version now (409 on the API).
        raise conflict("version", f"v{wanted} is already the current version of {recipe.name}")
    refusal = signatures.version_refusal(found, recipe)
    if refusal is not None:
        raise conflict("version", refusal.replace("refused:", "cannot roll back:", 1))
    return found


def _rollback_recipe(actor: Actor, recipe: Recipe) -> Recipe:
    policy.require(actor, Perm.ENVIRONMENT_PROMOTE, recipe.project, what="project", view=Perm.PROJECT_VIEW)
    if recipe.project.environment not in signatures.SIGNED_ENVIRONMENTS:
        # Not malformed: the recipe's place refuses it, as a stored state does (409 on the API).
        raise conflict("recipe", "rollback is for PROD recipes; elsewhere, save an earlier version again")
    return recipe


@dataclass
class RollbackPreview:
    recipe: Recipe
    current: int | None
    choices: list[int]
    to: int | None = None
    diff: DefinitionDiff | None = None


def rollback_preview(*, actor: Actor, recipe: Recipe, number: Any = None) -> RollbackPreview:
    """The versions a PROD recipe may be rolled back to (earlier ones whose signature holds), and, for
    one of them, the diff from the current version to it: what the rollback would change. A recipe
    outside PROD has none to offer."""
    policy.require(actor, Perm.ENVIRONMENT_PROMOTE, recipe.project, what="project", view=Perm.PROJECT_VIEW)
    current = recipe.current_version
    in_prod = recipe.project.environment in signatures.SIGNED_ENVIRONMENTS
    choices = [
        v.number
        for v in RecipeVersion.objects.filter(recipe=recipe).order_by("-number")
        if in_prod and v.pk != recipe.current_version_id and signatures.version_refusal(v, recipe) is None
    ]
    preview = RollbackPreview(recipe, current.number if current else None, choices)
    if number not in (None, ""):
        _rollback_recipe(actor, recipe)
        earlier = _earlier(recipe, number)
        preview.to = earlier.number
        preview.diff = definition_diff(current.definition if current else {}, earlier.definition)
    return preview


@transaction.atomic
def rollback(*, actor: Actor, recipe: Recipe, number: Any, note: str = "") -> Promotion:
    """Re-promote an earlier version of a PROD recipe in one action: it becomes a new version, signed
    with the approver, recorded as a promotion of the PROD copy into itself (waiting for a second
    person where the workspace asks for one). Needs `environment:promote` in PROD; the earlier version
    must still match its signature."""
    locked = Recipe.objects.select_for_update().select_related("project", "workspace").get(pk=recipe.pk)
    _rollback_recipe(actor, locked)
    earlier = _earlier(locked, number)
    project = locked.project
    promotion = Promotion(
        workspace=locked.workspace,
        source=project,
        target=project,
        requested_by=actor if isinstance(actor, User) else None,
        requested_label=signatures.approver_label(actor)[:320],
        note=(note or "")[:500],
    )
    if not needs_second_approval(project):
        return _carry_out(promotion, approver=actor, versions=[(locked, earlier)], tables=[], mapping={})
    return _wait(promotion, actor=actor, versions=[(locked, earlier)], tables=[], mapping={}, rows=False)


def may_rollback(actor: Actor, recipe: Recipe) -> bool:
    return recipe.project.environment in signatures.SIGNED_ENVIRONMENTS and policy.may(
        actor, Perm.ENVIRONMENT_PROMOTE, recipe.project
    )


def promotion_get(actor: Actor, workspace: Workspace, ref: Any) -> Promotion:
    """A promotion of the workspace whose target copy the actor may see; NotFound otherwise."""
    pk = policy.uuid_or_none(ref)
    found = (
        Promotion.objects.select_related("source", "target", "workspace")
        .filter(workspace=workspace, pk=pk)
        .first()
        if pk is not None
        else None
    )
    if found is None:
        raise NotFound("promotion")
    access.project_get(actor, workspace, found.target_id)
    return found


@transaction.atomic
def prod_approval_set(*, actor: Actor, workspace: Workspace, required: bool) -> Workspace:
    """Whether promotions into PROD wait for a second person (Admin only: a workspace setting)."""
    policy.require_in(actor, workspace, Perm.WORKSPACE_SETTINGS)
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if locked.prod_second_approval != required:
        locked.prod_second_approval = required
        locked.save(update_fields=["prod_second_approval"])
        audit_record(
            actor=actor,
            action="workspace.prod_approval_changed",
            target=locked,
            workspace_id=locked.id,
            details={"from": not required, "to": required},
        )
    workspace.prod_second_approval = locked.prod_second_approval
    return workspace


def promotions_of(*, actor: Actor, project: Project) -> list[Promotion]:
    """The promotions between the project's copies, newest first, for whoever may see the project."""
    access.project_get(actor, project.workspace, project.id)
    return list(
        Promotion.objects.filter(target__family=project.family)
        .select_related("source", "target")
        .order_by("-created_at")
    )


def pending_into(target: Project) -> list[Promotion]:
    """The promotions waiting for a second person's approval into this copy, oldest first."""
    return list(
        Promotion.objects.filter(target=target, status=PENDING)
        .select_related("source", "target", "requested_by")
        .order_by("created_at")
    )


def require_may_promote(actor: Actor, source: Project) -> Project:
    """The copy `source` promotes into, if the actor may promote there (`environment:promote` on the
    project); NotFound for a PROD copy, which promotes nowhere."""
    if source.environment not in NEXT:
        raise NotFound("page")
    target = target_of(source)
    policy.require(actor, Perm.ENVIRONMENT_PROMOTE, target, what="project", view=Perm.PROJECT_VIEW)
    return target


def may_promote(actor: Actor, source: Project) -> bool:
    """Whether the Migrate page's link is for this actor: promote in the target, and write where the
    project's recipes are built (DEV)."""
    if source.environment not in NEXT:
        return False
    built = Project.objects.filter(family=source.family, environment="dev").first() or source
    return policy.may(actor, Perm.ENVIRONMENT_PROMOTE, target_of(source)) and policy.may(
        actor, Perm.RECIPE_EDIT, built
    )


def bindings_of(target: Project) -> dict[str, uuid.UUID]:
    """Each source connection's id mapped to the target environment's connection, for this copy."""
    return {
        str(s): t
        for s, t in ConnectionBinding.objects.filter(project=target).values_list("source_id", "target_id")
    }


# View Changes: what a promotion from this copy would bring, side by side with the target.


@dataclass
class RecipeChange:
    name: str
    kind: str  # added (only in the source), removed (only in the target), changed, unchanged
    source_version: int | None = None
    target_version: int | None = None
    diff: DefinitionDiff | None = None


@dataclass
class TableChange:
    name: str
    kind: str
    source_columns: list[Any] | None = None
    target_columns: list[Any] | None = None


@dataclass
class ScheduleChange:
    """A recipe's schedule in each environment: the cron and time zone of its current version there,
    and whether it is started there (a stopped recipe's schedule fires nothing)."""

    name: str
    kind: str  # added, removed, changed, unchanged
    source: str | None = None
    target: str | None = None
    source_started: bool = False
    target_started: bool = False


@dataclass
class Changes:
    source: Project
    target: Project
    recipes: list[RecipeChange]
    tables: list[TableChange]
    # (source connection's name, target connection's name): every connection the source's recipes use
    # and every one mapped before; None where none is mapped (a promotion using it is refused).
    bindings: list[tuple[str, str | None]]
    schedules: list[ScheduleChange] = field(default_factory=list)


def _schedule_of(recipe: Recipe | None) -> str | None:
    """`cron (time zone)` of the recipe's current version's schedule trigger; None without one."""
    if recipe is None or recipe.current_version is None:
        return None
    trigger = recipe.current_version.definition.get("trigger") or {}
    if not isinstance(trigger, dict) or trigger.get("type") != "schedule":
        return None
    return f"{trigger.get('cron', '')} ({trigger.get('timezone') or 'UTC'})"


def _paired(
    mine: Mapping[uuid.UUID, Named], theirs: Mapping[uuid.UUID, Named]
) -> list[tuple[Named | None, Named | None]]:
    """Each family in either copy, by its name: (the source's, the target's), None where a copy has none."""
    families = sorted(mine.keys() | theirs.keys(), key=lambda f: (mine.get(f) or theirs[f]).name)
    return [(mine.get(family), theirs.get(family)) for family in families]


def _schedules(pairs: list[tuple[Recipe | None, Recipe | None]]) -> list[ScheduleChange]:
    found: list[ScheduleChange] = []
    for here, there in pairs:
        a, b = _schedule_of(here), _schedule_of(there)
        if a is None and b is None:
            continue
        kind = "added" if b is None else "removed" if a is None else "unchanged" if a == b else "changed"
        name = (here or there).name  # type: ignore[union-attr]
        found.append(
            ScheduleChange(
                name,
                kind,
                a,
                b,
                bool(here is not None and here.active),
                bool(there is not None and there.active),
            )
        )
    return found


def _number(recipe: Recipe) -> int | None:
    return recipe.current_version.number if recipe.current_version is not None else None


def environment_changes(*, actor: Actor, source: Project) -> Changes:
    """The source copy beside the next environment's: recipes added, removed and changed step by step
    (the version diff, with the source's connections read as the target's mapped ones, so a mapping is
    no change), schedules and triggers within it, lookup-table schemas, and the connection mappings.
    For those who may promote from the source."""
    target = require_may_promote(actor, source)
    built = Project.objects.filter(family=source.family, environment="dev").first() or source
    policy.require(actor, Perm.RECIPE_EDIT, built, what="project", view=Perm.PROJECT_VIEW)
    bound = {str(s): str(t) for s, t in bindings_of(target).items()}
    mine = {r.family: r for r in Recipe.objects.filter(project=source).select_related("current_version")}
    theirs = {r.family: r for r in Recipe.objects.filter(project=target).select_related("current_version")}
    pairs = _paired(mine, theirs)
    recipes: list[RecipeChange] = []
    for here, there in pairs:
        if there is None:
            assert here is not None  # nosec B101
            recipes.append(RecipeChange(here.name, "added", source_version=_number(here)))
            continue
        if here is None:
            recipes.append(RecipeChange(there.name, "removed", target_version=_number(there)))
            continue
        new = _remapped(here.current_version.definition, bound) if here.current_version else {}
        old = there.current_version.definition if there.current_version else {}
        diff = definition_diff(old, new)
        kind = "unchanged" if diff.empty else "changed"
        recipes.append(
            RecipeChange(here.name, kind, _number(here), _number(there), None if diff.empty else diff)
        )
    tables: list[TableChange] = []
    source_tables = {t.family: t for t in LookupTable.objects.filter(project=source)}
    target_tables = {t.family: t for t in LookupTable.objects.filter(project=target)}
    for a, b in _paired(source_tables, target_tables):
        if b is None and a is not None:
            tables.append(TableChange(a.name, "added", source_columns=a.columns))
        elif a is None and b is not None:
            tables.append(TableChange(b.name, "removed", target_columns=b.columns))
        elif a is not None and b is not None:
            same = (a.columns, a.key_column) == (b.columns, b.key_column)
            tables.append(TableChange(a.name, "unchanged" if same else "changed", a.columns, b.columns))
    names = {
        str(pk): name
        for pk, name in Connection.objects.filter(workspace=source.workspace).values_list("pk", "name")
    }
    used = [
        pk
        for r in mine.values()
        if r.current_version is not None
        for pk in connections_used(r.current_version.definition)
    ]
    shown = list(dict.fromkeys([*used, *bound]))
    bindings = sorted(
        ((names.get(s, s), names.get(bound[s], bound[s]) if s in bound else None) for s in shown),
        key=lambda pair: (pair[0], pair[1] or ""),
    )
    return Changes(source, target, recipes, tables, bindings, _schedules(pairs))
