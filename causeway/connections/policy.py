"""Who may see, change, revoke and use which connection (rules 3, 6, 7, 9), asked by this app's services.

- A personal connection is its owner's: only they see its details, test it, change its scopes and
  actions, and only jobs run on their behalf use it. A workspace Admin sees that it exists (owner,
  connector, scopes, created, last used) and may revoke it; everyone else is answered as if it did not
  exist (rule 9). Staff is not membership and gains nothing here.
- A company connection is set up, changed, tested and revoked by Admins (`connector:manage`, rule 3);
  every human member sees it (never its credentials) so they can link it to themselves.
- Creating a personal connection needs `connection:create` (Admins, Analysts, a custom role with it).
- Enabling a connector for the workspace is `connector:manage` (rule 3).
- The operator's command line (the system actor) acts as an Admin, but uses no personal connection.
- Service accounts hold none of this (rule 8).
"""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from causeway.access import policy
from causeway.access.errors import Forbidden, NotFound
from causeway.access.perms import Perm
from causeway.access.policy import Actor, Holding, Standing, holding
from causeway.accounts.models import User
from causeway.connections.models import Connection, Kind
from causeway.workspaces.models import Workspace

# What this module answers: seeing a connection, changing it (and testing it), revoking it.
VIEW = Perm.CONNECTION_VIEW
EDIT = Perm.CONNECTION_EDIT
REVOKE = Perm.CONNECTION_DELETE


def _admin(actor: Actor | None, workspace: Workspace) -> bool:
    return policy.may(actor, Perm.CONNECTOR_MANAGE, workspace)


def _member(actor: Actor | None, workspace: Workspace) -> bool:
    return isinstance(actor, User) and policy.membership_of(actor, workspace) is not None


def sees(actor: Actor, workspace: Workspace) -> bool:
    """Whether the actor may see the workspace's connections pages at all."""
    return policy.is_system(actor) or _member(actor, workspace)


def may(actor: Actor | None, perm: Perm, connection: Connection, workspace: Workspace) -> bool:
    if connection.workspace_id != workspace.id:
        return False
    if connection.kind == Kind.PERSONAL:
        if isinstance(actor, User) and connection.owner_id == actor.pk and _member(actor, workspace):
            return perm in (VIEW, EDIT, REVOKE)
        # Rule 6: an Admin sees that it exists and may revoke it; nothing more.
        return perm in (VIEW, REVOKE) and _admin(actor, workspace)
    if _admin(actor, workspace):
        return perm in (VIEW, EDIT, REVOKE)
    return perm == VIEW and _member(actor, workspace)


def visible_to(actor: Actor, workspace: Workspace) -> QuerySet[Connection]:
    """The connections the actor may see, filtered in the query."""
    base = Connection.objects.filter(workspace=workspace).select_related("owner")
    if _admin(actor, workspace):
        return base
    if not _member(actor, workspace):
        return base.none()
    return base.filter(Q(kind=Kind.COMPANY) | Q(kind=Kind.PERSONAL, owner=actor))


def connection_get(actor: Actor, workspace: Workspace, ref: object, *, need: Perm) -> Connection:
    """The connection if the actor may `need` it; NotFound where they may not even see it (rule 9),
    Forbidden naming the permission where they may see it but not do this."""
    try:
        pk = uuid.UUID(str(ref))
    except ValueError:
        raise NotFound("connection") from None
    found = visible_to(actor, workspace).filter(pk=pk).first()
    if found is None:
        hidden = Connection.objects.filter(pk=pk).select_related("workspace").first()
        if hidden is not None and not policy.is_system(actor):
            policy.deny_hidden(actor, hidden.workspace, hidden, need)
        raise NotFound("connection")
    if not may(actor, need, found, workspace):
        raise Forbidden(need, workspace=workspace, actor=actor)
    return found


def require_admin(actor: Actor, workspace: Workspace) -> None:
    """Connector enablement and company connections are the Admin's (rule 3)."""
    policy.require_in(actor, workspace, Perm.CONNECTOR_MANAGE)


def require_member(actor: Actor, workspace: Workspace) -> None:
    if not sees(actor, workspace):
        raise NotFound("workspace")


def require_personal_create(actor: Actor, workspace: Workspace) -> User:
    """A personal connection is a person's: the command line and service accounts have none."""
    if not isinstance(actor, User):
        raise Forbidden(
            Perm.CONNECTION_CREATE,
            workspace=workspace,
            detail="a personal connection belongs to a person: sign in as its owner to create it",
        )
    policy.require_in(actor, workspace, Perm.CONNECTION_CREATE)
    return actor


@holding.register
def connection_holding(connection: Connection, st: Standing) -> Holding:
    """What `policy.may` and `policy.explain` answer for a connection: the rules above."""
    held = frozenset(p for p in (VIEW, EDIT, REVOKE) if may(st.actor, p, connection, st.workspace))
    return Holding(held)
