"""Reads of watches and notification settings, through `access` alone."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from causeway.access.perms import Perm
from causeway.access.policy import Actor
from causeway.accounts.models import User
from causeway.connections.models import Connection, Kind
from causeway.recipes.models import Recipe
from causeway.watches.models import (
    CONNECTOR_ACTIONS,
    INTERVAL_DEFAULT_MINUTES,
    Notice,
    NotificationSettings,
    Watch,
)
from causeway.workspaces.models import Workspace


def interval_minutes(workspace: Workspace) -> int:
    """How long, at least, between two messages of one watch (the workspace's setting)."""
    found = (
        NotificationSettings.objects.filter(workspace=workspace)
        .values_list("interval_minutes", flat=True)
        .first()
    )
    return found or INTERVAL_DEFAULT_MINUTES


def watches_list(actor: Actor, workspace: Workspace) -> QuerySet[Watch]:
    """The actor's watches of recipes it may still read."""
    if not isinstance(actor, User):
        return Watch.objects.none()
    readable = Recipe.objects.visible_to(actor, Perm.RECIPE_VIEW, workspace).values("pk")
    return (
        Watch.objects.filter(workspace=workspace, user=actor, recipe_id__in=readable)
        .select_related("recipe", "connection")
        # Each row's last message, fetched for the whole page in one query.
        .prefetch_related(
            Prefetch("notices", queryset=Notice.objects.order_by("-created_at")[:1], to_attr="last_notices")
        )
        .order_by("recipe__name")
    )


def watch_of(actor: Actor, recipe: Recipe) -> Watch | None:
    if not isinstance(actor, User):
        return None
    return Watch.objects.filter(user=actor, recipe=recipe).select_related("connection").first()


def notice_connections(actor: Actor, workspace: Workspace) -> QuerySet[Connection]:
    """The Slack and HTTP/REST connections the actor may be told through: its own personal ones and the
    company ones it linked, never anyone else's personal connection (rule 6)."""
    if not isinstance(actor, User):
        return Connection.objects.none()
    mine = Q(kind=Kind.PERSONAL, owner=actor) | Q(kind=Kind.COMPANY, links__user=actor)
    return (
        Connection.objects.filter(workspace=workspace, connector_key__in=list(CONNECTOR_ACTIONS))
        .filter(mine)
        .distinct()
        .order_by("name")
    )
