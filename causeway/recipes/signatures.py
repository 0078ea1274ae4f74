"""Signed PROD versions: a version promoted into PROD carries who approved it, when, and the
workspace's MAC (kept by the vault) over its canonical content; a worker checks it before it runs one.

The signed bytes name the workspace, the recipe, the version (its id and number), the PROD copy it
belongs to, the approver and the time, and the definition in one canonical JSON spelling, so a
definition changed in the database, a signature moved to another version, or an approver rewritten
all fail the check. Signing needs no permission of its own: only promotion calls it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from causeway.access import policy
from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.audit.services import audit_record
from causeway.recipes.models import Recipe, RecipeVersion
from causeway.vault import signing
from causeway.workspaces.models import Workspace

KIND = "causeway.recipe-version/1"
SIGNED_ENVIRONMENTS = frozenset({"prod"})


def _moment(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def version_content(version: RecipeVersion, recipe: Recipe | None = None) -> bytes:
    """The exact bytes a version's signature covers. `recipe`: the version's, already loaded."""
    recipe = recipe if recipe is not None and recipe.pk == version.recipe_id else version.recipe
    content: dict[str, Any] = {
        "kind": KIND,
        "workspace": str(version.workspace_id),
        "project": str(recipe.project_id),
        "environment": recipe.project.environment,
        "recipe": str(version.recipe_id),
        "family": str(recipe.family),
        "version": str(version.pk),
        "number": version.number,
        "approved_by": str(version.approved_by_id) if version.approved_by_id else None,
        "approved_label": version.approved_label,
        "signed_at": _moment(version.signed_at),
        "definition": version.definition,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def approver_label(actor: Actor) -> str:
    if isinstance(actor, User):
        return str(actor.email)
    return str(getattr(actor, "label", "") or type(actor).__name__)


def version_sign(version: RecipeVersion, *, approver: Actor) -> None:
    """Record the approver and sign the version (in the caller's transaction)."""
    version.approved_by = approver if isinstance(approver, User) else None
    version.approved_label = approver_label(approver)[:320]
    version.signed_at = timezone.now()
    made = signing.sign(version.workspace_id, version_content(version))
    version.signature, version.signature_key_id = made.tag, made.key_id
    version.save(
        update_fields=["approved_by", "approved_label", "signed_at", "signature", "signature_key_id"]
    )


def version_refusal(version: RecipeVersion, recipe: Recipe | None = None) -> str | None:
    """Why a worker must not run this version, or None: a PROD version that is unsigned, or whose
    stored content (definition, approver, place) no longer matches its signature."""
    recipe = recipe if recipe is not None and recipe.pk == version.recipe_id else version.recipe
    env = recipe.project.environment
    if env not in SIGNED_ENVIRONMENTS:
        return None
    env = env.upper()
    if not version.signature:
        return f"refused: {env} version v{version.number} is not signed; promote it to run it"
    content = version_content(version, recipe)
    if not signing.verify(
        version.workspace_id, bytes(version.signature), content, key_id=version.signature_key_id
    ):
        return (
            f"refused: {env} version v{version.number} does not match its signature; "
            "it was changed after it was promoted"
        )
    return None


@transaction.atomic
def signing_key_rotate(*, actor: Actor, workspace: Workspace) -> signing.SigningRotation:
    """A new signing key for the workspace's PROD versions (Admin only: key management; the page and
    the API ask for a fresh sign-in first). Promotions sign with it from now on; versions signed under
    an older key keep verifying under that key, which stays."""
    policy.require_in(actor, workspace, Perm.VAULT_KEY_MANAGE)
    done = signing.rotate(workspace.id)
    audit_record(
        actor=actor,
        action="vault.signing_key_rotated",
        target=workspace,
        workspace_id=workspace.id,
        details={"old_key_id": done.old_key_id, "new_key_id": done.new_key_id},
    )
    return done


def signing_key_status(*, actor: Actor, workspace: Workspace) -> dict[str, Any]:
    """The workspace's signing key now, and how many PROD versions each key signed (Admins)."""
    policy.require_in(actor, workspace, Perm.VAULT_KEY_MANAGE)
    counts = (
        RecipeVersion.objects.filter(workspace=workspace, signature__isnull=False)
        .values("signature_key_id")
        .annotate(n=Count("pk"))
        .order_by("signature_key_id")
    )
    return {
        "current_key_id": signing.current_key_id(workspace.id),
        "versions_by_key": {str(row["signature_key_id"]): row["n"] for row in counts},
    }


def refusal_record(version: RecipeVersion, *, job_id: str, reason: str) -> None:
    """The audit event of a refused run (in the caller's transaction)."""
    audit_record(
        actor=None,
        action="recipe_version.refused",
        target=version,
        workspace_id=version.workspace_id,
        outcome="denied",
        details={"recipe": str(version.recipe_id), "number": version.number, "job": job_id, "reason": reason},
    )
